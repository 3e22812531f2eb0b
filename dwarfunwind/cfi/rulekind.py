"""The register rule kinds as an IntEnum (DWARF 5, 6.4.1), for readers and tools.

Apart from cfi/rules.py, which uses the same values as plain ints on the hot
paths and imports this module only when ``RuleKind`` is asked for: ``enum``
costs about 2 ms of every command-line start-up.
"""

from enum import IntEnum


class RuleKind(IntEnum):
    """How a register of the caller is recovered (DWARF 5, 6.4.1 "register rules")."""

    UNDEFINED = 0
    SAME_VALUE = 1
    OFFSET = 2  #: saved at CFA + N
    VAL_OFFSET = 3  #: the value is CFA + N
    REGISTER = 4  #: the value is in register R
    EXPRESSION = 5  #: saved at the address the expression computes (CFA pushed first)
    VAL_EXPRESSION = 6  #: the value is what the expression computes (CFA pushed first)
