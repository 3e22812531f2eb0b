"""``Program``: a target with its modules, the entry point of the library (drgn's vocabulary)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from types import TracebackType

from .errors import DwarfUnwindError, TargetError
from .modules import ModuleMap, Problem, unique_problems
from .targets.base import Target, ThreadInfo
from .targets.files import check_directory, open_regular, printable
from .unwind.engine import DEFAULT_MAX_FRAMES, Unwinder
from .unwind.frame import StackTrace, StopReason

SNAPSHOT_MAGIC = b"DWUNSNAP"

#: At most this many module names are listed in the one line about problems no frame met.
_SUMMARY_NAMES = 4
#: Frames of all threads of one walk together (a frame holds its registers: ~0.5 KB, ~2.5 KB while the CLI
#: renders it as JSON). A hostile
#: core of 1,000 threads sharing one deep stack would otherwise build millions of frames.
#: Raise with DWARFUNWIND_MAX_TOTAL_FRAMES.
MAX_TOTAL_FRAMES = 1 << 16


class Program:
    """A stopped program (core, live process or snapshot) ready to unwind.

    Use it as a context manager: a live process is detached and left running
    when the block ends, whatever happens inside it.

    ``close()`` detaches a live process first, then releases the module files:
    stack traces kept afterwards hold no file open (a later lookup, such as
    ``frame.source()``, opens the file again through a small bounded cache, see
    :data:`dwarfunwind.modules.REOPEN_LIMIT`).
    """

    def __init__(self, target: Target, *, exe: str | None = None, sysroot: str | None = None) -> None:
        self.target = target
        try:
            self.modules = ModuleMap.from_target(target, exe=exe, sysroot=sysroot)
        except BaseException:
            target.close()
            raise
        self.unwinder = Unwinder(target, self.modules)
        self._exe = exe
        self._sysroot = sysroot

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def from_core(cls, path: str, *, exe: str | None = None, sysroot: str | None = None) -> "Program":
        """A core file. ``exe`` is the executable when the core's path to it is wrong or missing;
        ``sysroot`` a directory holding the crashed machine's files (it must exist).

        Modules come from the core's NT_FILE note or, without one, from NT_AUXV and
        the dynamic linker's ``r_debug`` list in the core's memory (as gdb does).
        """
        from .targets.core import CoreTarget

        if sysroot is not None:
            check_directory(sysroot, "--sysroot")
        return cls(CoreTarget(path, exe=exe, sysroot=sysroot), exe=exe, sysroot=sysroot)

    @classmethod
    def from_pid(cls, pid: int, *, stopped: bool = True) -> "Program":
        """A live process, read-only.

        With ``stopped=True`` (the default) every thread is stopped now and stays
        stopped until :meth:`close` (or the ``with`` block ends): one consistent
        snapshot, read as often as wanted.

        With ``stopped=False`` the process keeps running and each :meth:`sample`
        stops it, walks every thread and lets it run again: the way to profile.
        Modules and their cached rows stay warm across samples; call
        :meth:`refresh_modules` after the process has loaded new libraries.
        """
        from .targets.live import LiveTarget

        return cls(LiveTarget(pid, stopped=stopped))

    @classmethod
    def from_snapshot(cls, path: str, *, exe: str | None = None, sysroot: str | None = None) -> "Program":
        """A snapshot (docs/snapshot.md); ``exe`` replaces the executable mapped under its base name."""
        from .targets.snapshot import SnapshotTarget

        if sysroot is not None:
            check_directory(sysroot, "--sysroot")
        return cls(SnapshotTarget(path), exe=exe, sysroot=sysroot)

    @classmethod
    def open(cls, path: str, *, exe: str | None = None, sysroot: str | None = None) -> "Program":
        """A core file or a snapshot, told apart by their first bytes."""
        fd = open_regular(path, "core file or snapshot")
        try:
            magic = os.read(fd, 8)
        except OSError as e:
            raise TargetError(f"{printable(path)}: {e.strerror or e}") from None
        finally:
            os.close(fd)
        if magic.startswith(SNAPSHOT_MAGIC):
            return cls.from_snapshot(path, exe=exe, sysroot=sysroot)
        if magic.startswith(b"\x7fELF"):
            return cls.from_core(path, exe=exe, sysroot=sysroot)
        raise TargetError(f"{printable(path)}: neither an ELF core file nor a dwarfunwind snapshot")

    # -- use --------------------------------------------------------------------------------------

    def threads(self) -> list[ThreadInfo]:
        return list(self.target.threads())

    def stack_traces(self, *, method: str = "dwarf", max_frames: int = DEFAULT_MAX_FRAMES,
                     tids: Iterable[int] | None = None, inline: bool = False, demangle: bool = True,
                     total_frames: int | None = None) -> list[StackTrace]:
        """One trace per thread, the crashed thread first.

        ``inline`` fills ``frame.inlined`` (from DWARF, loaded on demand); ``demangle``
        shows C++ and Rust names as gdb does (``frame.linkage_name`` keeps the raw one).

        ``total_frames`` bounds the frames of all threads together (default
        MAX_TOTAL_FRAMES, or DWARFUNWIND_MAX_TOTAL_FRAMES): once spent, each
        remaining thread gets its first frame only, stopped with reason
        ``frame-limit`` and a detail naming the budget.

        A live process opened with ``stopped=False`` is sampled (:meth:`sample`):
        registers are never walked against memory that has moved on.
        """
        if getattr(self.target, "stopped", True) is False:
            return self.sample(method=method, max_frames=max_frames, tids=tids, inline=inline, demangle=demangle,
                               total_frames=total_frames)
        traces = self._walk(method=method, max_frames=max_frames, tids=tids, total_frames=total_frames)
        _annotate(traces, inline, demangle)
        return traces

    def _walk(self, *, method: str, max_frames: int, tids: Iterable[int] | None,
              total_frames: int | None) -> list[StackTrace]:
        from .cfi.budget import Budget

        budget = total_frames if total_frames is not None else _env_int("DWARFUNWIND_MAX_TOTAL_FRAMES",
                                                                        MAX_TOTAL_FRAMES)
        initial = budget
        wanted = set(tids) if tids is not None else None
        work = Budget(getattr(self.target, "name", "") or "")  # the CFI work budget, shared by all threads
        out = []
        for thread in self.target.threads():
            if wanted is not None and thread.tid not in wanted:
                continue
            limit = max(1, min(max_frames, budget))
            trace = self.unwinder.unwind_thread(thread, method=method, max_frames=limit, budget=work)
            budget -= len(trace.frames)
            if budget <= 0 and trace.stop_reason is StopReason.FRAME_LIMIT and limit < max_frames:
                trace.stop_detail = (f"the budget of {initial} frames for all threads "
                                     "is spent (DWARFUNWIND_MAX_TOTAL_FRAMES raises it)")
            out.append(trace)
        self._name_jit_frames(out)
        return out

    def _name_jit_frames(self, traces: list[StackTrace]) -> None:
        """Frames in code outside every module (a JIT's) named from its ``/tmp/perf-PID.map``, for a
        live process (dwarfunwind/symbolize/perfmap.py); the walk got there with frame pointers."""
        jit_symbols = getattr(self.target, "jit_symbols", None)
        if jit_symbols is None:
            return  # a core or a snapshot: its pid may belong to another process by now
        frames = [f for t in traces for f in t.frames if f.module is None and f.function is None]
        if not frames:
            return
        perf_map = jit_symbols()
        if perf_map is None:
            return
        for f in frames:
            perf_map.name(f)

    def stack_trace(self, tid: int | None = None, *, method: str = "dwarf",
                    max_frames: int = DEFAULT_MAX_FRAMES, inline: bool = False,
                    demangle: bool = True) -> StackTrace:
        """The trace of thread ``tid`` (default: the crashed or first thread).

        A live process opened with ``stopped=False`` is sampled for it (see :meth:`sample`).
        """
        if getattr(self.target, "stopped", True) is False:
            traces = self.sample(method=method, max_frames=max_frames, tids=None if tid is None else [tid],
                                 inline=inline, demangle=demangle)
            if tid is None and traces:
                return traces[0]
            found = next((t for t in traces if t.thread.tid == tid), None)
            if found is None:
                raise LookupError(f"{self.target.name}: no thread {tid}")
            return found
        threads = self.threads()
        if not threads:
            raise TargetError(f"{self.target.name}: no threads")
        thread = threads[0] if tid is None else next((t for t in threads if t.tid == tid), None)
        if thread is None:
            raise LookupError(f"{self.target.name}: no thread {tid}")
        trace = self.unwinder.unwind_thread(thread, method=method, max_frames=max_frames)
        self._name_jit_frames([trace])
        _annotate([trace], inline, demangle)
        return trace

    def annotate(self, traces: list[StackTrace], *, inline: bool = False, demangle: bool = True) -> None:
        """Inline chains and demangled names for traces walked with ``inline=False, demangle=False``.

        It reads module files only, never the target, so it also works after :meth:`close`
        (the CLI detaches from a live process first).
        """
        _annotate(traces, inline, demangle)

    def sample(self, *, method: str = "dwarf", max_frames: int = DEFAULT_MAX_FRAMES,
               tids: Iterable[int] | None = None, inline: bool = False, demangle: bool = True,
               total_frames: int | None = None) -> list[StackTrace]:
        """Stop the target, walk every thread, let it run again; return the traces.

        For a live process opened with ``from_pid(pid, stopped=False)`` each call
        is a new sample; the process runs between calls and is not traced then.
        For a core, a snapshot or an already stopped process it is
        :meth:`stack_traces`.
        """
        stop = getattr(self.target, "stop", None)
        resume = getattr(self.target, "resume", None)
        if stop is None or resume is None or getattr(self.target, "stopped", False):
            traces = self._walk(method=method, max_frames=max_frames, tids=tids, total_frames=total_frames)
        else:
            stop()
            try:
                traces = self._walk(method=method, max_frames=max_frames, tids=tids, total_frames=total_frames)
            finally:
                resume()
        _annotate(traces, inline, demangle)  # module files only: after the process runs again
        return traces

    def refresh_modules(self) -> None:
        """Read the target's mappings again (a live process loaded or unloaded libraries).

        Modules whose file is mapped at the same place are kept, with their caches.
        """
        old = {(m.path, m.start, m.bias): m for m in self.modules.modules}
        fresh = ModuleMap.from_target(self.target, exe=self._exe, sysroot=self._sysroot)
        kept = []
        for m in fresh.modules:
            prev = old.get((m.path, m.start, m.bias))
            if prev is not None:
                prev.end = m.end
                kept.append(prev)
                m.close()
            else:
                kept.append(m)
        new = ModuleMap(kept)
        new.problems = fresh.problems
        self.modules = new
        self.unwinder.modules = new  # which forgets its per-pc answers for the old map

    def save_snapshot(self, path: str, traces: Sequence[StackTrace]) -> None:
        """Write a snapshot (docs/snapshot.md) that replays ``traces``: every byte their walks read
        (with CFI and with frame pointers, for ``--method compare``), each thread's stack and the vDSO.

        Each thread is walked again only as far as its trace went (one step more, for the reads
        that ended it), so ``-n`` and the frame budget hold.
        ``path`` must be a new name or a regular file (TargetError otherwise, naming it).
        """
        from .targets.recording import RecordingTarget
        from .targets.snapshot import save_snapshot

        recorder = RecordingTarget(self.target)
        unwinder = Unwinder(recorder, self.modules)
        for t in traces:
            limit = len(t.frames) + 1  # one step more: the reads that ended the walk are kept too
            unwinder.unwind_thread(t.thread, method=t.method, max_frames=limit)
            unwinder.unwind_thread(t.thread, method="fp", max_frames=limit)
        for m in self.modules.modules:
            if m.path == "[vdso]":
                recorder.read_memory(m.start, m.end - m.start)
        save_snapshot(self.target, path, recorder.ranges())

    # -- problems -----------------------------------------------------------------------------------

    def _all_problems(self) -> list[Problem]:
        out = [Problem(printable(n)) for n in getattr(self.target, "notes", ())]
        out += self.modules.problems
        # Only symbolize modules that ran have something to say (importing them would cost start-up).
        for name in ("debuginfod", "demangle"):
            module = sys.modules.get(f"{__package__}.symbolize.{name}")
            if module is not None:
                out += [Problem(printable(str(text))) for text in module.problems()]
        for m in self.modules.modules:
            for e in m.file_errors:
                out.append(Problem(_with_name(m.name, e), m.path))
        return unique_problems(out)

    @property
    def problems(self) -> list[str]:
        """Everything that limits or may limit the walk, each said once, one line each.

        See :meth:`problems_for` for only those that touched given traces.
        """
        return [p.message for p in self._all_problems()]

    def problems_for(self, traces: Sequence[StackTrace]) -> list[str]:
        """The problems worth saying about these traces, each once, one line each.

        A problem of the target as a whole (a truncated core, an ``--exe`` whose
        build-id does not match) is always said. A problem of a module is said
        when a frame of these traces is in that module or the walk stopped
        there; those no frame met share one summary line at most. A complete,
        reliable walk of a healthy target has none.
        """
        touched: set[str] = set()
        stops: list[int] = []
        for t in traces:
            for f in t.frames:
                if f.module is not None:
                    touched.add(f.module.path)
            if t.frames and t.stop_reason in (StopReason.NO_MODULE, StopReason.NO_CFI):
                stops.append(t.frames[-1].pc)
        # A walk that stopped in a mapping touched that file, module or not.
        try:
            maps = self.target.mappings() if stops else []
        except DwarfUnwindError:  # a live process that has gone since
            maps = []
        unexplained = []
        for pc in stops:
            m = next((m for m in maps if m.start <= pc < m.end), None)
            if m is not None and m.path:
                touched.add(m.path)
                if self.modules.find(pc) is None:
                    unexplained.append((pc, m.path))
        said: list[str] = []
        quiet: list[Problem] = []
        concerned: set[str | None] = set()
        for p in self._all_problems():
            if p.module is None or p.always or p.module in touched:
                said.append(p.message)
                concerned.add(p.module)
            else:
                quiet.append(p)
        for pc, path in unexplained:
            if path not in concerned:
                said.append(f"{printable(path)}: the walk stopped at {pc:#x} in this mapping, which is not "
                            "an executable module")
        if quiet:
            names = []
            for p in quiet:
                name = printable(os.path.basename(p.module or "") or (p.module or ""))
                label = f"{name} ({p.short})" if p.short else name
                if label not in names:
                    names.append(label)
            more = f" and {len(names) - _SUMMARY_NAMES} more" if len(names) > _SUMMARY_NAMES else ""
            said.append(f"{len(names)} module(s) had problems but no frame entered them: "
                        f"{', '.join(names[:_SUMMARY_NAMES])}{more}")
        return list(dict.fromkeys(said))

    # -- end ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Detach a live process (first, so it runs again at once), then release module files.

        Idempotent and safe to call again after an interruption: each step
        finishes what the last one left.
        """
        self.target.close()
        self.modules.close()

    def __enter__(self) -> "Program":
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def _with_name(name: str, error: Exception) -> str:
    text = printable(str(error))
    return text if text.startswith(name) else f"{name}: {text}"


def _annotate(traces: list[StackTrace], inline: bool, demangle: bool) -> None:
    """Inline chains and demangled names (dwarfunwind.symbolize), imported only when there is work:
    a C program's plain walk has no mangled name."""
    if not inline and not demangle:
        return  # fresh frames already carry the symbol table's own names
    if inline or any(f.linkage_name is not None and f.linkage_name.startswith(("_Z", "_R"))
                     for t in traces for f in t.frames):
        from .symbolize import annotate

        annotate(traces, inline=inline, demangle=demangle)
