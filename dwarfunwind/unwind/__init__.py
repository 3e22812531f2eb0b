"""The walk: one step with CFI or frame pointers, repeated until the outermost frame."""
