"""Many inputs at once: cores, snapshots and perf.data files over any ``concurrent.futures.Executor``.

>>> for result in unwind_many(["core.1", "core.2", "perf.data"]):
...     print(result.input, result.error or "ok")

Work is cut into tasks: one per core or snapshot, one per process of a
perf.data file (each task reads the file's stream and unwinds that process's
samples; the parent merges them back into the file's time order). Tasks are
plain functions of strings, so any executor runs them: a process pool by
default, or ``distributed.Client(...).get_executor()`` to use a Dask cluster
unchanged. Workers on other machines must see the inputs and the modules they
name at the same paths (or under ``sysroot``), or find them by build-id.

Results come back in input order, as soon as each input is complete; an input
that fails is reported in its result and does not stop the others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import DwarfUnwindError

if TYPE_CHECKING:  # concurrent.futures and json cost ~30 ms at import; loaded when used
    from concurrent.futures import Executor, Future

#: How many tasks are kept in flight per worker: enough to keep workers busy, bounded memory.
AHEAD_PER_WORKER = 4


class BatchResult:
    """The outcome of one input.

    ``error`` is None or the one-line message the CLI would print for this input
    alone; ``to_json()`` is the document ``unwind --json`` (cores, snapshots)
    or ``perf --json`` (perf.data) prints for it alone, or ``{"input", "error"}``
    when it could not be read at all.
    """

    __slots__ = ("input", "kind", "error", "_json")

    def __init__(self, input: str, kind: str, error: str | None, document: str | None) -> None:
        self.input = input
        #: "core-or-snapshot", "perf" or "unknown".
        self.kind = kind
        self.error = error
        self._json = document

    def __repr__(self) -> str:
        return f"BatchResult({self.input!r}, {self.kind}, error={self.error!r})"

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> str:
        if self._json is not None:
            return self._json
        import json

        return json.dumps({"input": self.input, "error": self.error})

    def document(self) -> dict[str, Any]:
        import json

        doc: dict[str, Any] = json.loads(self.to_json())
        return doc


# -- tasks (module-level and of plain arguments: they are pickled to workers) ---------------------------


def unwind_document(path: str, *, exe: str | None = None, sysroot: str | None = None,
                    max_frames: int = 4096) -> str:
    """``unwind PATH --json``'s document, as text; DwarfUnwindError when the input cannot be read."""
    import json

    from .program import Program
    from .report import trace_to_dict

    with Program.open(path, exe=exe, sysroot=sysroot) as program:
        traces = program.stack_traces(max_frames=max_frames or sys.maxsize)
    return json.dumps({"threads": [trace_to_dict(t) for t in traces]})


def _core_task(path: str, sysroot: str | None, max_frames: int) -> tuple[str | None, str | None]:
    try:
        return None, unwind_document(path, sysroot=sysroot, max_frames=max_frames)
    except DwarfUnwindError as e:
        return str(e), None


def _perf_task(path: str, pid: int | None, sysroot: str | None, max_frames: int
               ) -> tuple[list[tuple[int, str]], list[str], str | None]:
    """The samples of one process (or all, pid None) as (index, JSON text), the problems, and the error."""
    from .perf.output import sample_json
    from .perf.reader import PerfData
    from .perf.session import PerfUnwinder

    out: list[tuple[int, str]] = []
    try:
        data = PerfData.open(path)
    except DwarfUnwindError as e:
        return out, [], str(e)
    unwinder = PerfUnwinder(data, pids=None if pid is None else [pid], max_frames=max_frames or sys.maxsize,
                            sysroot=sysroot)
    error = None
    try:
        for u in unwinder.samples():
            out.append((u.index, sample_json(u)))
    except DwarfUnwindError as e:
        error = str(e)
    problems = unwinder.problems
    unwinder.close()
    data.close()
    return out, problems, error


def perf_processes(path: str) -> list[int]:
    """The pids that have samples in a perf.data file, in order of their first sample (damage ends the scan)."""
    from .perf.reader import PerfData, Sample

    pids: dict[int, None] = {}
    with PerfData.open(path) as data:
        try:
            for rec in data.records():
                if isinstance(rec, Sample) and rec.pid >= 0:
                    pids.setdefault(rec.pid, None)
        except DwarfUnwindError:
            pass
    return list(pids)


