"""What a walk produces: frames, per-thread traces, and why each walk stopped."""

from __future__ import annotations

from ..arch.x86_64 import FRAME_REGISTERS, REGNO

TYPE_CHECKING = False
if TYPE_CHECKING:
    from enum import Enum as _StrEnum

    from ..modules import Module
    from ..targets.base import ThreadInfo
else:  # ``import enum`` costs ~2 ms of every start-up that walks a stack (dwarfunwind/_typing.py)
    from .._typing import StrEnum as _StrEnum


class StopReason(str, _StrEnum):
    """Why a walk ended. Only OUTERMOST is a complete, natural end."""

    OUTERMOST = "outermost"  #: the return address is undefined (_start, clone3): the end of the stack
    PC_ZERO = "pc-zero"  #: a return address of 0
    NO_MODULE = "no-module"  #: the pc is in no known module
    NO_CFI = "no-cfi"  #: the pc has no CFI and frame pointers were not allowed or failed
    MEMORY = "memory"  #: memory a rule needed is not available
    REGISTER = "register"  #: a register a rule needed is not known in this frame
    CFI_ERROR = "cfi-error"  #: the CFI or an expression could not be decoded or evaluated
    CFA_NOT_INCREASING = "cfa-not-increasing"  #: the stack did not grow towards the caller
    LOOP = "loop"  #: the same frame came back
    FRAME_LIMIT = "frame-limit"  #: --max-frames reached
    FP_END = "fp-end"  #: the frame-pointer chain ended (rbp 0 or unmapped)
    STACK_COPY_END = "stack-copy-end"  #: the walk reached the end of a sample's stack copy (perf)
    BUDGET = "budget"  #: a work budget of the input ran out (docs/security.md)
    #: a perf sample with no user stack to unwind: its frames are perf's callchain, or its ip (perf)
    PERF_CALLCHAIN = "perf-callchain"

    def describe(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    StopReason.OUTERMOST: "reached the outermost frame (return address undefined)",
    StopReason.PC_ZERO: "return address 0",
    StopReason.NO_MODULE: "pc is outside every known module",
    StopReason.NO_CFI: "no CFI for pc",
    StopReason.MEMORY: "stack memory not available",
    StopReason.REGISTER: "a register the CFI needs is not known",
    StopReason.CFI_ERROR: "CFI could not be evaluated",
    StopReason.CFA_NOT_INCREASING: "stack pointer did not move towards the caller",
    StopReason.LOOP: "the walk came back to a frame it had seen",
    StopReason.FRAME_LIMIT: "frame limit reached",
    StopReason.FP_END: "frame-pointer chain ended",
    StopReason.STACK_COPY_END: "reached the end of the sample's stack copy",
    StopReason.BUDGET: "a work budget ran out",
    StopReason.PERF_CALLCHAIN: "no user stack in the sample: perf's own callchain",
}


#: (name, DWARF number) of every GPR and rip, in FRAME_REGISTERS order.
_NAMED_REGISTERS = tuple((name, REGNO[name]) for name in FRAME_REGISTERS)


