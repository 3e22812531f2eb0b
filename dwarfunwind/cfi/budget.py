"""Work budgets: how much one input may make us do (docs/security.md).

Bounds per construct (steps of one expression, entry length) do not bound an
input: a file can repeat a construct that is cheap once. A :class:`Budget` is
made once per input -- one ``cfi`` run, one ``unwind`` of a target -- and
charged where the work is done:

* ``expression_steps``: DWARF expression operations evaluated (cumulative);
* ``cfi_work``: CFA instruction bytes executed plus register rules compared or copied into
  rows and remembered states (cumulative);
* ``rules_per_row``, ``rows_per_fde``, ``rules_per_fde``, ``remember_depth``:
  caps on one row, one FDE's table and its ``DW_CFA_remember_state`` stack.
  Exceeding one of these refuses that entry (a :class:`CFIError`); running out
  of a cumulative budget ends the run (:class:`BudgetExceeded`).

Each default is far above what any file on a full Linux system needs (measured
on this machine's biggest libraries: 11 rules per row, 6,678 rows and 4,348
copied rules per FDE, 6.5 million units of CFI work for all of libLLVM-15) and is
raised by an environment variable, ``DWARFUNWIND_MAX_<NAME>`` in upper case.
"""

from __future__ import annotations

import os

from ..errors import BudgetExceeded, DwarfUnwindError

#: name -> default. The environment variable is DWARFUNWIND_MAX_<NAME upper>.
DEFAULTS: dict[str, int] = {
    "expression_steps": 1_000_000,
    "cfi_work": 50_000_000,
    "rules_per_row": 512,
    "rows_per_fde": 200_000,
    "rules_per_fde": 1_000_000,
    "remember_depth": 256,
}


def variable(name: str) -> str:
    """The environment variable that sets budget ``name``."""
    return f"DWARFUNWIND_MAX_{name.upper()}"


def limit(name: str) -> int:
    """Budget ``name`` from its environment variable, else its default."""
    text = os.environ.get(variable(name))
    if not text:
        return DEFAULTS[name]
    try:
        value = int(text, 0)
    except ValueError:
        raise DwarfUnwindError(f"{variable(name)}={text[:40]!r} is not a number") from None
    if value < 1:
        raise DwarfUnwindError(f"{variable(name)}={value} must be at least 1")
    return value


class Budget:
    """The work one input may cost. Make one per input and pass it down.

    ``input`` names the input in messages (a file, a core, a pid).
    """

    __slots__ = ("input", "max_expression_steps", "max_cfi_work", "rules_per_row", "rows_per_fde",
                 "rules_per_fde", "remember_depth", "expression_steps", "cfi_work")

    def __init__(self, input: str = "", **limits: int) -> None:  # noqa: A002 - a name users read
        unknown = set(limits) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown budget(s): {', '.join(sorted(unknown))}")
        self.input = input
        self.max_expression_steps = limits.get("expression_steps") or limit("expression_steps")
        self.max_cfi_work = limits.get("cfi_work") or limit("cfi_work")
        self.rules_per_row = limits.get("rules_per_row") or limit("rules_per_row")
        self.rows_per_fde = limits.get("rows_per_fde") or limit("rows_per_fde")
        self.rules_per_fde = limits.get("rules_per_fde") or limit("rules_per_fde")
        self.remember_depth = limits.get("remember_depth") or limit("remember_depth")
        #: Work done so far.
        self.expression_steps = 0
        self.cfi_work = 0

    def renewed(self) -> Budget:
        """A budget with the same limits and nothing spent (without reading the environment again)."""
        b = Budget.__new__(Budget)
        b.input = self.input
        b.max_expression_steps, b.max_cfi_work = self.max_expression_steps, self.max_cfi_work
        b.rules_per_row, b.rows_per_fde = self.rules_per_row, self.rows_per_fde
        b.rules_per_fde, b.remember_depth = self.rules_per_fde, self.remember_depth
        b.expression_steps = b.cfi_work = 0
        return b

    def __repr__(self) -> str:
        return (f"Budget({self.input!r}, expression_steps={self.expression_steps}/{self.max_expression_steps}, "
                f"cfi_work={self.cfi_work}/{self.max_cfi_work})")

    def spend_expression_steps(self, n: int, where: str = "") -> None:
        """Charge ``n`` expression operations; BudgetExceeded when the total passes the limit."""
        self.expression_steps += n
        if self.expression_steps > self.max_expression_steps:
            raise BudgetExceeded("expression_steps", self.max_expression_steps, variable("expression_steps"),
                                 self._where(where))

    def spend_cfi_work(self, n: int, where: str = "") -> None:
        """Charge ``n`` units of CFA interpretation (instruction bytes, rules copied).

        The interpreter's hot path does the same inline (add, compare) and calls
        :meth:`cfi_work_exhausted` only when the limit is passed.
        """
        self.cfi_work += n
        if self.cfi_work > self.max_cfi_work:
            self.cfi_work_exhausted(where)

    def cfi_work_exhausted(self, where: str = "") -> None:
        """Raise BudgetExceeded for ``cfi_work`` (the message is built only now)."""
        raise BudgetExceeded("cfi_work", self.max_cfi_work, variable("cfi_work"), self._where(where))

    def _where(self, where: str) -> str:
        return ", ".join(p for p in (self.input, where) if p)


_caps: Budget | None = None
#: The cumulative limits of :func:`caps_only`: never reached (the counters are plain Python ints).
_UNLIMITED = 1 << 62


def caps_only() -> Budget:
    """A shared budget that enforces only the per-row and per-FDE caps (read from the environment once),
    for calls made without a budget: the cumulative limits need an input to be counted against."""
    global _caps
    if _caps is None:
        _caps = Budget(expression_steps=_UNLIMITED, cfi_work=_UNLIMITED)
    return _caps
