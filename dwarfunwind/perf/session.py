"""Replaying a perf.data stream: processes, their module maps over time, and each sample unwound.

One :class:`~dwarfunwind.unwind.engine.Unwinder` per process lives across all
its samples: modules are opened once per mapping and their CFI rows and
symbols stay cached, which is what makes a profile cheap to unwind.
"""

from __future__ import annotations

import os

from ..cfi.budget import Budget
from ..modules import Module, ModuleMap
from ..targets.base import Mapping, ThreadInfo
from ..unwind.engine import DEFAULT_MAX_FRAMES, Unwinder
from ..unwind.frame import StackTrace, StopReason
from .callchain import PERF_CONTEXT_KERNEL
from .kernel import KernelSymbols, kernel_pcs, load_kernel_symbols
from .memo import SuffixMemo
from .reader import Comm, Fork, Mmap, PerfData, Sample
from .target import FileCache, ProcessTarget, vdso_image, vdso_unknown

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Iterable, Iterator

    from ..symbolize.perfmap import PerfMap
    from ..unwind.frame import Frame

#: At most this many processes are tracked at once (a corrupt stream could fork forever).
MAX_PROCESSES = 1 << 16


def _demangle(frames: list[Frame]) -> None:
    """Demangled names for ``frames`` (C++ or Rust ones): symbolize is imported only for such a profile."""
    if frames:
        from ..symbolize import annotate_frames

        annotate_frames(frames)


#: What perf records as the path of anonymous memory (is_anon_memory, is_no_dso_memory): no file to open.
_ANONYMOUS = ("//anon", "/anon_hugepage", "/dev/zero", "/SYSV")

#: The kernel frames of a sample taken in user space.
_NO_KERNEL: list[tuple[int, str | None, int]] = []


class UnwoundSample:
    """A sample and its walk: ``trace.frames`` from the sampled pc outwards."""

    __slots__ = ("sample", "comm", "trace", "index", "kernel")

    def __init__(self, sample: Sample, comm: str | None, trace: StackTrace, index: int = 0,
                 kernel: list[tuple[int, str | None, int]] | None = None) -> None:
        self.sample = sample
        self.comm = comm
        self.trace = trace
        #: Position among all samples of the file in delivery (time) order, selected or not.
        self.index = index
        #: A sample taken in the kernel: the kernel's callchain, innermost first, as
        #: ``(address, name or None, offset in the function)`` (dwarfunwind/perf/kernel.py).
        self.kernel = kernel if kernel is not None else _NO_KERNEL

    def __repr__(self) -> str:
        s = self.sample
        return f"UnwoundSample(pid={s.pid}, tid={s.tid}, time={s.time}, {len(self.trace.frames)} frames)"


class _GroupTarget:
    """The mappings of one file, so ModuleMap.from_target builds exactly one module from them."""

    def __init__(self, process: ProcessTarget, maps: list[Mapping]) -> None:
        self.name = process.name
        self._process = process
        self._maps = maps

    def threads(self) -> list[ThreadInfo]:
        return []

    def mappings(self) -> list[Mapping]:
        return self._maps

    def read_memory(self, address: int, size: int) -> bytes:
        return self._process.read_memory(address, size)

    def close(self) -> None:
        pass


class _Process:
    __slots__ = ("target", "comm", "unwinder", "modules", "stale", "memo", "budget")

    def __init__(self, target: ProcessTarget, comm: str | None) -> None:
        self.target = target
        self.comm = comm
        self.unwinder: Unwinder | None = None
        #: Modules by (path, start, file offset of the first mapping): kept across map changes.
        self.modules: dict[tuple[str, int, int], Module] = {}
        self.stale = True
        #: Walk suffixes of this process's samples, valid until its module map changes.
        self.memo = SuffixMemo()
        #: Each sample's walk gets this budget with nothing spent (docs/security.md).
        self.budget = Budget(target.name)


