"""Architecture descriptions (only x86-64 for now)."""
