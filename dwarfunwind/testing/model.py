"""Ground-truth models: what a generated CIE, FDE and frame *mean*, before any encoding.

The fuzzing pipeline is model -> bytes (``encoder``) -> our decoder -> rows,
and the comparison is against the model, never against a second run of the
decoder. Rows are stored with the decoder's own :class:`Rule`/:class:`CFARule`
types so that comparisons need no translation, only :func:`normalize_rows`
(which removes the differences that equivalent encodings are allowed to make).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arch.x86_64 import RA, RSP
from ..cfi.rules import CFARule, Rule, RuleKind

MASK64 = (1 << 64) - 1

#: A row of the model: location relative to the FDE's pc_begin, CFA rule, register rules.
Regs = dict[int, Rule]


@dataclass(frozen=True)
class ModelRow:
    """The rules in force from ``loc`` (bytes from the function's start) to the next row."""

    loc: int
    cfa: CFARule
    regs: tuple[tuple[int, Rule], ...]

    @property
    def rules(self) -> Regs:
        return dict(self.regs)

    @staticmethod
    def make(loc: int, cfa: CFARule, regs: Regs) -> "ModelRow":
        return ModelRow(loc, cfa, tuple(sorted(regs.items())))


#: The x86-64 initial state every generated CIE sets up: CFA = rsp+8, return address at CFA-8.
ENTRY_CFA = CFARule(RSP, 8, None)
ENTRY_REGS: Regs = {RA: Rule(int(RuleKind.OFFSET), -8)}


@dataclass
class CIEModel:
    """The fields of a CIE that the encoder writes and the decoder must give back."""

    version: int = 1
    augmentation: str = "zR"
    code_alignment_factor: int = 1
    data_alignment_factor: int = -8
    return_address_register: int = RA
    fde_encoding: int = 0x1B  # pcrel|sdata4, what GCC writes
    lsda_encoding: int = 0xFF
    personality_encoding: int = 0xFF
    personality: int | None = None
    address_size: int = 8

    @property
    def signal_frame(self) -> bool:
        return "S" in self.augmentation


@dataclass
class FDEModel:
    """One function: its range (absolute addresses) and rows (locations relative to pc_begin)."""

    pc_begin: int
    pc_range: int
    rows: list[ModelRow]
    cie: int = 0  #: index into the section's CIEs
    lsda: int | None = None


@dataclass
class MachineSnapshot:
    """The callee's registers and the stack memory at one pc (ground truth for unwinding)."""

    loc: int  #: first byte (relative to pc_begin) where this state holds
    end: int  #: first byte where it no longer holds
    regs: dict[int, int]
    memory: dict[int, int]  #: byte address -> byte value


@dataclass
class FrameCase:
    """A generated function: its CFI and the machine state at every instruction boundary.

    ``caller`` holds the caller's registers (generated first); ``expected``
    names the registers an unwind step must recover exactly, with their values.
    """

    kind: str  #: "ordinary" or "signal"
    ops: list[tuple]  #: the layout operations, for reading a falsifying example
    rows: list[ModelRow]
    states: list[MachineSnapshot]
    caller: dict[int, int]
    expected: dict[int, int]
    length: int  #: function size in bytes

    def state_at(self, loc: int) -> MachineSnapshot:
        for s in self.states:
            if s.loc <= loc < s.end:
                return s
        raise ValueError(f"no state at {loc}")


@dataclass
class SectionModel:
    """A whole .eh_frame or .debug_frame: CIEs, FDEs, where it lives and its format."""

    name: str  #: ".eh_frame" or ".debug_frame"
    address: int
    cies: list[CIEModel]
    fdes: list[FDEModel]
    dwarf64: bool = False
    text_address: int = 0x1000
    text_size: int = 0x100
    cases: list[FrameCase] = field(default_factory=list)

    @property
    def is_eh(self) -> bool:
        return self.name == ".eh_frame"


# -- normalization ------------------------------------------------------------------------------

_BASE = 1 << 40  # a symbolic CFA, far from any offset a generated rule uses


class _NoRegisters:
    """A machine for constant-folding expressions: any register or memory access fails."""

    def read_register(self, regno: int) -> int:
        raise LookupError(regno)

    def read_memory(self, address: int, size: int) -> bytes:
        raise LookupError(address)


def normalize_rule(rule: Rule) -> tuple:
    """A rule as a comparable key; ``CFA+N`` expressions fold to the offset rules they equal.

    Why: "offset" and "expression computing CFA+N" are equivalent encodings of
    one saved slot, and the fuzzer deliberately produces both.
    """
    kind = rule.kind
    if kind in (RuleKind.EXPRESSION, RuleKind.VAL_EXPRESSION):
        from ..cfi.expr import evaluate

        try:
            value = evaluate(rule.arg, _NoRegisters(), [_BASE])  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - not a constant offset: compare the bytes
            return (int(kind), bytes(rule.arg))
        delta = (value - _BASE) & MASK64
        if delta >= 1 << 63:
            delta -= 1 << 64
        return (int(RuleKind.OFFSET if kind == RuleKind.EXPRESSION else RuleKind.VAL_OFFSET), delta)
    return (int(kind), rule.arg)


def normalize_cfa(cfa: CFARule) -> tuple:
    """A CFA rule as a key: an expression CFA ignores the stale register/offset fields."""
    if cfa.expression is not None:
        return ("exp", bytes(cfa.expression))
    return ("reg", cfa.register, cfa.offset)


def normalize_rows(rows: list[tuple[int, CFARule, Regs]], start: int = 0, end: int | None = None) -> list[tuple]:
    """Rows as a step function: keys per row, consecutive equal rows merged, empty rows dropped.

    ``rows`` are (loc, cfa, regs) with absolute or relative locations;
    ``start`` is subtracted. Rows of zero length (two rows at one loc) keep the last.
    """
    out: list[tuple] = []
    for loc, cfa, regs in rows:
        key = (normalize_cfa(cfa), tuple(sorted((r, normalize_rule(rule)) for r, rule in regs.items())))
        rel = loc - start
        if end is not None and rel >= end - start:
            continue
        if out and out[-1][0] == rel:
            out.pop()
        if out and out[-1][1:] == key:
            continue
        out.append((rel, *key))
    return out


def model_rows(rows: list[ModelRow]) -> list[tuple]:
    """:func:`normalize_rows` of a model's rows."""
    return normalize_rows([(r.loc, r.cfa, r.rules) for r in rows])
