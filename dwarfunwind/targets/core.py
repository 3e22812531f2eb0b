"""x86-64 Linux ELF core files (ET_CORE) as a :class:`~dwarfunwind.targets.base.Target`.

What a kernel core holds, and what this module makes of it:

* one ``NT_PRSTATUS`` note per thread, the thread that took the fatal signal
  first: tid, the dumping signal and ``user_regs_struct``;
* ``NT_AUXV``: the auxiliary vector, whose ``AT_SYSINFO_EHDR`` locates the vDSO;
* ``NT_FILE``: every file-backed mapping (start, end, file offset in pages, path);
* one ``PT_LOAD`` per mapping. With the default ``coredump_filter`` the kernel
  writes anonymous and COW-touched pages, the first page of each mapped ELF
  file, and the vDSO/vvar, but gives ``p_filesz == 0`` to file-backed mappings
  never written to (program and library text, read-only data). Those bytes are
  read from the files named by ``NT_FILE`` instead, opened lazily.

Memory reads go through one sorted table of segments and ``bisect``; the core
itself is mmapped, so a read costs a slice.
"""

from __future__ import annotations

import mmap
import os
import struct
from bisect import bisect_right
from collections.abc import Sequence
from types import TracebackType

from ..arch.x86_64 import REGNO, USER_REGS_SLOTS
from ..elf.reader import EM_X86_64, ET_CORE, PT_LOAD, PT_NOTE, ELFReader, Note, parse_notes
from ..errors import MemoryReadError, TargetError
from .base import Mapping, ThreadInfo, check_read

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:  # typing costs ~5 ms of start-up (dwarfunwind/_typing.py)
    from .._typing import NamedTuple

NT_PRSTATUS = 1
NT_PRPSINFO = 3
NT_AUXV = 6
NT_FILE = 0x46494C45

AT_NULL = 0
AT_PHDR = 3
AT_ENTRY = 9
AT_SYSINFO_EHDR = 33

PF_X, PF_W, PF_R = 1, 2, 4

#: The legacy vsyscall page sits at a fixed address on x86-64.
VSYSCALL_START = 0xFFFFFFFFFF600000

# struct elf_prstatus (include/uapi/linux/elfcore.h), x86-64: si_signo, si_code,
# si_errno, pr_cursig (+2 pad), pr_sigpend, pr_sighold, pr_pid, pr_ppid, pr_pgrp,
# pr_sid, 4 timevals, then pr_reg; 336 bytes with pr_fpvalid and padding.
_PRSTATUS_HEAD = struct.Struct("<iiih2xQQiiii")
PRSTATUS_REG_OFFSET = 112
PRSTATUS_SIZE = 336
_USER_REGS = struct.Struct("<" + "Q" * len(USER_REGS_SLOTS))
# struct elf_prpsinfo: pr_state, pr_sname, pr_zomb, pr_nice (+4 pad), pr_flag,
# pr_uid, pr_gid, pr_pid, pr_ppid, pr_pgrp, pr_sid, pr_fname[16], pr_psargs[80].
_PRPSINFO = struct.Struct("<bcbb4xQIIiiii16s80s")

#: Bounds on counts read from notes, so a corrupt note cannot make us allocate or loop for ever.
MAX_FILE_ENTRIES = 1 << 20
MAX_AUXV_ENTRIES = 1 << 12

#: DWARF number of each user_regs_struct slot that has one (the 16 GPRs and rip).
_SLOT_TO_DWARF: tuple[tuple[int, int], ...] = tuple(
    (i, REGNO[name]) for i, name in enumerate(USER_REGS_SLOTS) if name in REGNO
)


class FileEntry(NamedTuple):
    """One ``NT_FILE`` entry: ``[start, end)`` maps ``path`` from byte ``offset``."""

    start: int
    end: int
    offset: int
    path: str


class _LoadSeg(NamedTuple):
    """One PT_LOAD: ``[start, end)`` in memory; the first ``present`` bytes are at ``file_offset``.

    ``filesz`` is what the header claims; ``present`` is what the (possibly
    truncated) core really holds.
    """

    start: int
    end: int
    file_offset: int
    filesz: int
    present: int
    flags: int


