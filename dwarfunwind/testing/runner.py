"""Run the CFI properties outside pytest (for ``python -m dwarfunwind fuzz``).

Usage::

    from dwarfunwind.testing.runner import run, PROPERTY_NAMES
    summary = run(examples=500, seed=1, property=None, progress=lambda name, done, total: ...)
    print(summary.format()); raise SystemExit(0 if summary.ok else 1)

``progress(name, done, total)`` is called once before each property's first
example (done=0) and after every example; ``total`` is the example budget
(hypothesis may stop earlier when a space is exhausted, or run a few more
while shrinking a failure).
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from .properties import PROPERTY_NAMES, Skip, hypothesis_test

Progress = Callable[[str, int, int], None]

__all__ = ["PROPERTY_NAMES", "PropertyResult", "Summary", "run"]


@dataclass
class PropertyResult:
    """The outcome of one property."""

    name: str
    status: str  #: "passed", "failed" or "skipped"
    examples: int  #: examples run (including shrinking steps after a failure)
    duration: float  #: seconds
    falsifying_example: str | None = None  #: hypothesis' report of the minimal failing input
    error: str | None = None  #: the assertion or exception text (or why it was skipped)

    @property
    def passed(self) -> bool:
        return self.status != "failed"


@dataclass
class Summary:
    """The outcome of a run: one :class:`PropertyResult` per property, in run order."""

    seed: int | None
    examples: int
    results: list[PropertyResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[PropertyResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def duration(self) -> float:
        return sum(r.duration for r in self.results)

    def format(self) -> str:
        """A human-readable table, then each failure's example and error."""
        lines = [f"{'property':<22} {'status':<8} {'examples':>8} {'seconds':>8}"]
        for r in self.results:
            lines.append(f"{r.name:<22} {r.status:<8} {r.examples:>8} {r.duration:>8.1f}")
        for r in self.results:
            if r.status == "failed":
                lines += ["", f"== {r.name} failed", r.falsifying_example or "", r.error or ""]
            elif r.status == "skipped":
                lines.append(f"({r.name} skipped: {r.error})")
        return "\n".join(lines)


def run(examples: int = 100, seed: int | None = None, property: str | None = None,  # noqa: A002 - CLI name
        progress: Progress | None = None) -> Summary:
    """Run ``property`` (or all of :data:`PROPERTY_NAMES`) with ``examples`` examples each.

    ``seed`` makes the run reproducible (hypothesis.seed); None draws a fresh
    one. Nothing is stored in a hypothesis database. Raises KeyError for an
    unknown property name.
    """
    from hypothesis import Phase
    from hypothesis import seed as hypothesis_seed

    names = PROPERTY_NAMES if property is None else (property,)
    for n in names:
        if n not in PROPERTY_NAMES:
            raise KeyError(f"unknown property {n!r}; known: {', '.join(PROPERTY_NAMES)}")
    summary = Summary(seed, examples)
    for name in names:
        count = 0
        reports: list[str] = []

        def on_example(_: object, name: str = name) -> None:
            nonlocal count
            count += 1
            if progress is not None:
                progress(name, min(count, examples), examples)

        test = hypothesis_test(name, examples, database=None, derandomize=False, print_blob=False,
                               phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink])
        if seed is not None:
            test = hypothesis_seed(seed)(test)
        _count_examples(test, on_example)
        if progress is not None:
            progress(name, 0, examples)
        t0 = time.perf_counter()
        status, error, example = "passed", None, None
        try:
            _capture_reports(test, reports)()
        except Skip as e:
            status, error = "skipped", str(e)
        except Exception as e:  # noqa: BLE001 - a failing property is a result, not a crash
            status = "failed"
            error = "".join(traceback.format_exception_only(type(e), e)).strip()
            example = "\n".join(r for r in reports if "Falsifying" in r or r.startswith(" ")) or "\n".join(reports)
        summary.results.append(PropertyResult(name, status, count, time.perf_counter() - t0, example, error))
    return summary


def _count_examples(test: Callable[[], None], callback: Callable[[object], None]) -> None:
    """Call ``callback`` for every example hypothesis runs (it calls ``inner_test`` once per example)."""
    handle = test.hypothesis  # type: ignore[attr-defined]
    inner = handle.inner_test

    @functools.wraps(inner)
    def counted(*args: object, **kwargs: object) -> None:
        callback(None)
        inner(*args, **kwargs)

    handle.inner_test = counted


def _capture_reports(test: Callable[[], None], sink: list[str]) -> Callable[[], None]:
    """``test`` with hypothesis' reports (the falsifying example) collected into ``sink`` instead of printed."""
    from hypothesis.reporting import with_reporter

    def wrapped() -> None:
        with with_reporter(sink.append):  # type: ignore[arg-type]
            test()

    return wrapped
