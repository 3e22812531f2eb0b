"""What ``check`` reports: findings, "not checkable" notes, and per-file results."""

from __future__ import annotations

#: Finding kinds (the ``kind`` field of the JSON contract, docs/check.md).
CFA_MISMATCH = "cfa"  #: the CFA rule does not give the CFA
REGISTER_MISMATCH = "register"  #: a register rule does not recover the entry value
RETURN_ADDRESS = "ra"  #: the return-address rule does not find the return address
UNCHECKABLE = "uncheckable"  #: the state is unknown from here on (reported once per function)
COVERAGE = "coverage"  #: FDE/symbol coverage: mid-instruction bounds, overlaps, .eh_frame_hdr
NO_FDE = "no-fde"  #: a FUNC symbol with code and no FDE (a note: not counted as a finding)
DECODE = "decode"  #: bytes in an FDE's range that do not decode as instructions

#: Kinds that make the exit code 1.
DEFECT_KINDS = frozenset({CFA_MISMATCH, REGISTER_MISMATCH, RETURN_ADDRESS, COVERAGE, DECODE})


class Finding:
    """One diagnostic at one address.

    ``function``/``offset`` come from the symbol table (or the FDE start when
    no symbol covers the address); ``instruction`` is in AT&T syntax, or "".
    """

    __slots__ = ("kind", "address", "function", "offset", "instruction", "message", "column")

    def __init__(self, kind: str, address: int, message: str, *, function: str = "", offset: int = 0,
                 instruction: str = "", column: str = "") -> None:
        self.kind = kind
        self.address = address
        self.message = message
        self.function = function
        self.offset = offset
        self.instruction = instruction
        self.column = column

    @property
    def is_defect(self) -> bool:
        return self.kind in DEFECT_KINDS

    def where(self) -> str:
        func = f"{self.function}+{self.offset:#x}" if self.function else "?"
        return f"{func} ({self.address:#x})"

    def format(self, file: str) -> str:
        """``FILE: func+0x12 (0x401234): push %rbx: CFA is rsp+24 here, CFI says rsp+16``."""
        ins = f"{self.instruction}: " if self.instruction else ""
        return f"{file}: {self.where()}: {ins}{self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "address": self.address, "function": self.function or None,
                "offset": self.offset if self.function else None, "instruction": self.instruction or None,
                "column": self.column or None, "message": self.message}

    def __repr__(self) -> str:
        return f"Finding({self.kind}, {self.address:#x}, {self.message!r})"


class FunctionResult:
    """The outcome for one FDE: its findings and whether part of it could not be checked."""

    __slots__ = ("pc_begin", "pc_end", "name", "findings", "uncheckable", "instructions", "visited", "fragment",
                 "wrong")

    def __init__(self, pc_begin: int, pc_end: int, name: str) -> None:
        self.pc_begin = pc_begin
        self.pc_end = pc_end
        self.name = name
        self.findings: list[Finding] = []
        self.uncheckable: Finding | None = None
        self.instructions = 0
        #: Addresses of the instructions whose boundary was reached (and checked) on some path.
        self.visited: set[int] = set()
        #: True when the FDE does not start at a function entry (its entry state is its first row).
        self.fragment = False
        #: Every instruction address where some rule is wrong (not only the first per column).
        self.wrong: dict[int, str] = {}

    @property
    def clean(self) -> bool:
        return not any(f.is_defect for f in self.findings)


class FileReport:
    """Everything ``check`` found in one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.functions: list[FunctionResult] = []
        self.coverage: list[Finding] = []
        self.errors: list[str] = []  # problems reading the file; the rest is still checked
        self.instructions = 0

    def findings(self) -> list[Finding]:
        """Every defect and note, in address order."""
        out = list(self.coverage)
        for f in self.functions:
            out.extend(f.findings)
            if f.uncheckable is not None:
                out.append(f.uncheckable)
        out.sort(key=lambda f: (f.address, f.kind))
        return out

    @property
    def defects(self) -> int:
        return sum(1 for f in self.findings() if f.is_defect)

    def summary(self) -> dict[str, int]:
        funcs = self.functions
        return {
            "functions": len(funcs),
            "clean": sum(1 for f in funcs if f.clean and f.uncheckable is None),
            "with_findings": sum(1 for f in funcs if not f.clean),
            "partly_uncheckable": sum(1 for f in funcs if f.uncheckable is not None),
            "findings": self.defects,
            "notes": sum(1 for f in self.findings() if not f.is_defect),
            "instructions": self.instructions,
        }