def kind_of(path: str) -> str:
    from .targets.files import open_regular

    try:
        with os.fdopen(open_regular(path), "rb") as f:  # never blocks on a FIFO
            magic = f.read(8)
    except (OSError, DwarfUnwindError):
        return "unknown"
    return "perf" if magic == b"PERFILE2" else "core-or-snapshot"


# -- the driver -----------------------------------------------------------------------------------------


class _Job:
    """One input's tasks and how to merge their results into a BatchResult."""

    def __init__(self, path: str, kind: str, tasks: list[tuple[Callable[..., Any], tuple[Any, ...]]],
                 error: str | None = None) -> None:
        self.path = path
        self.kind = kind
        self.tasks = tasks
        self.error = error
        self.futures: list["Future[Any]"] = []

    def result(self) -> BatchResult:
        if self.error is not None:
            return BatchResult(self.path, self.kind, self.error, None)
        outcomes = []
        for fut in self.futures:
            try:
                outcomes.append(fut.result())
            except DwarfUnwindError as e:
                return BatchResult(self.path, self.kind, str(e), None)
            except Exception as e:  # a worker died or the task could not run: said, not raised
                return BatchResult(self.path, self.kind, f"{self.path}: {type(e).__name__}: {e}", None)
        if self.kind == "perf":
            return _merge_perf(self.path, outcomes)
        error, document = outcomes[0]
        return BatchResult(self.path, self.kind, error, document)


def _merge_perf(path: str, outcomes: list[tuple[list[tuple[int, str]], list[str], str | None]]) -> BatchResult:
    from .perf.output import document_head, document_tail

    samples = sorted((s for o in outcomes for s in o[0]), key=lambda s: s[0])
    problems = [p for o in outcomes for p in o[1]]
    error = next((o[2] for o in outcomes if o[2] is not None), None)
    doc = document_head(path) + ",".join(text for _, text in samples) + document_tail(problems, error)
    return BatchResult(path, "perf", error, doc)


def _plan(path: str, sysroot: str | None, max_frames: int) -> _Job:
    kind = kind_of(path)
    if kind == "perf":
        try:
            pids = perf_processes(path)
        except DwarfUnwindError as e:
            return _Job(path, kind, [], str(e))
        chunks: list[int | None] = list(pids) if len(pids) > 1 else [None]
        return _Job(path, kind, [(_perf_task, (path, pid, sysroot, max_frames)) for pid in chunks])
    return _Job(path, kind, [(_core_task, (path, sysroot, max_frames))])


def unwind_many(inputs: Iterable[str], executor: "Executor | None" = None, *, jobs: int | None = None,
                sysroot: str | None = None, max_frames: int = 4096) -> Iterator[BatchResult]:
    """Unwind every input (core, snapshot, perf.data) on ``executor``; results in input order.

    ``executor`` is any :class:`concurrent.futures.Executor` (a Dask client's
    ``get_executor()`` works unchanged); by default a process pool of ``jobs``
    workers (all cores when None) is created and shut down here. A perf.data
    file is split into one task per process. ``max_frames`` 0 means no limit.
    """
    own = executor is None
    if executor is None:
        from concurrent.futures import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=jobs)
    workers = jobs or getattr(executor, "_max_workers", None) or 2
    limit = max(2, workers * AHEAD_PER_WORKER)
    from collections import deque

    pending: deque[_Job] = deque()
    in_flight = 0
    try:
        it = iter(inputs)
        exhausted = False
        while True:
            # Keep up to `limit` tasks submitted ahead of the result being waited for.
            while not exhausted and in_flight < limit:
                path = next(it, None)
                if path is None:
                    exhausted = True
                    break
                job = _plan(path, sysroot, max_frames)
                for fn, args in job.tasks:
                    job.futures.append(executor.submit(fn, *args))
                in_flight += len(job.futures)
                pending.append(job)
            if not pending:
                break
            job = pending.popleft()
            in_flight -= len(job.futures)
            yield job.result()
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
