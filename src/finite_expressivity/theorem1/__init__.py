"""theorem1."""
