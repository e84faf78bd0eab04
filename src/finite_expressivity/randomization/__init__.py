"""Section 2's randomization tests: the paper's models, the training loop of Appendix A,
and Figure 1a, Figure 1b-c, Table 1 and Figure 2b as artifacts of the one runner."""
