"""The package's own exception types.

Every error that bad input can cause is one of these, and its message names
what was being read and where, so the CLI can print it on one line.
"""

from __future__ import annotations


class DwarfUnwindError(Exception):
    """Base class of every error raised by dwarfunwind."""


class ELFError(DwarfUnwindError):
    """A file is not a readable ELF file (truncated, corrupt, wrong class)."""


class CFIError(DwarfUnwindError):
    """Call Frame Information could not be decoded.

    ``section`` and ``offset`` locate the entry (CIE or FDE) or byte at fault.
    """

    def __init__(self, message: str, section: str = "", offset: int | None = None) -> None:
        self.section = section
        self.offset = offset
        where = section
        if offset is not None:
            where = f"{section} at offset {offset:#x}" if section else f"offset {offset:#x}"
        super().__init__(f"{where}: {message}" if where else message)


class ExpressionError(DwarfUnwindError):
    """A DWARF expression could not be evaluated (bad opcode, stack underflow, step limit)."""


class RegisterUnavailable(DwarfUnwindError, LookupError):
    """The value of a register is not known in this frame (an expression or a CFA rule needed it)."""

    def __init__(self, regno: int) -> None:
        from .arch.x86_64 import llvm_register_name

        self.regno = regno
        super().__init__(f"register {llvm_register_name(regno).lower()} is not available")


class MemoryReadError(DwarfUnwindError):
    """Memory at an address is not available in the target."""

    def __init__(self, address: int, size: int) -> None:
        self.address = address
        self.size = size
        super().__init__(f"memory at {address:#x} ({size} bytes) is not available")


class StackCopyEnd(MemoryReadError):
    """Memory beyond the end of a stack copy (a perf sample's): the walk ends there, honestly."""

    def __init__(self, address: int, size: int, end: int) -> None:
        super().__init__(address, size)
        self.end = end
        self.args = (f"memory at {address:#x} ({size} bytes) is past the stack copy's end at {end:#x}",)

    def __str__(self) -> str:
        return str(self.args[0])


class TargetError(DwarfUnwindError):
    """A target (core file, live process, snapshot) could not be read."""


class BudgetExceeded(DwarfUnwindError):
    """A work budget for one input ran out (docs/security.md).

    ``budget`` names it (``expression_steps``, ``cfi_work``); ``limit`` is its
    size and ``variable`` the environment variable that raises it.
    """

    def __init__(self, budget: str, limit: int, variable: str, where: str = "") -> None:
        self.budget = budget
        self.limit = limit
        self.variable = variable
        self.where = where
        at = f" at {where}" if where else ""
        super().__init__(f"budget {budget} ({limit:,}) ran out{at}; raise it with {variable}")
