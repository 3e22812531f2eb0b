"""The modules (executable, shared libraries, vDSO) loaded in a target, and their load biases.

A :class:`Module` ties a runtime address range to an :class:`ElfFile` and the
bias between the file's addresses and the process's. :class:`ModuleMap` finds
the module of a pc; it is built once per target from its file mappings.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable

from .cfi.budget import Budget
from .cfi.rules import Row
from .elf.module import ElfFile
from .elf.reader import PT_LOAD, ELFReader
from .errors import BudgetExceeded, DwarfUnwindError, ELFError, MemoryReadError
from .targets.base import Mapping, Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .symbolize.symcache import SourceLocation

#: The vDSO is at most a few pages; refuse to read a "vDSO" larger than this.
MAX_VDSO_SIZE = 1 << 20


class Module:
    """One loaded ELF image: runtime ``[start, end)``, ``bias`` = runtime address - file address."""

    __slots__ = ("path", "start", "end", "bias", "elf", "_rows", "_syms", "recorded_build_id")

    def __init__(self, path: str, start: int, end: int, bias: int, elf: ElfFile | None, *,
                 recorded_build_id: bytes | None = None) -> None:
        self.path = path
        self.start = start
        self.end = end
        self.bias = bias
        self.elf = elf
        #: The build-id the target recorded for this module (NT_FILE or its first page), when known:
        #: what to look a missing file up by.
        self.recorded_build_id = recorded_build_id
        self._rows: dict[int, Row | None] = {}
        self._syms: dict[int, tuple[str, int] | None] = {}

    def __repr__(self) -> str:
        return f"Module({self.path!r}, {self.start:#x}..{self.end:#x}, bias={self.bias:#x})"

    @property
    def name(self) -> str:
        """The file name without directories (``libc.so.6``, ``[vdso]``)."""
        return os.path.basename(self.path) or self.path

    def row_for(self, pc: int, budget: Budget | None = None) -> Row | None:
        """The CFI row governing runtime address ``pc`` (cached: profilers ask for the same pcs).

        The decoding is charged to ``budget``; BudgetExceeded propagates (nothing is cached).
        """
        try:
            return self._rows[pc]
        except KeyError:
            pass
        row = None
        if self.elf is not None:
            try:
                row = self.elf.row_for(pc - self.bias, budget)
            except BudgetExceeded:
                raise
            except DwarfUnwindError as e:
                self.elf.errors.append(e)
        if len(self._rows) < 65536:
            self._rows[pc] = row
        return row

    def source(self, pc: int) -> tuple[str, int] | None:
        """(file, line) in the function containing runtime address ``pc`` (see ElfFile.source)."""
        return self.elf.source(pc - self.bias) if self.elf is not None else None

    def source_chain(self, pc: int) -> list[SourceLocation]:
        """The inline chain at runtime address ``pc``, innermost first (see ElfFile.source_chain)."""
        return self.elf.source_chain(pc - self.bias) if self.elf is not None else []

    def symbolize(self, pc: int) -> tuple[str, int] | None:
        """(function, offset) for runtime address ``pc``."""
        try:
            return self._syms[pc]
        except KeyError:
            pass
        sym = self.elf.symbolize(pc - self.bias) if self.elf is not None else None
        if len(self._syms) < 65536:
            self._syms[pc] = sym
        return sym


class ModuleMap:
    """Modules sorted by address, with a fast lookup of the module containing a pc."""

    def __init__(self, modules: Iterable[Module]) -> None:
        self.modules = sorted(modules, key=lambda m: m.start)
        self._starts = [m.start for m in self.modules]
        #: Problems met while finding modules (missing files, build-id mismatches), said once each.
        self.problems: list[str] = []

    def find(self, pc: int) -> Module | None:
        i = bisect.bisect_right(self._starts, pc) - 1
        if i >= 0 and pc < self.modules[i].end:
            return self.modules[i]
        return None

    @classmethod
    def from_target(cls, target: Target, *, exe: str | None = None, sysroot: str | None = None) -> "ModuleMap":
        """Group the target's file mappings into modules and open their files.

        ``exe`` replaces the executable's path (the mapping of that base name,
        or else the lowest file mapping); ``sysroot`` is prefixed to the paths a
        core names. The vDSO is read from the target's own memory.
        """
        mappings = sorted(target.mappings(), key=lambda m: m.start)
        groups: dict[str, list[Mapping]] = {}
        for m in mappings:
            if m.path and (m.path.startswith("/") or m.path == "[vdso]"):
                groups.setdefault(m.path, []).append(m)
        exe_path = None
        if exe:
            base = os.path.basename(exe)
            exe_path = next((p for p in groups if os.path.basename(p) == base), None)
            if exe_path is None and groups:
                exe_path = min(groups, key=lambda p: groups[p][0].start)
        problems: list[str] = []
        modules = []
        for path, maps in groups.items():
            if path == "[vdso]":
                module = _vdso_module(target, maps[0], problems)
            else:
                module = _file_module(path, maps, exe if path == exe_path else None, sysroot, target, problems)
            if module is not None:
                module.end = max(m.end for m in maps)  # the module spans all its mappings
                modules.append(module)
        result = cls(modules)
        result.problems = problems
        return result


def _candidates(path: str, override: str | None, sysroot: str | None, build_id: bytes | None) -> list[str]:
    """Where the file the target maps at ``path`` may be, best first.

    ``--exe``, then the path under ``--sysroot``, then the path itself, then the
    build-id links distributions keep (``/usr/lib/.build-id/xx/rest``, under the
    sysroot first): a module from another machine is matched by its build-id.
    """
    out = [override] if override else []
    roots = [sysroot, "/"] if sysroot else ["/"]
    if sysroot:
        out.append(os.path.join(sysroot, path.lstrip("/")))
    out.append(path)
    if build_id and len(build_id) > 1:
        h = build_id.hex()
        out += [os.path.join(root, "usr/lib/.build-id", h[:2], h[2:]) for root in roots]
    return [c for c in out if os.path.isfile(c)]


def _bias(reader: ELFReader, first: Mapping) -> int:
    """Bias from the first mapping of a file: the PT_LOAD holding its file offset says its vaddr."""
    for seg in reader.segments:
        if seg.type == PT_LOAD and seg.offset <= first.offset < seg.offset + max(seg.filesz, 1):
            return first.start - (seg.vaddr + (first.offset - seg.offset))
    for seg in reader.segments:
        if seg.type == PT_LOAD:
            return first.start - (seg.vaddr - seg.offset + first.offset)
    return first.start - first.offset


def _memory_build_id(target: Target, first: Mapping) -> bytes | None:
    """The build-id of the image mapped at ``first`` as the target has it in memory (first page)."""
    try:
        page = target.read_memory(first.start, 4096)
        return ELFReader(page, "memory").build_id()
    except (DwarfUnwindError, ValueError):
        return None


def _file_module(path: str, maps: list[Mapping], override: str | None, sysroot: str | None, target: Target,
                 problems: list[str]) -> Module | None:
    want = maps[0].build_id or _memory_build_id(target, maps[0])
    chosen: ElfFile | None = None
    for candidate in _candidates(path, override, sysroot, want):
        try:
            elf = ElfFile.open(candidate)
        except ELFError as e:
            problems.append(str(e))
            continue
        have = elf.build_id
        if not want or not have or have == want:
            chosen = elf
            break
        if chosen is None:
            chosen = elf  # the best by path, kept in case nothing matches by build-id
    if chosen is None and want:
        from .symbolize import debuginfod

        fetched = debuginfod.fetch(want, "executable", os.path.basename(path)) if debuginfod.enabled() else None
        if fetched is not None:
            try:
                chosen = ElfFile.open(fetched)
            except ELFError as e:
                problems.append(str(e))
    if chosen is None:
        problems.append(f"{path}: module not found; frames in it have no CFI or symbols")
        return Module(path, maps[0].start, maps[0].end, 0, None, recorded_build_id=want)
    have = chosen.build_id
    if want and have and want != have:
        problems.append(f"{chosen.path}: build-id {have.hex()} does not match the target's {want.hex()}; "
                        "using it anyway")
    try:
        first = next((m for m in maps if m.offset == 0), maps[0])
        bias = _bias(chosen.reader, first)
    except ELFError as e:
        problems.append(str(e))
        return Module(path, maps[0].start, maps[0].end, 0, None, recorded_build_id=want)
    return Module(path, maps[0].start, maps[0].end, bias, chosen, recorded_build_id=want)


def _vdso_module(target: Target, m: Mapping, problems: list[str]) -> Module | None:
    size = m.end - m.start
    if size > MAX_VDSO_SIZE:
        problems.append(f"[vdso] at {m.start:#x}: {size} bytes is too large for a vDSO")
        return None
    try:
        image = target.read_memory(m.start, size)
        elf = ElfFile(ELFReader(image, "[vdso]"), find_debug=False)
    except (MemoryReadError, ELFError) as e:
        problems.append(f"[vdso]: {e}")
        return None
    return Module("[vdso]", m.start, m.end, _bias(elf.reader, m), elf)
