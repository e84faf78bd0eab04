"""What every part of the package uses, and nothing of any part: result files and
provenance, progress, the device rule, input checks, argument types, determinism, and
the one runner of the paper's artifacts with its executors."""
