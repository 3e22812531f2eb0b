"""Rule and row types of the CFA interpreter (DWARF 5, section 6.4.1).

Rows are immutable by convention and built for speed: rules are small
NamedTuples and a row's register rules are a plain dict keyed by DWARF
register number. A register without an entry has no rule in that row.
"""

from __future__ import annotations

from ..arch.x86_64 import register_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple

    from .rulekind import RuleKind  # noqa: F401 - served at run time by __getattr__ below
    from .sections import FDE
else:  # typing costs ~5 ms of start-up (dwarfunwind/_typing.py)
    from .._typing import NamedTuple


class LocatedExpression(bytes):
    """Expression bytes that remember where they were read: ``address`` is the (unrelocated)
    address of byte 0 in the file's ``.eh_frame``.

    Only expressions holding ``DW_OP_GNU_encoded_addr`` (0xf1) are made this way: its ``pcrel``
    operand is relative to its own address (gas's ``.cfi_val_encoded_addr``). Equal only to
    the same bytes at the same address, so rows that share rules never mix two of them up.
    """

    address: int

    def __new__(cls, data: bytes, address: int) -> "LocatedExpression":
        self = super().__new__(cls, data)
        self.address = address
        return self

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LocatedExpression) and bytes.__eq__(self, other)
                and self.address == other.address)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((bytes(self), self.address))

    def __reduce__(self):
        return (LocatedExpression, (bytes(self), self.address))

    def __repr__(self) -> str:
        return f"LocatedExpression({bytes(self)!r}, {self.address:#x})"


def located(data: bytes, address: int, is_eh: bool) -> bytes:
    """``data`` as the rule's argument: located (see :class:`LocatedExpression`) when it may hold
    DW_OP_GNU_encoded_addr and was read from ``.eh_frame`` (``.debug_frame`` is not loaded: a
    pcrel operand there has no address to be relative to)."""
    if is_eh and 0xF1 in data:
        return LocatedExpression(data, address)
    return data


class Rule(NamedTuple):
    """One register rule: a kind (a :class:`RuleKind` value) and its argument.

    The argument is an offset from the CFA, a register number, or expression bytes.
    """

    kind: int
    arg: int | bytes = 0

    def __str__(self) -> str:
        return format_rule(self)


class CFARule(NamedTuple):
    """The rule for the Canonical Frame Address: register + offset, or an expression.

    ``register`` is :data:`UNDEFINED_CFA_REGISTER` (-1) while no ``DW_CFA_def_cfa``,
    ``def_cfa_register`` or ``def_cfa_expression`` has run (``.cfi_startproc simple``):
    the CFA is undefined, and ``offset`` only records what ``def_cfa_offset`` said.
    With an ``expression``, ``register`` and ``offset`` are what a later
    ``def_cfa_register`` builds on (as in libgcc, gdb and readelf).
    """

    register: int
    offset: int
    expression: bytes | None = None

    def __str__(self) -> str:
        return format_cfa(self)

    @property
    def defined(self) -> bool:
        """False while the CFA has no rule (nothing defined it yet)."""
        return self.expression is not None or self.register >= 0


class Row(NamedTuple):
    """One row of the unwind table: the rules in force for ``loc <= pc < end``."""

    loc: int
    end: int
    cfa: CFARule
    regs: dict[int, Rule]
    fde: "FDE"

    @property
    def signal_frame(self) -> bool:
        """True when the FDE's CIE has augmentation ``S`` (a signal or exception frame)."""
        return self.fde.cie.signal_frame

    def rule(self, regno: int) -> Rule:
        """The rule for ``regno``; a register without one is reported as undefined."""
        return self.regs.get(regno, UNDEFINED_RULE)


# The kinds as plain ints (RuleKind's values), for the hot paths (interpreter, unwind step): building
# and hashing IntEnum members is several times slower than ints (see bench/).
UNDEFINED, SAME_VALUE, OFFSET, VAL_OFFSET, REGISTER, EXPRESSION, VAL_EXPRESSION = range(7)


if not TYPE_CHECKING:  # hidden from mypy, which reads RuleKind from the import above

    def __getattr__(name: str) -> object:
        # RuleKind (an IntEnum) on first use: importing enum costs ~2 ms of every start-up.
        if name == "RuleKind":
            from .rulekind import RuleKind

            return RuleKind
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


UNDEFINED_RULE = Rule(UNDEFINED, 0)
#: The register of a CFA rule that nothing has defined yet.
UNDEFINED_CFA_REGISTER = -1
UNDEFINED_CFA = CFARule(UNDEFINED_CFA_REGISTER, 0, None)
SAME_VALUE_RULE = Rule(SAME_VALUE, 0)


def format_cfa(cfa: CFARule) -> str:
    """The CFA in readelf's frames-interp notation: ``rsp+8`` or ``exp``; ``u`` when undefined."""
    text = _FORMATTED_CFA.get(cfa)
    if text is None:
        if cfa.expression is not None:
            text = "exp"
        elif cfa.register < 0:
            text = "u"  # readelf prints its zeroed state, "rax+N": see docs/oracle-bugs.md
        else:
            text = f"{register_name(cfa.register)}{cfa.offset:+d}"
        if len(_FORMATTED_CFA) < 4096:  # bounded memo: a few hundred distinct CFA rules in a libc
            _FORMATTED_CFA[cfa] = text
    return text


_FORMATTED_CFA: dict[CFARule, str] = {}


_RULE_LETTER: dict[int, str] = {
    UNDEFINED: "u",
    SAME_VALUE: "s",
    EXPRESSION: "exp",
    VAL_EXPRESSION: "vexp",
}
_FORMATTED: dict[Rule, str] = {}


def format_rule(rule: Rule) -> str:
    """A register rule in readelf's frames-interp notation (``u s c-16 v+8 exp vexp rbx``).

    A register operand is named by :func:`register_name` (16 is ``ra``), as readelf
    names it whatever the CIE's return-address column.
    """
    text = _FORMATTED.get(rule)
    if text is None:
        text = _format_rule(rule)
        if len(_FORMATTED) < 4096:  # bounded memo: rules repeat across rows
            _FORMATTED[rule] = text
    return text


def _format_rule(rule: Rule) -> str:
    kind, arg = rule
    if isinstance(arg, int):
        if kind == OFFSET:
            return f"c{arg:+d}"
        if kind == VAL_OFFSET:
            return f"v{arg:+d}"
        if kind == REGISTER:
            return register_name(arg)
    return _RULE_LETTER[kind]
