"""Theorem 1: the two-layer ReLU network with 2n + d weights that fits any n points,
certified in exact arithmetic; the depth-k variant; the property-based checker."""
