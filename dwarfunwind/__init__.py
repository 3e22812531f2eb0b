"""dwarfunwind: unwind native x86-64 stacks with DWARF Call Frame Information.

The public API, re-exported from the modules that implement it.
"""

from .batch import BatchResult, unwind_many
from .cfi.expr import MachineState, RegisterUnavailable, disassemble, evaluate
from .cfi.rules import CFARule, Row, Rule, RuleKind
from .cfi.sections import CIE, FDE, CFISection
from .elf.module import ElfFile
from .errors import CFIError, DwarfUnwindError, ELFError, ExpressionError, MemoryReadError, TargetError
from .modules import Module, ModuleMap
from .program import Program
from .targets.base import Mapping, Target, ThreadInfo
from .unwind.engine import Unwinder
from .unwind.frame import Frame, StackTrace, StopReason

__version__ = "0.1.0"


def open_elf(path: str) -> ElfFile:
    """Open an ELF file for CFI lookups: ``open_elf(p).row_for(address)``."""
    return ElfFile.open(path)


__all__ = [
    "BatchResult", "CFARule", "CFIError", "CFISection", "CIE", "DwarfUnwindError", "ELFError", "ElfFile",
    "ExpressionError", "FDE", "Frame", "MachineState", "Mapping", "MemoryReadError", "Module", "ModuleMap", "Program",
    "RegisterUnavailable", "Row", "Rule", "RuleKind", "StackTrace", "StopReason", "Target", "TargetError",
    "ThreadInfo", "Unwinder", "disassemble", "evaluate", "open_elf", "unwind_many",
]