class Frame:
    """One physical frame.

    ``pc`` is the value of rip in this frame: exact in frame 0 and in an
    interrupted frame, a return address otherwise. ``registers`` holds every
    register known in this frame by DWARF number (16 is rip); an absent
    register is unknown, never guessed.
    """

    __slots__ = ("index", "pc", "cfa", "registers", "method", "signal_frame", "interrupted", "module",
                 "function", "offset", "linkage_name", "inlined")

    def __init__(self, index: int, pc: int, cfa: int | None, registers: dict[int, int], method: str, *,
                 interrupted: bool = False) -> None:
        self.index = index
        self.pc = pc
        #: This frame's CFA, known once the walk has stepped from it.
        self.cfa = cfa
        self.registers = registers
        #: "initial", "dwarf" or "fp": how this frame's registers were recovered.
        self.method = method
        #: This frame's CFI is a signal frame (augmentation S), or it returns into a pt_regs marker.
        self.signal_frame = False
        #: This frame was interrupted by a signal or exception: its pc is exact.
        self.interrupted = interrupted
        self.module: Module | None = None
        #: The function's name as shown (demangled unless asked otherwise), from the symbol table.
        self.function: str | None = None
        self.offset: int | None = None
        #: The symbol's own (mangled) name, without its ELF version.
        self.linkage_name: str | None = None
        #: Functions inlined at this pc, innermost first (None until expanded, see Program.stack_traces).
        self.inlined: list[InlineFrame] | None = None

    def renumbered(self, index: int) -> Frame:
        """This frame at another depth: a copy with ``index`` (its registers dict shared)."""
        f = Frame.__new__(Frame)
        for name in Frame.__slots__:
            setattr(f, name, getattr(self, name))
        f.index = index
        return f

    def __repr__(self) -> str:
        return f"Frame(#{self.index} pc={self.pc:#x} {self.symbol() or '??'} method={self.method})"

    @property
    def sp(self) -> int | None:
        return self.registers.get(7)

    @property
    def lookup_pc(self) -> int:
        """The address whose CFI describes this frame: pc itself where exact, else pc - 1.

        A return address can be the first byte of the next function (after a
        call to a noreturn function), so callers are looked up one byte back.
        """
        return self.pc if self.index == 0 or self.interrupted else self.pc - 1

    def register(self, name: str) -> int:
        """The value of register ``name`` (``rax`` .. ``r15``, ``rip``); LookupError if unknown here."""
        try:
            regno = REGNO[name]
        except KeyError:
            raise LookupError(f"no register named {name!r}") from None
        try:
            return self.registers[regno]
        except KeyError:
            raise LookupError(f"{name} is not known in frame #{self.index}") from None

    def registers_by_name(self) -> dict[str, int | None]:
        """Every GPR and rip by name, None where unknown."""
        get = self.registers.get
        return {name: get(regno) for name, regno in _NAMED_REGISTERS}

    def source(self) -> tuple[str, int] | None:
        """(file, line) in this frame's own function at its pc (pc - 1 for a return address).

        Where calls were inlined at the pc, this is the line of the outermost
        inlined call, as gdb shows it; each :class:`InlineFrame` has its own.
        """
        return self.module.source(self.lookup_pc) if self.module is not None else None

    def symbol(self) -> str | None:
        """``function+0xoff`` or None."""
        if self.function is None:
            return None
        return f"{self.function}+{self.offset:#x}" if self.offset else self.function


class InlineFrame:
    """A function inlined at a physical frame's pc: its name and the line reached in it."""

    __slots__ = ("function", "linkage_name", "file", "line")

    def __init__(self, function: str, linkage_name: str, file: str | None, line: int) -> None:
        self.function = function
        self.linkage_name = linkage_name
        self.file = file
        self.line = line

    def __repr__(self) -> str:
        return f"InlineFrame({self.function} at {self.file}:{self.line})"


class StackTrace:
    """The walk of one thread."""

    __slots__ = ("thread", "frames", "stop_reason", "stop_detail", "method")

    def __init__(self, thread: ThreadInfo, *, method: str = "dwarf") -> None:
        self.thread = thread
        self.frames: list[Frame] = []
        self.stop_reason = StopReason.OUTERMOST
        #: Details of the stop (the address that could not be read, the error text).
        self.stop_detail = ""
        self.method = method

    def __repr__(self) -> str:
        return f"StackTrace(tid={self.thread.tid}, {len(self.frames)} frames, stop={self.stop_reason.value})"

    @property
    def reliable(self) -> bool:
        """True only when every frame came from CFI or an exact register block and the walk reached the end.

        This is the kernel's reliable-unwinder notion: a frame recovered by
        frame-pointer guessing, or a walk that stopped early, is not reliable.
        """
        if self.stop_reason is not StopReason.OUTERMOST:
            return False
        for f in self.frames:  # (a loop, not all() over a generator: asked of every perf --json record)
            method = f.method
            if method != "dwarf" and method != "initial" and not (method == "fp" and f.interrupted):
                return False
        return True

    @property
    def complete(self) -> bool:
        return self.stop_reason is StopReason.OUTERMOST

