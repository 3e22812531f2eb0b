"""The modules (executable, shared libraries, vDSO) loaded in a target, and their load biases.

A :class:`Module` ties a runtime address range to an :class:`ElfFile` and the
bias between the file's addresses and the process's. :class:`ModuleMap` finds
the module of a pc; it is built once per target from its file mappings.
"""

from __future__ import annotations

import bisect
import mmap
import os
from collections import OrderedDict

from .cfi.budget import Budget
from .cfi.rules import Row
from .elf.module import ElfFile
from .elf.reader import PT_LOAD, ELFReader
from .errors import BudgetExceeded, DwarfUnwindError, ELFError, MemoryReadError
from .targets.base import Mapping, Target
from .targets.files import DELETED, candidate_paths, check_directory, is_regular, printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:  # typing costs ~5 ms of start-up (dwarfunwind/_typing.py)
    from ._typing import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from .symbolize.symcache import SourceLocation

#: Register rules the row cache of one module may hold (about 70 bytes each; a libc walk needs ~10 per row).
MAX_CACHED_RULES = 1 << 20
#: The vDSO is at most a few pages; refuse to read a "vDSO" larger than this.
MAX_VDSO_SIZE = 1 << 20


#: How many module files closed programs may have open again at once (for lookups after close()).
REOPEN_LIMIT = 16
_reopened: OrderedDict[str, ElfFile] = OrderedDict()



def _reopen(path: str, build_id: bytes | None) -> ElfFile:
    """``path`` open again for a module whose program was closed: at most REOPEN_LIMIT files stay open."""
    elf = _reopened.get(path)
    if elf is not None:
        _reopened.move_to_end(path)
        return elf
    elf = ElfFile.open(path)
    if build_id and elf.build_id and elf.build_id != build_id:
        elf.close()
        raise ELFError(f"{printable(path)}: changed on disk since it was loaded (build-id differs)")
    _reopened[path] = elf
    while len(_reopened) > REOPEN_LIMIT:
        _reopened.popitem(last=False)[1].close()
    return elf


