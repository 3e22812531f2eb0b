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
from ..elf.reader import EM_X86_64, ET_CORE, MAX_NOTES, PT_LOAD, PT_NOTE, ELFReader
from ..errors import DwarfUnwindError, MemoryReadError, TargetError
from .base import Mapping, ThreadInfo, check_read
from .files import candidate_paths, open_regular, printable

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
AT_PHENT = 4
AT_PHNUM = 5
AT_ENTRY = 9
AT_SYSINFO_EHDR = 33

PF_X, PF_W, PF_R = 1, 2, 4
PT_DYNAMIC, PT_PHDR = 2, 6
DT_NULL, DT_DEBUG = 0, 21
_PAGE = 4096

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
#: (The kernel caps NT_FILE at a few MB, ~65,000 mappings with vm.max_map_count's default.)
MAX_FILE_ENTRIES = 1 << 17
MAX_AUXV_ENTRIES = 1 << 12
#: Bounds on what is read from the core's memory when there is no NT_FILE note.
MAX_LINK_MAP = 4096
MAX_DYNAMIC = 4096
MAX_NAME = 4096

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


class _NoteRef(NamedTuple):
    """A note of the core, not copied: its descriptor is ``size`` bytes at file ``offset``."""

    name: bytes
    type: int
    offset: int
    size: int


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