class PerfUnwinder:
    """Unwinds every sample of a perf.data file, process by process, in time order.

    >>> with PerfData.open("perf.data") as data:
    ...     for s in PerfUnwinder(data).samples():
    ...         print(s.sample.pid, [hex(f.pc) for f in s.trace.frames])

    ``samples()`` raises :class:`~dwarfunwind.perf.reader.PerfDataError` where
    the file is damaged, after yielding every sample before it.
    """

    def __init__(self, data: PerfData, *, pids: Iterable[int] | None = None, comms: Iterable[str] | None = None,
                 max_frames: int = DEFAULT_MAX_FRAMES, sysroot: str | None = None, demangle: bool = True,
                 memo: bool = True) -> None:
        self.data = data
        self.pids = set(pids) if pids is not None else None
        self.comms = set(comms) if comms is not None else None
        self.max_frames = max_frames
        self.sysroot = sysroot
        #: Show C++ and Rust names demangled (as perf script does); the raw name stays in ``frame.linkage_name``.
        self.demangle = demangle
        #: Take the callers' part of a walk from an earlier sample of the process where it provably
        #: repeats (perf/memo.py); False steps every frame of every sample.
        self.memo = memo
        self.files = FileCache()
        self._processes: dict[int, _Process] = {}
        #: One module per (path, file offset of its first mapping, build-id), across processes.
        self._shared: dict[tuple[str, int, bytes | None], Module] = {}
        self._build_ids = {b.path: b.build_id for b in data.build_ids}
        self._nbuild = len(data.build_ids)
        self._problems: list[str] = []
        self._seen: set[str] = set()
        #: Once a sample had kernel frames: kallsyms (None: not usable, said once) and what to add to a
        #: recorded kernel address to look it up there (KASLR: _text now minus _text when recorded).
        self._kernel: tuple[KernelSymbols | None, int] | None = None
        self._kernel_text: int | None = None
        #: pid -> its JIT's perf map (None: none), read when a frame first lands outside every module.
        self._jit_maps: dict[int, PerfMap | None] = {}

    @property
    def problems(self) -> list[str]:
        """What limited the walks (missing modules, skipped records), each said once."""
        out = list(self.data.problems) + self._problems
        for m in [*self._shared.values(), *(m for p in self._processes.values() for m in p.modules.values())]:
            for e in m.elf.errors if m.elf is not None else ():
                text = f"{m.name}: {e}"
                if text not in out:
                    out.append(text)
        return out

    def _problem(self, text: str) -> None:
        if text not in self._seen:
            self._seen.add(text)
            self._problems.append(text)

    def mapping_at(self, pid: int, address: int) -> Mapping | None:
        """The mapping holding ``address`` in process ``pid`` as of the last sample yielded.

        ``address - m.start + m.offset`` is the file-relative address ``perf script`` prints.
        """
        p = self._processes.get(pid)
        if p is None:
            return None
        return next((m for m in p.target.maps if m.start <= address < m.end), None)

    def _process(self, pid: int) -> _Process:
        p = self._processes.get(pid)
        if p is None:
            if len(self._processes) >= MAX_PROCESSES:
                self._processes.pop(next(iter(self._processes)))
            # pid 0 is the idle task: no COMM record names it, and perf script calls it swapper.
            p = _Process(ProcessTarget(pid, f"{self.data.name} pid {pid}", self.files), "swapper" if pid == 0 else None)
            self._processes[pid] = p
        return p

    def samples(self) -> Iterator[UnwoundSample]:
        """Each selected sample, unwound, in time order."""
        index = -1
        pids, comms, processes = self.pids, self.comms, self._processes
        for rec in self.data.records():
            if isinstance(rec, Sample):
                index += 1
                pid = rec.pid
                if pid < 0 or (pids is not None and pid not in pids):
                    continue
                p = processes.get(pid) or self._process(pid)
                if comms is not None and p.comm not in comms:
                    continue
                chain = rec.callchain
                yield UnwoundSample(rec, p.comm, self._unwind(p, rec), index,
                                    self._kernel_frames(chain) if chain and chain[0] == PERF_CONTEXT_KERNEL else None)
            elif isinstance(rec, Mmap):
                if rec.path.startswith("[kernel.kallsyms]"):  # "[kernel.kallsyms]_text": pgoff is _text
                    self._kernel_text = rec.pgoff
                p = self._process(rec.pid)
                if self._nbuild != len(self.data.build_ids):  # pipe mode: build-ids arrive as records
                    self._nbuild = len(self.data.build_ids)
                    self._build_ids = {b.path: b.build_id for b in self.data.build_ids}
                bid = rec.build_id or self._build_ids.get(rec.path)
                p.target.add_mapping(Mapping(rec.start, rec.start + rec.length, rec.pgoff, rec.path,
                                             executable=rec.executable, build_id=bid))
                if rec.path == "[vdso]":
                    release = self.data.info.get("osrelease")
                    p.target.vdso = vdso_image(bid, rec.length, release is not None and release == os.uname().release)
                p.stale = True
            elif isinstance(rec, Comm):
                if rec.pid == rec.tid or rec.exec:
                    p = self._process(rec.pid)
                    p.comm = rec.comm
                    if rec.exec:  # a new program: the old address space is gone
                        p.target.maps, p.target._starts = [], []
                        p.modules.clear()
                        p.stale = True
            elif isinstance(rec, Fork):
                if rec.exit:
                    if rec.pid == rec.tid:
                        self._processes.pop(rec.pid, None)
                elif rec.pid != rec.ppid and rec.pid not in self._processes:
                    child = self._process(rec.pid)
                    parent = self._processes.get(rec.ppid)
                    if parent is not None:  # a fork copies the address space
                        child.comm = parent.comm
                        child.target.maps = list(parent.target.maps)
                        child.target._starts = list(parent.target._starts)
                        child.target.vdso = parent.target.vdso
                        child.modules = dict(parent.modules)

    def _unwind(self, p: _Process, sample: Sample) -> StackTrace:
        target = p.target
        target.set_sample(sample.tid, sample.regs, sample.stack_buffer, p.comm, sample.stack_offset, sample.stack_size)
        if p.stale:
            self._rebuild(p)
        unwinder = p.unwinder
        assert unwinder is not None
        if sample.regs:
            # A fresh budget for each walk: the process's, with nothing spent (no new object per
            # sample; nothing holds a budget past its walk).
            budget = p.budget
            budget.expression_steps = budget.cfi_work = 0
            trace = unwinder.unwind_thread(target.thread, max_frames=self.max_frames, budget=budget,
                                           memo=p.memo if self.memo else None)
            taken = p.memo.taken_at if self.memo else None
        else:
            trace = self._unwalked(unwinder, target.thread, sample)
            taken = None
        # Names for the new frames (frames taken from the memo got theirs when first seen): C++ and
        # Rust ones demangled, as unwind does it (demangle_all remembers every name, so a child runs
        # only for new ones), and frames in a JIT's anonymous code named from its perf map.
        frames = trace.frames
        new = []
        for i in range(len(frames) if taken is None else taken):  # (usually 1: no comprehension call)
            f = frames[i]
            name = f.linkage_name
            if name is None:
                if f.module is None:
                    self._name_jit(sample.pid, f)
            elif self.demangle and name[:2] in ("_Z", "_R"):
                new.append(f)
        if new:
            _demangle(new)
        return trace

    def _name_jit(self, pid: int, frame: Frame) -> None:
        """A frame in anonymous code named from the JIT's ``/tmp/perf-PID.map``, as perf script names it
        (read, as perf reads it, only if owned by the user running this or root)."""
        if pid in self._jit_maps:
            perf_map = self._jit_maps[pid]
        else:
            from ..symbolize.perfmap import read_perf_map

            if len(self._jit_maps) >= MAX_PROCESSES:
                self._jit_maps.clear()
            perf_map, why = read_perf_map(pid, os.geteuid())
            self._jit_maps[pid] = perf_map
            if why is not None:
                self._problem(why)
        if perf_map is not None:
            perf_map.name(frame)

    def _kernel_frames(self, callchain: list[int]) -> list[tuple[int, str | None, int]]:
        """The kernel part of a callchain, named from kallsyms when this machine runs the recorded kernel."""
        if self._kernel is None:
            symbols, delta, why = load_kernel_symbols(self._build_ids.get("[kernel.kallsyms]"), self._kernel_text)
            self._kernel = symbols, delta
            if why is not None:
                self._problem(why)
        table, delta = self._kernel
        out: list[tuple[int, str | None, int]] = []
        for pc in kernel_pcs(callchain):
            hit = table.lookup(pc + delta) if table is not None else None
            out.append((pc, hit[0], hit[1]) if hit is not None else (pc, None, 0))
        return out

    def _unwalked(self, unwinder: Unwinder, thread: ThreadInfo, sample: Sample) -> StackTrace:
        """A sample without user registers: perf's callchain (``perf record -g``) or its ip, as perf script shows."""
        from .callchain import callchain_trace, user_pcs

        if sample.attr.sample_regs_user:
            what = "the sample has no user registers"  # a kernel thread's, or a sample in the kernel
        else:
            self._problem("the samples have no user registers or stack to unwind (not recorded with "
                          "--call-graph dwarf): their frames are perf's own callchains (frame pointers), "
                          "or the sampled pc")
            what = ""
        trace = callchain_trace(unwinder, thread, user_pcs(sample.callchain, sample.ip, self.max_frames))
        if what and not trace.frames:
            trace.stop_reason, trace.stop_detail = StopReason.REGISTER, what
        return trace

    def _rebuild(self, p: _Process) -> None:
        """The process's module map after mappings changed, reusing every module already open."""
        groups: dict[str, list[Mapping]] = {}
        for m in p.target.maps:
            if m.path and (m.path.startswith("/") or m.path == "[vdso]") and not m.path.startswith(_ANONYMOUS):
                groups.setdefault(m.path, []).append(m)
        modules = []
        for path, maps in groups.items():
            if not any(m.executable for m in maps):
                continue  # data files, locale archives: not modules
            if path == "[vdso]" and p.target.vdso is None:
                self._problem(vdso_unknown(maps[0].build_id))  # (a read of its memory would just fail)
                continue
            key = (path, maps[0].start, maps[0].offset)
            module = p.modules.get(key)
            if module is None:
                # The same file mapped by another process: share its decoded ELF (CFI, symbols), rebias.
                shared_key = (path, maps[0].offset, maps[0].build_id)
                template = self._shared.get(shared_key) if path != "[vdso]" else None
                if template is not None:
                    module = Module(path, maps[0].start, maps[0].end,
                                    template.bias + (maps[0].start - template.start), template.elf)
                else:
                    built = ModuleMap.from_target(_GroupTarget(p.target, maps), sysroot=self.sysroot)
                    for problem in built.problems:
                        self._problem(problem.message)
                    if not built.modules:
                        continue
                    module = built.modules[0]
                    if len(self._shared) < 4096:
                        self._shared[shared_key] = module
                p.modules[key] = module
            module.end = max(m.end for m in maps)
            modules.append(module)
        p.memo.clear()
        if p.unwinder is None:
            p.unwinder = Unwinder(p.target, ModuleMap(modules))
        else:
            p.unwinder.modules = ModuleMap(modules)
        p.stale = False

    def close(self) -> None:
        self.files.close()
