"""dwarfunwind: unwind native x86-64 stacks with DWARF Call Frame Information.

The public API, re-exported from the modules that implement it. Each name is
imported on first use (PEP 562), so ``import dwarfunwind`` and the command
line load only what they touch; ``dwarfunwind.cfi`` (and the other
subpackages) are reachable as attributes too.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .batch import BatchResult, unwind_many
    from .cfi.expr import MachineState, disassemble, evaluate
    from .cfi.rules import CFARule, Row, Rule, RuleKind
    from .cfi.sections import CIE, FDE, CFISection
    from .elf.module import ElfFile
    from .errors import (
        CFIError,
        DwarfUnwindError,
        ELFError,
        ExpressionError,
        MemoryReadError,
        RegisterUnavailable,
        TargetError,
    )
    from .modules import Module, ModuleMap
    from .program import Program
    from .targets.base import Mapping, Target, ThreadInfo
    from .unwind.engine import Unwinder
    from .unwind.frame import Frame, StackTrace, StopReason

__version__ = "0.1.0"

#: public name -> the module (relative to this package) that defines it
_EXPORTS = {
    "BatchResult": "batch", "unwind_many": "batch",
    "MachineState": "cfi.expr", "RegisterUnavailable": "errors", "disassemble": "cfi.expr",
    "evaluate": "cfi.expr",
    "CFARule": "cfi.rules", "Row": "cfi.rules", "Rule": "cfi.rules", "RuleKind": "cfi.rules",
    "CIE": "cfi.sections", "FDE": "cfi.sections", "CFISection": "cfi.sections",
    "ElfFile": "elf.module",
    "CFIError": "errors", "DwarfUnwindError": "errors", "ELFError": "errors", "ExpressionError": "errors",
    "MemoryReadError": "errors", "TargetError": "errors",
    "Module": "modules", "ModuleMap": "modules",
    "Program": "program",
    "Mapping": "targets.base", "Target": "targets.base", "ThreadInfo": "targets.base",
    "Unwinder": "unwind.engine",
    "Frame": "unwind.frame", "StackTrace": "unwind.frame", "StopReason": "unwind.frame",
}
#: submodules reachable as attributes without an import of their own (as when this file imported them all)
_SUBMODULES = frozenset({"arch", "cfi", "elf", "errors", "modules", "program", "report", "targets", "unwind"})


if not TYPE_CHECKING:  # hidden from mypy, which then still reports a misspelt dwarfunwind.name

    def __getattr__(name: str) -> object:
        where = _EXPORTS.get(name)
        if where is not None:
            module = __import__(f"{__name__}.{where}", fromlist=[name])
            value = getattr(module, name)
        elif name in _SUBMODULES:
            value = __import__(f"{__name__}.{name}", fromlist=["__name__"])
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value  # once: later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__) | _SUBMODULES)


def open_elf(path: str) -> ElfFile:
    """Open an ELF file for CFI lookups: ``open_elf(p).row_for(address)``."""
    from .elf.module import ElfFile

    return ElfFile.open(path)


__all__ = [
    "BatchResult", "CFARule", "CFIError", "CFISection", "CIE", "DwarfUnwindError", "ELFError", "ElfFile",
    "ExpressionError", "FDE", "Frame", "MachineState", "Mapping", "MemoryReadError", "Module", "ModuleMap", "Program",
    "RegisterUnavailable", "Row", "Rule", "RuleKind", "StackTrace", "StopReason", "Target", "TargetError",
    "ThreadInfo", "Unwinder", "disassemble", "evaluate", "open_elf", "unwind_many",
]