def registers_from_user_regs(raw: bytes | memoryview) -> dict[int, int]:
    """DWARF register number → value from a ``user_regs_struct`` (27 little-endian u64)."""
    slots = _USER_REGS.unpack_from(raw, 0)
    return {regno: slots[i] for i, regno in _SLOT_TO_DWARF}


def _cstr(raw: bytes) -> str:
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", "replace")


class CoreTarget:
    """Threads, memory and mappings of an x86-64 Linux core file.

    ``sysroot``: a directory holding the crashed machine's files; the file for
    an ``NT_FILE`` path ``/usr/lib/libc.so.6`` is looked for as
    ``sysroot + path`` first, then as ``path`` itself. ``exe``: the main
    executable, used instead of the path recorded in the core.
    """

    def __init__(self, path: str | os.PathLike[str], *, sysroot: str | None = None,
                 exe: str | None = None) -> None:
        self.path = os.fspath(path)
        self.name = self.path
        self.sysroot = sysroot
        self.exe = exe
        self._closed = False
        self._files: dict[str, tuple[object, mmap.mmap | bytes] | None] = {}
        self._data = self._map(self.path)
        try:
            self._parse()
        except BaseException:
            self.close()
            raise

    # -- opening ------------------------------------------------------------------------------

    @staticmethod
    def _map(path: str) -> mmap.mmap:
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    raise TargetError(f"{path}: empty file, not a core")
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise TargetError(f"{path}: cannot open core: {e.strerror or e}") from None

    def _parse(self) -> None:
        elf = ELFReader(self._data, self.path)
        if elf.type != ET_CORE:
            raise TargetError(f"{self.path}: not a core file (ELF type {elf.type})")
        if elf.machine != EM_X86_64:
            raise TargetError(f"{self.path}: not an x86-64 core (ELF machine {elf.machine})")
        size = len(self._data)
        loads: list[_LoadSeg] = []
        notes: list[Note] = []
        for i, seg in enumerate(elf.segments):
            if seg.type == PT_NOTE:
                if seg.offset + seg.filesz > size:
                    raise TargetError(f"{self.path}: note segment (program header {i}) at offset "
                                      f"{seg.offset:#x}+{seg.filesz:#x} runs past the end of the file "
                                      f"({size:#x} bytes): the core is truncated")
                notes.extend(parse_notes(self._data[seg.offset:seg.offset + seg.filesz],
                                         f"{self.path}: note segment"))
            elif seg.type == PT_LOAD:
                if seg.memsz == 0:
                    continue
                if seg.vaddr + seg.memsz > 1 << 64 or seg.filesz > seg.memsz:
                    raise TargetError(f"{self.path}: PT_LOAD (program header {i}) at {seg.vaddr:#x} has "
                                      f"impossible sizes (filesz {seg.filesz:#x}, memsz {seg.memsz:#x})")
                # A truncated core keeps what it has: the missing tail reads as unavailable.
                present = max(0, min(seg.filesz, size - seg.offset))
                loads.append(_LoadSeg(seg.vaddr, seg.vaddr + seg.memsz, seg.offset, seg.filesz,
                                      present, seg.flags))
        loads.sort(key=lambda s: s.start)
        for a, b in zip(loads, loads[1:]):
            if b.start < a.end:
                raise TargetError(f"{self.path}: PT_LOAD segments at {a.start:#x} and {b.start:#x} overlap")
        self._loads = loads
        self._load_starts = [s.start for s in loads]
        self._truncated = any(s.present < s.filesz for s in loads)

        self._auxv: dict[int, int] = {}
        self._file_entries: list[FileEntry] = []
        self.pid: int | None = None
        self.process_name: str | None = None
        self.command_line: str | None = None
        prstatus: list[tuple[int, Note]] = []
        for n, note in enumerate(notes):
            if note.name != b"CORE":
                continue  # LINUX notes (XSTATE, x86 shadow stack...) and others are not needed
            if note.type == NT_PRSTATUS:
                prstatus.append((n, note))
            elif note.type == NT_PRPSINFO:
                self._parse_prpsinfo(note)
            elif note.type == NT_AUXV and not self._auxv:
                self._auxv = self._parse_auxv(note)
            elif note.type == NT_FILE and not self._file_entries:
                self._file_entries = self._parse_file_note(note)
        if not prstatus:
            raise TargetError(f"{self.path}: no NT_PRSTATUS note: the core has no threads")
        self._threads = [self._parse_prstatus(n, note, first=(k == 0))
                         for k, (n, note) in enumerate(prstatus)]
        self._file_starts = [e.start for e in self._file_entries]
        self._main_exe_path = self._find_main_exe()
        self._mappings = self._build_mappings()

    def _parse_prstatus(self, index: int, note: Note, *, first: bool) -> ThreadInfo:
        if len(note.desc) < PRSTATUS_REG_OFFSET + _USER_REGS.size:
            raise TargetError(f"{self.path}: NT_PRSTATUS note #{index} has {len(note.desc)} bytes, "
                              f"expected {PRSTATUS_SIZE}")
        _, _, _, cursig, _, _, pid, _, _, _ = _PRSTATUS_HEAD.unpack_from(note.desc, 0)
        regs = registers_from_user_regs(note.desc[PRSTATUS_REG_OFFSET:])
        name = self.process_name if pid == self.pid else None
        # The kernel writes the dumping signal into every thread's pr_cursig; it is
        # only that thread's own stop reason for the first (crashed) one. gdb's gcore
        # of a running process writes 0 there: then nothing crashed.
        crashed = first and cursig != 0
        return ThreadInfo(tid=pid, registers=regs, crashed=crashed,
                          signal=cursig if crashed else None, name=name)

    def _parse_prpsinfo(self, note: Note) -> None:
        if len(note.desc) < _PRPSINFO.size:
            return  # optional information: a short one is ignored rather than fatal
        fields = _PRPSINFO.unpack_from(note.desc, 0)
        self.pid = fields[7]
        self.process_name = _cstr(fields[11]) or None
        self.command_line = _cstr(fields[12]).rstrip() or None

    def _parse_auxv(self, note: Note) -> dict[int, int]:
        out: dict[int, int] = {}
        count = min(len(note.desc) // 16, MAX_AUXV_ENTRIES)
        for i in range(count):
            key, value = struct.unpack_from("<QQ", note.desc, 16 * i)
            if key == AT_NULL:
                break
            out.setdefault(key, value)
        return out

    def _parse_file_note(self, note: Note) -> list[FileEntry]:
        desc = note.desc
        where = f"{self.path}: NT_FILE note"
        if len(desc) < 16:
            raise TargetError(f"{where}: {len(desc)} bytes, too short for its header")
        count, page_size = struct.unpack_from("<QQ", desc, 0)
        if count > MAX_FILE_ENTRIES or 16 + 24 * count > len(desc):
            raise TargetError(f"{where}: claims {count} entries, more than its {len(desc)} bytes hold")
        if page_size == 0 or page_size & (page_size - 1) or page_size > 1 << 30:
            raise TargetError(f"{where}: impossible page size {page_size:#x}")
        names = desc[16 + 24 * count:].split(b"\0")
        if len(names) < count:
            raise TargetError(f"{where}: {count} entries but only {len(names)} path names")
        out = []
        for i in range(count):
            start, end, pgoff = struct.unpack_from("<QQQ", desc, 16 + 24 * i)
            if end <= start or end > 1 << 64:
                raise TargetError(f"{where}: entry {i} has an empty or impossible range {start:#x}-{end:#x}")
            out.append(FileEntry(start, end, pgoff * page_size, names[i].decode("utf-8", "surrogateescape")))
        out.sort(key=lambda e: e.start)
        for a, b in zip(out, out[1:]):
            if b.start < a.end:
                raise TargetError(f"{where}: entries at {a.start:#x} and {b.start:#x} overlap")
        return out

    def _find_main_exe(self) -> str | None:
        """The main executable's NT_FILE path: the file mapped at AT_PHDR (or AT_ENTRY)."""
        for key in (AT_PHDR, AT_ENTRY):
            entry = self._file_entry_at(self._auxv.get(key, -1))
            if entry is not None:
                return entry.path
        return None

    def _file_entry_at(self, address: int) -> FileEntry | None:
        i = bisect_right(self._file_starts, address) - 1
        if i >= 0 and self._file_entries[i].start <= address < self._file_entries[i].end:
            return self._file_entries[i]
        return None

    def _build_mappings(self) -> list[Mapping]:
        """PT_LOAD segments split at NT_FILE boundaries, plus NT_FILE ranges without a segment."""
        out: list[Mapping] = []
        vdso = self._auxv.get(AT_SYSINFO_EHDR)
        for seg in self._loads:
            r, w, x = bool(seg.flags & PF_R), bool(seg.flags & PF_W), bool(seg.flags & PF_X)
            pos = seg.start
            i = max(0, bisect_right(self._file_starts, pos) - 1)
            # Each step consumes at least one entry or reaches the segment's end: bounded.
            while pos < seg.end:
                entry = self._file_entries[i] if i < len(self._file_entries) else None
                if entry is not None and entry.end <= pos:
                    i += 1
                    continue
                if entry is not None and entry.start <= pos:
                    end = min(seg.end, entry.end)
                    out.append(Mapping(pos, end, entry.offset + (pos - entry.start), entry.path,
                                       readable=r, writable=w, executable=x))
                else:
                    end = seg.end if entry is None else min(seg.end, entry.start)
                    special = None
                    if vdso is not None and pos <= vdso < end:
                        special = "[vdso]"
                    elif pos == VSYSCALL_START:
                        special = "[vsyscall]"
                    out.append(Mapping(pos, end, 0, special, readable=r, writable=w, executable=x))
                pos = end
        # File mappings the core has no segment for (gdb's gcore may leave them out).
        covered = [(m.start, m.end) for m in out]
        starts = [c[0] for c in covered]
        for e in self._file_entries:
            pos = e.start
            j = max(0, bisect_right(starts, pos) - 1)
            while pos < e.end:
                if j < len(covered) and covered[j][1] <= pos:
                    j += 1
                    continue
                if j < len(covered) and covered[j][0] <= pos:
                    pos = covered[j][1]
                    continue
                end = e.end if j >= len(covered) else min(e.end, covered[j][0])
                out.append(Mapping(pos, end, e.offset + (pos - e.start), e.path))
                pos = end
        out.sort(key=lambda m: m.start)
        return out

    # -- Target protocol ----------------------------------------------------------------------

    def threads(self) -> Sequence[ThreadInfo]:
        """Every thread, the crashed one (the first NT_PRSTATUS) first."""
        return list(self._threads)

    def mappings(self) -> Sequence[Mapping]:
        return list(self._mappings)

    def read_memory(self, address: int, size: int) -> bytes:
        if self._closed:
            raise TargetError(f"{self.path}: core is closed")
        if not check_read(address, size):
            return b""
        end = address + size
        loads = self._loads
        i = bisect_right(self._load_starts, address) - 1
        if i >= 0:
            seg = loads[i]
            # Fast path: the whole read lies in the bytes this segment has in the core.
            if end <= seg.start + seg.present:
                off = seg.file_offset + (address - seg.start)
                return self._data[off:off + size]
        parts: list[bytes] = []
        pos = address
        # Every step advances pos to the end of a segment or of a gap between segments
        # (or fails): bounded by twice the segment count.
        while pos < end:
            i = bisect_right(self._load_starts, pos) - 1
            if i < 0 or pos >= loads[i].end:
                # In no PT_LOAD: a file mapping the core leaves out entirely (gdb's gcore
                # writes no segment for read-only file mappings).
                stop = min(end, loads[i + 1].start) if i + 1 < len(loads) else end
                parts.append(self._read_from_file(pos, stop - pos, address, size))
                pos = stop
                continue
            seg = loads[i]
            stop = min(end, seg.end)
            in_core = seg.start + seg.present
            if pos < in_core:
                chunk_end = min(stop, in_core)
                off = seg.file_offset + (pos - seg.start)
                parts.append(self._data[off:off + (chunk_end - pos)])
                pos = chunk_end
            if pos < stop:
                if pos < seg.start + seg.filesz:
                    # The header says the core has these bytes but the file was cut off:
                    # a file on disk might hold different (unwritten) contents, so do not guess.
                    raise MemoryReadError(address, size)
                parts.append(self._read_from_file(pos, stop - pos, address, size))
                pos = stop
        return b"".join(parts)

    def close(self) -> None:
        """Unmap the core and every file opened for omitted pages; safe to call twice."""
        self._closed = True
        for entry in self._files.values():
            if entry is not None and isinstance(entry[1], mmap.mmap):
                entry[1].close()
        self._files.clear()
        data = getattr(self, "_data", None)
        if isinstance(data, mmap.mmap):
            try:
                data.close()
            except BufferError:
                pass  # a memoryview of it is still alive; the mapping goes when it does

    def __enter__(self) -> CoreTarget:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- extras -------------------------------------------------------------------------------

    def auxv(self) -> dict[int, int]:
        """The auxiliary vector from NT_AUXV (AT_* → value); empty if the core has none."""
        return dict(self._auxv)

    def vdso_range(self) -> tuple[int, int] | None:
        """``[start, end)`` of the vDSO (the mapping containing AT_SYSINFO_EHDR), if known."""
        for m in self._mappings:
            if m.path == "[vdso]":
                return (m.start, m.end)
        return None

    def file_entries(self) -> list[FileEntry]:
        """The NT_FILE entries, sorted by start address (offsets in bytes)."""
        return list(self._file_entries)

    @property
    def truncated(self) -> bool:
        """True when some PT_LOAD data is cut off by the end of the file."""
        return self._truncated

    def main_executable(self) -> str | None:
        """The NT_FILE path of the main executable (the file mapped at AT_PHDR), if known."""
        return self._main_exe_path

    def resolve_file(self, path: str) -> str | None:
        """Where on this machine to read the core's file ``path``; None if nowhere.

        Candidates in order: ``exe`` (for the main executable), ``sysroot + path``,
        ``path``. Only regular files count.
        """
        candidates = []
        if self.exe is not None and path == self._main_exe_path:
            candidates.append(self.exe)
        if self.sysroot is not None:
            candidates.append(os.path.join(self.sysroot, path.lstrip("/")))
        candidates.append(path)
        for c in candidates:
            try:
                if os.path.isfile(c):
                    return c
            except (OSError, ValueError):  # ValueError: an embedded NUL from a corrupt note
                continue
        return None

    def missing_files(self) -> list[str]:
        """NT_FILE paths for which :meth:`resolve_file` finds nothing, sorted."""
        return sorted({e.path for e in self._file_entries if self.resolve_file(e.path) is None})

    def _read_from_file(self, pos: int, count: int, address: int, size: int) -> bytes:
        """Bytes ``[pos, pos+count)`` not in the core, from the files NT_FILE maps there.

        ``address``/``size`` are the caller's whole read, for the error.
        """
        parts = []
        end = pos + count
        # Each step consumes one NT_FILE entry or fails: bounded by the entry count.
        while pos < end:
            entry = self._file_entry_at(pos)
            if entry is None:
                raise MemoryReadError(address, size)
            data = self._open_file(entry.path)
            if data is None:
                raise MemoryReadError(address, size)
            stop = min(end, entry.end)
            off = entry.offset + (pos - entry.start)
            if off + (stop - pos) > len(data):
                raise MemoryReadError(address, size)  # mapped past the end of the file (SIGBUS there)
            parts.append(bytes(data[off:off + (stop - pos)]))
            pos = stop
        return b"".join(parts)

    def _open_file(self, path: str) -> mmap.mmap | bytes | None:
        if path in self._files:
            cached = self._files[path]
            return None if cached is None else cached[1]
        real = self.resolve_file(path)
        result: tuple[object, mmap.mmap | bytes] | None = None
        if real is not None:
            try:
                with open(real, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    result = (real, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b"")
            except (OSError, ValueError):
                result = None
        self._files[path] = result
        return None if result is None else result[1]


__all__ = ["NT_AUXV", "NT_FILE", "NT_PRSTATUS", "CoreTarget", "FileEntry", "registers_from_user_regs"]