class Module:
    """One loaded ELF image: runtime ``[start, end)``, ``bias`` = runtime address - file address.

    After :meth:`close` the module holds no file open: rows and symbols already
    looked up are kept, and a new lookup opens the file again through a small
    process-wide cache of at most ``REOPEN_LIMIT`` files, so results kept after
    their program is closed cannot exhaust file descriptors.
    """

    __slots__ = ("path", "start", "end", "bias", "elf", "_rows", "_row_rules", "_syms", "_closed", "_file", "_build_id",
                 "_file_errors", "errors", "recorded_build_id")

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
        self._row_rules = 0  # register rules held by the cached rows: the cache is bounded by this
        self._syms: dict[int, tuple[str, int] | None] = {}
        self._closed = False
        self._file: str | None = None
        self._build_id: bytes | None = None
        #: (the ElfFile, its build-id): ElfFile.build_id walks the notes on every call, and JSON
        #: output asks for each frame's module.
        self._file_errors: list[DwarfUnwindError] = []
        #: Problems met after close() (the file could not be opened again).
        self.errors: list[DwarfUnwindError] = []

    def __repr__(self) -> str:
        return f"Module({self.path!r}, {self.start:#x}..{self.end:#x}, bias={self.bias:#x})"

    @property
    def name(self) -> str:
        """The file name without directories (``libc.so.6``, ``[vdso]``), printable whatever its bytes."""
        return printable(os.path.basename(self.path) or self.path)

    @property
    def file_errors(self) -> list[DwarfUnwindError]:
        """Problems met reading this module's file (CFI, symbols, debug info), before or after close()."""
        return self.errors + (self.elf.errors if self.elf is not None else self._file_errors)

    @property
    def file_path(self) -> str | None:
        """The ELF file serving this module (found by path, --exe, --sysroot or build-id), open or closed;
        None for a module without a file (a vDSO image read from memory, a file not found)."""
        if self.elf is not None:
            return self.elf.path if isinstance(getattr(self.elf.reader, "data", None), mmap.mmap) else None
        return self._file

    @property
    def build_id(self) -> bytes | None:
        """The GNU build-id of the file serving this module (open or closed), else the one the target
        recorded for it; None when neither is known."""
        if self.elf is not None:
            return self.elf.build_id  # (read once by its reader)
        return self._build_id if self._file is not None else self.recorded_build_id

    def _elf(self) -> ElfFile | None:
        if not self._closed or self._file is None:
            return self.elf
        try:
            elf = _reopen(self._file, self._build_id)
            elf.errors = self._file_errors  # what this lookup meets is this module's to say
            return elf
        except DwarfUnwindError as e:
            if not self.errors:
                self.errors.append(e)
            self._file = None  # said once; lookups after this find nothing
            return None

    def close(self) -> None:
        """Release this module's files; later lookups reopen them (bounded, see REOPEN_LIMIT)."""
        if self._closed:
            return
        self._closed = True
        elf = self.elf
        if elf is not None and isinstance(getattr(elf.reader, "data", None), mmap.mmap):
            self._file = elf.path
            self._build_id = elf.build_id
            self._file_errors = elf.errors
            elf.close()
            self.elf = None
        # A vDSO image read from memory holds no file: it is kept as it is.

    def row_for(self, pc: int, budget: Budget | None = None) -> Row | None:
        """The CFI row governing runtime address ``pc`` (cached: profilers ask for the same pcs).

        The decoding is charged to ``budget``; BudgetExceeded propagates (nothing is cached).
        """
        try:
            return self._rows[pc]
        except KeyError:
            pass
        row = None
        elf = self.elf if not self._closed else self._elf()
        if elf is not None:
            try:
                row = elf.row_for(pc - self.bias, budget)
            except BudgetExceeded:
                raise
            except DwarfUnwindError as e:
                elf.errors.append(e)
        # Bounded by the rules it holds, not only by entries: a hostile FDE's rows can each hold
        # hundreds of rules. The oldest entries go first (dicts keep insertion order).
        size = 1 + (len(row.regs) if row is not None else 0)
        while self._rows and (len(self._rows) >= 65536 or self._row_rules + size > MAX_CACHED_RULES):
            old = self._rows.pop(next(iter(self._rows)))
            self._row_rules -= 1 + (len(old.regs) if old is not None else 0)
        self._rows[pc] = row
        self._row_rules += size
        return row

    def source(self, pc: int) -> tuple[str, int] | None:
        """(file, line) in the function containing runtime address ``pc`` (see ElfFile.source)."""
        elf = self._elf()
        return elf.source(pc - self.bias) if elf is not None else None

    def source_chain(self, pc: int) -> list[SourceLocation]:
        """The inline chain at runtime address ``pc``, innermost first (see ElfFile.source_chain)."""
        elf = self._elf()
        return elf.source_chain(pc - self.bias) if elf is not None else []

    def symbolize(self, pc: int) -> tuple[str, int] | None:
        """(function, offset) for runtime address ``pc``."""
        try:
            return self._syms[pc]
        except KeyError:
            pass
        elf = self._elf()
        sym = elf.symbolize(pc - self.bias) if elf is not None else None
        if len(self._syms) < 65536:
            self._syms[pc] = sym
        return sym


class Problem(NamedTuple):
    """Something that limits the walk, said once, on one line.

    ``module`` is the path of the module it concerns (None: the target as a
    whole, e.g. a truncated core). ``always``: said even when no frame entered
    that module (an executable that does not match the core).
    """

    message: str
    module: str | None = None
    always: bool = False
    #: A few words for the one-line summary of problems no frame met ("not found", "build-id differs").
    short: str = ""