def _image_entries(name: str, bias: int, loads: list[tuple[int, ...]]) -> list[FileEntry]:
    """The file-backed mappings the kernel makes for an image's PT_LOADs (page-rounded, up to p_filesz)."""
    out = []
    for h in loads[:64]:
        offset, vaddr, filesz = h[2], h[3], h[5]
        start = (bias + vaddr) & ~(_PAGE - 1) & ((1 << 64) - 1)
        end = (bias + vaddr + filesz + _PAGE - 1) & ~(_PAGE - 1)
        if filesz and start < end <= 1 << 64:
            out.append(FileEntry(start, end, offset & ~(_PAGE - 1), name))
    return out


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
        self.name = printable(self.path)
        self.sysroot = sysroot
        self.exe = exe
        self._closed = False
        self._files: dict[str, tuple[object, mmap.mmap | bytes] | None] = {}
        self._main_exe_path: str | None = None
        self._data = self._map(self.path)
        try:
            self._parse()
        except BaseException:
            self.close()
            raise

    # -- opening ------------------------------------------------------------------------------

    @staticmethod
    def _map(path: str) -> mmap.mmap:
        fd = open_regular(path, "core file")
        try:
            if os.fstat(fd).st_size == 0:
                raise TargetError(f"{printable(path)}: empty file, not a core")
            return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except OSError as e:
            size = os.fstat(fd).st_size
            raise TargetError(f"{printable(path)}: cannot map the core ({size} bytes) into memory: "
                              f"{e.strerror or e}") from None
        finally:
            os.close(fd)

    def _parse(self) -> None:
        elf = ELFReader(self._data, self.path)
        if elf.type != ET_CORE:
            raise TargetError(f"{self.path}: not a core file (ELF type {elf.type})")
        if elf.machine != EM_X86_64:
            raise TargetError(f"{self.path}: not an x86-64 core (ELF machine {elf.machine})")
        size = len(self._data)
        loads: list[_LoadSeg] = []
        notes: list[_NoteRef] = []
        #: Problems of the core as a whole (truncation, an unreadable NT_FILE), said once each.
        self.notes: list[str] = []
        claimed = 0
        for i, seg in enumerate(elf.segments):
            if seg.filesz:
                claimed = max(claimed, seg.offset + seg.filesz)
            if seg.type == PT_NOTE:
                if seg.offset + seg.filesz > size:
                    raise TargetError(f"{self.path}: note segment (program header {i}) at offset "
                                      f"{seg.offset:#x}+{seg.filesz:#x} runs past the end of the file "
                                      f"({size:#x} bytes): the core is truncated")
                notes.extend(self._note_refs(seg.offset, seg.filesz, len(notes)))
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
        if claimed > size:
            self.notes.append(f"{self.path}: core file truncated: {size} of {claimed} bytes")

        self._auxv: dict[int, int] = {}
        self._file_entries: list[FileEntry] = []
        self.pid: int | None = None
        self.process_name: str | None = None
        self.command_line: str | None = None
        prstatus: list[tuple[int, _NoteRef]] = []
        file_note: _NoteRef | None = None
        for n, note in enumerate(notes):
            if note.name != b"CORE":
                continue  # LINUX notes (XSTATE, x86 shadow stack...) and others are not needed
            if note.type == NT_PRSTATUS:
                prstatus.append((n, note))
            elif note.type == NT_PRPSINFO:
                self._parse_prpsinfo(self._desc(note, _PRPSINFO.size))
            elif note.type == NT_AUXV and not self._auxv:
                self._auxv = self._parse_auxv(self._desc(note, 16 * MAX_AUXV_ENTRIES))
            elif note.type == NT_FILE and file_note is None:
                file_note = note
        if not prstatus:
            raise TargetError(f"{self.path}: no NT_PRSTATUS note: the core has no threads")
        self._threads = [self._parse_prstatus(n, self._desc(note, PRSTATUS_SIZE), first=(k == 0))
                         for k, (n, note) in enumerate(prstatus)]
        if file_note is not None:
            try:
                self._file_entries = self._parse_file_note(file_note)
            except TargetError as e:
                # The rest of the core is still served; modules are then found as without the note.
                self.notes.append(f"{e}; modules found from the dynamic linker's list instead")
        self._file_starts = [e.start for e in self._file_entries]
        if not self._file_entries:
            # No NT_FILE (older kernels, other dumpers): place modules as gdb and libdwfl do.
            self._file_entries = self._entries_from_link_map()
            self._file_starts = [e.start for e in self._file_entries]
        self._main_exe_path = self._find_main_exe()
        self._mappings = self._build_mappings()

    # -- notes, read in place ----------------------------------------------------------------

    def _note_refs(self, offset: int, size: int, seen: int) -> list[_NoteRef]:
        """The notes of one PT_NOTE segment, without copying their descriptors (a note may claim 1 GiB)."""
        data = self._data
        out: list[_NoteRef] = []
        pos, end = offset, offset + size
        while pos + 12 <= end:
            if seen + len(out) >= MAX_NOTES:
                raise TargetError(f"{self.path}: more than {MAX_NOTES} notes")
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name_start = pos + 12
            desc_start = (name_start + namesz + 3) & ~3
            desc_end = desc_start + descsz
            if desc_end > end:
                raise TargetError(f"{self.path}: note of type {ntype:#x} at offset {pos:#x} runs past its segment")
            name = bytes(data[name_start:name_start + min(namesz, 16)]).rstrip(b"\0")
            out.append(_NoteRef(name, ntype, desc_start, descsz))
            pos = (desc_end + 3) & ~3
        return out

    def _desc(self, note: _NoteRef, limit: int) -> bytes:
        """At most ``limit`` bytes of a note's descriptor, copied."""
        return bytes(self._data[note.offset:note.offset + min(note.size, limit)])

    def _parse_prstatus(self, index: int, desc: bytes, *, first: bool) -> ThreadInfo:
        if len(desc) < PRSTATUS_REG_OFFSET + _USER_REGS.size:
            raise TargetError(f"{self.path}: NT_PRSTATUS note #{index} has {len(desc)} bytes, "
                              f"expected {PRSTATUS_SIZE}")
        _, _, _, cursig, _, _, pid, _, _, _ = _PRSTATUS_HEAD.unpack_from(desc, 0)
        regs = registers_from_user_regs(desc[PRSTATUS_REG_OFFSET:])
        name = self.process_name if pid == self.pid else None
        # The kernel writes the dumping signal into every thread's pr_cursig; it is
        # only that thread's own stop reason for the first (crashed) one. gdb's gcore
        # of a running process writes 0 there: then nothing crashed.
        crashed = first and cursig != 0
        return ThreadInfo(tid=pid, registers=regs, crashed=crashed,
                          signal=cursig if crashed else None, name=name)

    def _parse_prpsinfo(self, desc: bytes) -> None:
        if len(desc) < _PRPSINFO.size:
            return  # optional information: a short one is ignored rather than fatal
        fields = _PRPSINFO.unpack_from(desc, 0)
        self.pid = fields[7]
        self.process_name = _cstr(fields[11]) or None
        self.command_line = _cstr(fields[12]).rstrip() or None

    def _parse_auxv(self, desc: bytes) -> dict[int, int]:
        out: dict[int, int] = {}
        count = min(len(desc) // 16, MAX_AUXV_ENTRIES)
        for i in range(count):
            key, value = struct.unpack_from("<QQ", desc, 16 * i)
            if key == AT_NULL:
                break
            out.setdefault(key, value)
        return out

    def _parse_file_note(self, note: _NoteRef) -> list[FileEntry]:
        """NT_FILE read in place: at most MAX_FILE_ENTRIES entries, names found one at a time."""
        data, base, size = self._data, note.offset, note.size
        where = f"{self.path}: NT_FILE note"
        if size < 16:
            raise TargetError(f"{where}: {size} bytes, too short for its header")
        count, page_size = struct.unpack_from("<QQ", data, base)
        if 16 + 24 * count > size:
            raise TargetError(f"{where}: claims {count} entries, more than its {size} bytes hold")
        if page_size == 0 or page_size & (page_size - 1) or page_size > 1 << 30:
            raise TargetError(f"{where}: impossible page size {page_size:#x}")
        if count > MAX_FILE_ENTRIES:
            self.notes.append(f"{where}: {count} entries; only the first {MAX_FILE_ENTRIES} are read")
            count = MAX_FILE_ENTRIES
        pos, end = base + 16 + 24 * count, base + size
        out = []
        for i in range(count):
            nul = data.find(b"\0", pos, end)
            if nul < 0:
                raise TargetError(f"{where}: {count} entries but only {i} path names")
            name = bytes(data[pos:nul]).decode("utf-8", "surrogateescape")
            pos = nul + 1
            start, stop, pgoff = struct.unpack_from("<QQQ", data, base + 16 + 24 * i)
            if stop <= start or stop > 1 << 64:
                raise TargetError(f"{where}: entry {i} has an empty or impossible range {start:#x}-{stop:#x}")
            out.append(FileEntry(start, stop, pgoff * page_size, name))
        out.sort(key=lambda e: e.start)
        for a, b in zip(out, out[1:]):
            if b.start < a.end:
                raise TargetError(f"{where}: entries at {a.start:#x} and {b.start:#x} overlap")
        return out

    # -- modules without NT_FILE ----------------------------------------------------------------

    def _entries_from_link_map(self) -> list[FileEntry]:
        """File mappings rebuilt from NT_AUXV and the dynamic linker's ``r_debug`` list in memory.

        AT_PHDR places the executable (its load bias, PIE or not); its PT_DYNAMIC's
        DT_DEBUG points at ``r_debug``, whose ``link_map`` chain gives each
        library's name and load bias (``l_addr``). Each image's PT_LOADs come
        from its ELF header in the core (the kernel dumps the first page of
        every ELF mapping), or else from the file. Bounded: MAX_LINK_MAP
        entries, MAX_DYNAMIC dynamic tags.
        """
        phdr = self._auxv.get(AT_PHDR)
        if phdr is None:
            return []
        phnum = min(self._auxv.get(AT_PHNUM, 0), 256)
        try:
            raw = self.read_memory(phdr, phnum * 56)
        except DwarfUnwindError:
            return []
        phdrs = [struct.unpack_from("<IIQQQQQQ", raw, 56 * i) for i in range(phnum)]
        loads = [h for h in phdrs if h[0] == PT_LOAD]
        if not loads:
            return []
        pt_phdr = next((h for h in phdrs if h[0] == PT_PHDR), None)
        if pt_phdr is not None:
            bias = phdr - pt_phdr[3]
        else:  # program headers right after the ELF header, in the first PT_LOAD
            first = min(loads, key=lambda h: h[3])
            bias = phdr - (first[3] - first[2] + 64)
        exe_name = self._exe_name()
        out = _image_entries(exe_name, bias, loads)
        dyn = next((h for h in phdrs if h[0] == PT_DYNAMIC), None)
        vdso = self._auxv.get(AT_SYSINFO_EHDR)
        if dyn is not None:
            for name, l_addr in self._link_map(bias + dyn[3], min(dyn[5] // 16, MAX_DYNAMIC)):
                if l_addr == vdso or not name:
                    continue  # the vDSO is read from memory; the unnamed entry is the executable itself
                image = self._image_loads(name, l_addr)
                if image:
                    out += _image_entries(name, l_addr, image)
        out.sort(key=lambda e: e.start)
        kept: list[FileEntry] = []
        for e in out:  # drop what would overlap (a corrupt list must not make overlapping modules)
            if not kept or e.start >= kept[-1].end:
                kept.append(e)
        return kept

    def _exe_name(self) -> str:
        """The executable's name: --exe, else argv[0] from NT_PRPSINFO, else the command name."""
        if self.exe is not None:
            return self.exe
        argv0 = (self.command_line or "").split(" ")[0]
        if argv0:
            return argv0
        return self.process_name or "[exe]"

    def _link_map(self, dynamic: int, count: int) -> list[tuple[str, int]]:
        """(l_name, l_addr) of each link_map entry reached from DT_DEBUG in the dynamic section at ``dynamic``."""
        r_debug = 0
        try:
            raw = self.read_memory(dynamic, 16 * count)
        except DwarfUnwindError:
            return []
        for i in range(count):
            tag, value = struct.unpack_from("<qQ", raw, 16 * i)
            if tag == DT_NULL:
                break
            if tag == DT_DEBUG:
                r_debug = value
        if not r_debug:
            return []  # static executable, or the dynamic linker never filled it
        out: list[tuple[str, int]] = []
        seen: set[int] = set()
        try:
            entry = struct.unpack_from("<Q", self.read_memory(r_debug + 8, 8))[0]
            while entry and entry not in seen and len(seen) < MAX_LINK_MAP:
                seen.add(entry)
                l_addr, l_name, _, l_next = struct.unpack("<QQQQ", self.read_memory(entry, 32))
                out.append((self._c_string(l_name), l_addr))
                entry = l_next
        except DwarfUnwindError:
            pass  # keep the entries read so far
        return out

    def _c_string(self, address: int) -> str:
        if not address:
            return ""
        out = b""
        while len(out) < MAX_NAME:
            try:
                chunk = self.read_memory(address + len(out), 64)
            except DwarfUnwindError:
                chunk = b""
                for i in range(64):  # the string may end just before unreadable memory
                    try:
                        chunk += self.read_memory(address + len(out) + i, 1)
                    except DwarfUnwindError:
                        break
                if not chunk:
                    break
            nul = chunk.find(b"\0")
            if nul >= 0:
                return (out + chunk[:nul]).decode("utf-8", "surrogateescape")
            out += chunk
        return out.decode("utf-8", "surrogateescape")

    def _image_loads(self, name: str, bias: int) -> list[tuple[int, ...]]:
        """PT_LOAD headers of the image loaded at ``bias``: from its ELF header in the core, else its file."""
        try:
            head = self.read_memory(bias, 64)
            reader: ELFReader | None = ELFReader(head + self.read_memory(bias + 64, min(
                struct.unpack_from("<H", head, 56)[0], 256) * 56), name)
            if struct.unpack_from("<Q", head, 32)[0] != 64:
                reader = None  # program headers elsewhere: read them from the file
        except (DwarfUnwindError, struct.error):
            reader = None
        if reader is None:
            real = self.resolve_file(name)
            if real is None:
                return []
            try:
                reader = ELFReader.open(real)
            except DwarfUnwindError:
                return []
        try:
            return [(s.type, s.flags, s.offset, s.vaddr, 0, s.filesz, s.memsz) for s in reader.segments
                    if s.type == PT_LOAD]
        except DwarfUnwindError:
            return []

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
                offset = e.offset + (pos - e.start)
                x = self._file_executable(e.path, offset)
                out.append(Mapping(pos, end, offset, e.path, readable=True, writable=False, executable=x))
                pos = end
        out.sort(key=lambda m: m.start)
        return out

    def _file_executable(self, path: str, offset: int) -> bool:
        """Whether the file's PT_LOAD at ``offset`` is executable (a mapping with no segment has no flags)."""
        data = self._open_file(path)
        if not data or data[:4] != b"\x7fELF":
            return False
        try:
            return any(seg.type == PT_LOAD and seg.flags & PF_X and seg.offset <= offset < seg.offset + seg.filesz
                       for seg in ELFReader(data, path).segments)
        except DwarfUnwindError:
            return False

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

    def locate(self, address: int, size: int) -> tuple[mmap.mmap, int] | None:
        """Where the core file itself holds ``[address, address + size)``: ``(mapping, offset)``, or None.

        The unwinder's fast path (dwarfunwind.unwind.memory): it unpacks words in place.
        Anything not wholly in one segment's bytes in the core (file-backed pages, gaps,
        a truncated core), or a closed core, is None: :meth:`read_memory` serves it.
        """
        i = bisect_right(self._load_starts, address) - 1
        if i >= 0 and not self._closed:
            seg = self._loads[i]
            if address + size <= seg.start + seg.present:
                return self._data, seg.file_offset + (address - seg.start)
        return None

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

    def search_dirs(self) -> list[str]:
        """Directories against which relative NT_FILE paths are resolved: the core's own."""
        return [os.path.dirname(os.path.abspath(self.path))]

    def resolve_file(self, path: str) -> str | None:
        """Where on this machine to read the core's file ``path``; None if nowhere.

        Candidates in order (see :func:`~dwarfunwind.targets.files.candidate_paths`):
        ``exe`` (for the main executable), ``sysroot + path``, ``path`` (or, for a
        relative path, the core's directory + path). Only regular files count.
        """
        override = self.exe if self.exe is not None and path == self._main_exe_path else None
        found = candidate_paths(path, override=override, sysroot=self.sysroot, base_dirs=self.search_dirs())
        return found[0] if found else None

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
                fd = open_regular(real)
                try:
                    size = os.fstat(fd).st_size
                    result = (real, mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if size else b"")
                finally:
                    os.close(fd)
            except (OSError, ValueError, TargetError) as e:
                # Said once: pages of this file then read as unavailable.
                self.notes.append(f"{printable(real)}: cannot read the pages the core omits: "
                                  f"{getattr(e, 'strerror', None) or e}")
                result = None
        self._files[path] = result
        return None if result is None else result[1]


__all__ = ["NT_AUXV", "NT_FILE", "NT_PRSTATUS", "CoreTarget", "FileEntry", "registers_from_user_regs"]
