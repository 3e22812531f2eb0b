"""Rule and row types of the CFA interpreter (DWARF 5, section 6.4.1).

Rows are immutable by convention and built for speed: rules are small
NamedTuples and a row's register rules are a plain dict keyed by DWARF
register number. A register without an entry has no rule in that row.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, NamedTuple

from ..arch.x86_64 import register_name

if TYPE_CHECKING:
    from .sections import FDE


class RuleKind(IntEnum):
    """How a register of the caller is recovered (DWARF 5, 6.4.1 "register rules")."""

    UNDEFINED = 0
    SAME_VALUE = 1
    OFFSET = 2  #: saved at CFA + N
    VAL_OFFSET = 3  #: the value is CFA + N
    REGISTER = 4  #: the value is in register R
    EXPRESSION = 5  #: saved at the address the expression computes (CFA pushed first)
    VAL_EXPRESSION = 6  #: the value is what the expression computes (CFA pushed first)


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


# The kinds as plain ints, for the hot paths (interpreter, unwind step): building and
# hashing IntEnum members is several times slower than ints (see bench/).
UNDEFINED, SAME_VALUE, OFFSET, VAL_OFFSET, REGISTER, EXPRESSION, VAL_EXPRESSION = (int(k) for k in RuleKind)

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
    RuleKind.UNDEFINED: "u",
    RuleKind.SAME_VALUE: "s",
    RuleKind.EXPRESSION: "exp",
    RuleKind.VAL_EXPRESSION: "vexp",
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
        if kind == RuleKind.OFFSET:
            return f"c{arg:+d}"
        if kind == RuleKind.VAL_OFFSET:
            return f"v{arg:+d}"
        if kind == RuleKind.REGISTER:
            return register_name(arg)
    return _RULE_LETTER[kind]
