"""``Program``: a target with its modules, the entry point of the library (drgn's vocabulary)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import TracebackType

from .errors import TargetError
from .modules import ModuleMap
from .targets.base import Target, ThreadInfo
from .unwind.engine import DEFAULT_MAX_FRAMES, Unwinder
from .unwind.frame import StackTrace

SNAPSHOT_MAGIC = b"DWUNSNAP"


class Program:
    """A stopped program (core, live process or snapshot) ready to unwind.

    Use it as a context manager: a live process is detached and left running
    when the block ends, whatever happens inside it.
    """

    def __init__(self, target: Target, *, exe: str | None = None, sysroot: str | None = None) -> None:
        self.target = target
        try:
            self.modules = ModuleMap.from_target(target, exe=exe, sysroot=sysroot)
        except BaseException:
            target.close()
            raise
        self.unwinder = Unwinder(target, self.modules)

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def from_core(cls, path: str, *, exe: str | None = None, sysroot: str | None = None) -> "Program":
        from .targets.core import CoreTarget

        return cls(CoreTarget(path, exe=exe, sysroot=sysroot), exe=exe, sysroot=sysroot)

    @classmethod
    def from_pid(cls, pid: int) -> "Program":
        from .targets.live import LiveTarget

        return cls(LiveTarget(pid))

    @classmethod
    def from_snapshot(cls, path: str, *, sysroot: str | None = None) -> "Program":
        from .targets.snapshot import SnapshotTarget

        return cls(SnapshotTarget(path), sysroot=sysroot)

    @classmethod
    def open(cls, path: str, *, exe: str | None = None, sysroot: str | None = None) -> "Program":
        """A core file or a snapshot, told apart by their first bytes."""
        try:
            with open(path, "rb") as f:
                magic = f.read(8)
        except OSError as e:
            raise TargetError(f"{path}: {e.strerror or e}") from None
        if magic.startswith(SNAPSHOT_MAGIC):
            return cls.from_snapshot(path, sysroot=sysroot)
        if magic.startswith(b"\x7fELF"):
            return cls.from_core(path, exe=exe, sysroot=sysroot)
        raise TargetError(f"{path}: neither an ELF core file nor a dwarfunwind snapshot")

    # -- use --------------------------------------------------------------------------------------

    def threads(self) -> list[ThreadInfo]:
        return list(self.target.threads())

    def stack_traces(self, *, method: str = "dwarf", max_frames: int = DEFAULT_MAX_FRAMES,
                     tids: Iterable[int] | None = None, inline: bool = False,
                     demangle: bool = True) -> list[StackTrace]:
        """One trace per thread, the crashed thread first.

        ``inline`` fills ``frame.inlined`` (from DWARF, loaded on demand); ``demangle``
        shows C++ and Rust names as gdb does (``frame.linkage_name`` keeps the raw one).
        """
        traces = self.unwinder.unwind(method=method, max_frames=max_frames, tids=tids)
        _annotate(traces, inline, demangle)
        return traces

    def stack_trace(self, tid: int | None = None, *, method: str = "dwarf",
                    max_frames: int = DEFAULT_MAX_FRAMES, inline: bool = False,
                    demangle: bool = True) -> StackTrace:
        """The trace of thread ``tid`` (default: the crashed or first thread)."""
        threads = self.threads()
        if not threads:
            raise TargetError(f"{self.target.name}: no threads")
        thread = threads[0] if tid is None else next((t for t in threads if t.tid == tid), None)
        if thread is None:
            raise LookupError(f"{self.target.name}: no thread {tid}")
        trace = self.unwinder.unwind_thread(thread, method=method, max_frames=max_frames)
        _annotate([trace], inline, demangle)
        return trace

    def annotate(self, traces: list[StackTrace], *, inline: bool = False, demangle: bool = True) -> None:
        """Inline chains and demangled names for traces walked with ``inline=False, demangle=False``.

        It reads module files only, never the target, so it also works after :meth:`close`
        (the CLI detaches from a live process first).
        """
        _annotate(traces, inline, demangle)

    @property
    def problems(self) -> list[str]:
        """Things that limit the walk, each said once: missing modules, undecodable CFI."""
        out = list(self.modules.problems)
        seen = set(out)
        for m in self.modules.modules:
            if m.elf is not None:
                for e in m.elf.errors:
                    text = f"{m.name}: {e}"
                    if text not in seen:
                        seen.add(text)
                        out.append(text)
        # Only modules that ran have something to say (and importing them would cost start-up).
        for name in ("debuginfod", "demangle"):
            module = sys.modules.get(f"{__package__}.symbolize.{name}")
            if module is not None:
                out.extend(module.problems())
        return out

    def close(self) -> None:
        self.target.close()

    def __enter__(self) -> "Program":
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _annotate(traces: list[StackTrace], inline: bool, demangle: bool) -> None:
    """Inline chains and demangled names (dwarfunwind.symbolize), imported only when there is work:
    a C program's plain walk has no mangled name."""
    if not inline and not demangle:
        return  # fresh frames already carry the symbol table's own names
    if inline or any(f.linkage_name is not None and f.linkage_name.startswith(("_Z", "_R"))
                     for t in traces for f in t.frames):
        from .symbolize import annotate

        annotate(traces, inline=inline, demangle=demangle)