class ModuleMap:
    """Modules sorted by address, with a fast lookup of the module containing a pc."""

    def __init__(self, modules: Iterable[Module]) -> None:
        self.modules = sorted(modules, key=lambda m: m.start)
        self._starts = [m.start for m in self.modules]
        #: Problems met while finding modules (missing files, build-id mismatches), each once.
        self.problems: list[Problem] = []

    def find(self, pc: int) -> Module | None:
        i = bisect.bisect_right(self._starts, pc) - 1
        if i >= 0 and pc < self.modules[i].end:
            return self.modules[i]
        return None

    def close(self) -> None:
        """Release every module's file (see :meth:`Module.close`)."""
        for m in self.modules:
            m.close()

    @classmethod
    def from_target(cls, target: Target, *, exe: str | None = None, sysroot: str | None = None) -> "ModuleMap":
        """Group the target's executable file mappings into modules and open their files.

        A mapping is part of a module only if some mapping of the same file is
        executable: locale archives and other data files are not modules.
        ``exe`` replaces the file of the main executable (the target's
        ``main_executable()``, else the mapping with ``exe``'s base name);
        ``sysroot`` is searched first for every file (without one, a target may name its own: a
        live process in a container, ``/proc/PID/root``). The vDSO is read from the
        target's own memory.
        """
        if sysroot is not None:
            check_directory(sysroot, "--sysroot")
        else:  # a live process in a container: its files as it sees them (/proc/PID/root)
            default = getattr(target, "default_sysroot", None)
            sysroot = default() if callable(default) else None
        mappings = sorted(target.mappings(), key=lambda m: m.start)
        groups: dict[str, list[Mapping]] = {}
        for m in mappings:
            if m.path and (m.path == "[vdso]" or not (m.path.startswith("[") and m.path.endswith("]"))):
                groups.setdefault(m.path, []).append(m)
        problems: list[Problem] = []
        main = _main_executable(target, groups, exe)
        if exe is not None and main is None:
            problems.append(Problem(f"--exe {printable(exe)}: the target maps no executable to put it at; "
                                    "ignored", always=True))
        base_dirs = list(getattr(target, "search_dirs", lambda: [])())
        modules = []
        for path, maps in groups.items():
            if not any(m.executable for m in maps):
                continue  # data files, locale archives: not modules, and nothing to say
            if path == "[vdso]":
                module = _vdso_module(target, maps[0], problems)
            else:
                override = exe if path == main else None
                module = _file_module(path, maps, override, sysroot, base_dirs, target, problems,
                                      is_main=path == main)
            if module is not None:
                module.end = max(m.end for m in maps)  # the module spans all its mappings
                modules.append(module)
        result = cls(modules)
        result.problems = unique_problems(problems)
        return result


def unique_problems(problems: list[Problem]) -> list[Problem]:
    """``problems`` without repeats of the same message, in order."""
    seen: set[str] = set()
    out = []
    for p in problems:
        if p.message not in seen:
            seen.add(p.message)
            out.append(p)
    return out


def _main_executable(target: Target, groups: dict[str, list[Mapping]], exe: str | None) -> str | None:
    """The mapped path of the main executable: the target says (AT_PHDR), or the one named like ``exe``.

    Never "the lowest mapping": a library must not be put where the executable is.
    """
    known = getattr(target, "main_executable", None)
    path = known() if callable(known) else None
    if path is not None and path in groups:
        return str(path)
    if exe is not None:
        base = os.path.basename(exe)
        named = [p for p in groups if os.path.basename(p) == base and any(m.executable for m in groups[p])]
        if len(named) == 1:
            return named[0]
    return None


def with_name(name: str, error: Exception | str) -> str:
    """``error`` as one line that names ``name`` once (errors from the ELF reader already start with it)."""
    text = str(error)
    return text if text.startswith(name) else f"{name}: {text}"


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


def _memory_bias(target: Target, first: Mapping) -> int:
    """The bias of an image whose file was not found, from its ELF headers in the target's memory
    (the first page of a mapped ELF holds them), else ``start - offset`` of its first mapping (the
    load base of a PIE or shared library): ``module+0xOFFSET`` is then still a file address."""
    try:
        return _bias(ELFReader(target.read_memory(first.start, 4096), "memory"), first)
    except (DwarfUnwindError, ValueError):
        return first.start - first.offset


