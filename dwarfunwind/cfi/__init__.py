"""Pure decoding and evaluation of DWARF Call Frame Information.

Nothing here opens files or touches processes: sections arrive as bytes,
registers and memory through :class:`dwarfunwind.cfi.expr.MachineState`.
"""
