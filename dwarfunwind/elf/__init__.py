"""ELF files: sections, segments, notes, symbols, and the CFI they carry."""