def _file_module(path: str, maps: list[Mapping], override: str | None, sysroot: str | None, base_dirs: list[str],
                 target: Target, problems: list[Problem], *, is_main: bool) -> Module | None:
    shown = printable(path)
    first_map = next((m for m in maps if m.offset == 0), maps[0])
    want = first_map.build_id or _memory_build_id(target, first_map)
    chosen: ElfFile | None = None
    errors: list[str] = []
    if override is not None and not is_regular(override):
        problems.append(Problem(f"--exe {printable(override)}: not a regular file; ignored", path, always=True))
        override = None
    rejected: list[str] = []
    candidates = candidate_paths(path, override=override, sysroot=sysroot, base_dirs=base_dirs,
                                 build_id=want, rejected=rejected)
    mapped_file = getattr(target, "mapped_file", None)
    live = mapped_file(first_map) if callable(mapped_file) else None
    if live is not None:
        # The file the process really maps: first when its path says it is gone from there (a
        # file at that path now may be a newer version, and without a build-id nothing tells),
        # else after the path (whose name reads better), for a build-id mismatch.
        if path.endswith(DELETED):
            candidates.insert(1 if override is not None and candidates[:1] == [override] else 0, live)
        else:
            candidates.append(live)
    for candidate in candidates:
        try:
            elf = ElfFile.open(candidate)
        except DwarfUnwindError as e:
            errors.append(with_name(printable(candidate), e))
            continue
        have = elf.build_id
        if not want or not have or have == want:
            if chosen is not None and chosen is not elf and override is not None and chosen.path == override:
                problems.append(Problem(
                    f"--exe {printable(override)}: build-id {_hex(chosen.build_id)} does not match the "
                    f"target's {want.hex() if want else '?'}; using {printable(candidate)}, which does",
                    path, always=True))
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
                problems.append(Problem(with_name(shown, e), path, short="unreadable"))
    if chosen is None:
        reason = errors[0] if errors else rejected[0] if rejected else None
        bias = _memory_bias(target, first_map)
        image = _memory_elf(target, path, maps, first_map, bias, problems, reason or f"{shown}: file not found")
        if image is None:
            problems.append(Problem(f"{reason or f'{shown}: module not found'}; frames in it have no CFI or symbols",
                                    path, short="not found"))
        return Module(path, maps[0].start, maps[0].end, bias, image, recorded_build_id=want)
    have = chosen.build_id
    if want and have and want != have and getattr(type(target), "memory_is_own", False):
        # The process's own bytes beat another build's file (a library replaced by an upgrade).
        bias = _memory_bias(target, first_map)
        image = _memory_elf(target, path, maps, first_map, bias, problems,
                            f"{printable(chosen.path)}: build-id {have.hex()} does not match the target's {want.hex()}")
        if image is not None:
            chosen.close()
            return Module(path, maps[0].start, maps[0].end, bias, image, recorded_build_id=want)
    if want and have and want != have:
        problems.append(Problem(f"{printable(chosen.path)}: build-id {have.hex()} does not match the target's "
                                f"{want.hex()}; using it anyway", path, always=is_main, short="build-id differs"))
    try:
        bias = _bias(chosen.reader, first_map)
    except ELFError as e:
        problems.append(Problem(with_name(shown, e), path, short="unreadable"))
        return Module(path, maps[0].start, maps[0].end, _memory_bias(target, first_map), None,
                      recorded_build_id=want)
    return Module(path, maps[0].start, maps[0].end, bias, chosen, recorded_build_id=want)


def _memory_elf(target: Target, path: str, maps: list[Mapping], first: Mapping, bias: int,
                problems: list[Problem], reason: str) -> ElfFile | None:
    """The module's CFI and dynamic symbols read from the target's memory (dwarfunwind/elf/memimage.py),
    said in one line that starts with ``reason``; None when its memory holds nothing usable."""
    from .elf.memimage import read_image

    shown = printable(path)
    found = read_image(target, shown, maps, first, bias)
    problems += [Problem(p, path, short="corrupt in memory") for p in found.problems]
    if found.image is None:
        return None
    try:
        elf = ElfFile(ELFReader(found.image, shown))
    except ELFError as e:  # not expected: the image is ours; said rather than raised all the same
        problems.append(Problem(with_name(shown, e), path, short="unreadable"))
        return None
    problems.append(Problem(f"{reason}; CFI and symbols read from the process's memory ({', '.join(found.parts)})",
                            path, short="read from memory"))
    return elf


def _hex(b: bytes | None) -> str:
    return b.hex() if b else "(none)"


def _vdso_module(target: Target, m: Mapping, problems: list[Problem]) -> Module | None:
    size = m.end - m.start
    if size > MAX_VDSO_SIZE:
        problems.append(Problem(f"[vdso] at {m.start:#x}: {size} bytes is too large for a vDSO", "[vdso]"))
        return None
    try:
        image = target.read_memory(m.start, size)
        elf = ElfFile(ELFReader(image, "[vdso]"), find_debug=False)
    except (MemoryReadError, ELFError) as e:
        problems.append(Problem(with_name("[vdso]", e), "[vdso]"))
        return None
    return Module("[vdso]", m.start, m.end, _bias(elf.reader, m), elf)
