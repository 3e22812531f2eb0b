"""A module's ELF image rebuilt from the target's memory, for a module whose file cannot be opened.

A daemon still running after a package upgrade maps libraries that are gone from disk; without
root, ``/proc/PID/map_files`` is closed to us. What the unwinder needs is still in the process's
memory, found from the program headers alone (section headers are not loaded), as libdwfl's
``dwfl_segment_report_module`` finds it for eu-stack:

- the ELF header and program headers, at the start of the module's first mapping;
- ``PT_GNU_EH_FRAME`` -> ``.eh_frame_hdr`` -> the ``.eh_frame`` it points to. Its size is written
  nowhere: it ends after the last FDE of the header's search table, else at the zero terminator,
  and never past the module's mappings;
- ``PT_DYNAMIC`` -> ``DT_SYMTAB``, ``DT_STRTAB``, ``DT_STRSZ``: ``.dynsym`` and ``.dynstr``; the
  symbol count is not written either and comes from ``DT_GNU_HASH`` (or ``DT_HASH``), as libdwfl
  counts it. In a loaded library ld.so has relocated these pointers (absolute addresses); in an
  image nobody relocated (or at load bias 0) they are the file's own: both are taken;
- ``PT_NOTE``: the build-id.

The parts found become a small, well-formed ELF file held in memory (headers, those sections with
their file addresses, a section name table), handed to :class:`ElfFile` as the vDSO's image is:
nothing downstream knows where it came from. Every read stays inside the module's mappings and
under a fixed cap; an inconsistent image is reported (:attr:`MemoryImage.problems`, each naming
the module and the address), never raised.
"""

from __future__ import annotations

import struct

from ..cfi.encoding import PointerBases, read_encoded
from ..errors import DwarfUnwindError, ELFError, MemoryReadError, TargetError
from .reader import _EHDR, _PHDR, _SHDR, _SYM, PT_GNU_EH_FRAME, PT_LOAD, PT_NOTE, ELFReader, Segment

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import NamedTuple

    from ..targets.base import Mapping, Target

    #: One section found: (name, sh_type, file address, contents, sh_entsize).
    _Part = tuple[str, int, int, bytes, int]
else:  # typing costs ~5 ms of start-up (dwarfunwind/_typing.py)
    from .._typing import NamedTuple

PT_DYNAMIC = 2
DT_NULL, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 4, 5, 6, 10, 11
DT_GNU_HASH = 0x6FFFFEF5
STT_FUNC = 2
SHT_PROGBITS, SHT_STRTAB, SHT_NOTE, SHT_DYNSYM = 1, 3, 7, 11
SHF_ALLOC = 2

#: Caps on what one image may read from the target (headers from memory are untrusted).
MAX_HEADERS = 1 << 16       # ELF header + program headers
MAX_NOTES = 1 << 16         # all PT_NOTE segments together
MAX_EH_FRAME_HDR = 16 << 20  # 2 million FDEs in the search table
MAX_EH_FRAME = 64 << 20
MAX_DYNAMIC = 1 << 16       # 4,096 dynamic entries (a library has ~30)
MAX_DYNSYMS = 1 << 20
MAX_DYNSTR = 32 << 20
MAX_HASH_BUCKETS = 1 << 22

_U32 = struct.Struct("<I")
_DYN = struct.Struct("<qQ")


class MemoryImage(NamedTuple):
    """What :func:`read_image` made of a module's memory."""

    #: The rebuilt ELF file (bytes), or None when the memory held nothing usable.
    image: bytes | None
    #: The sections read (``.eh_frame``, ``.dynsym``), for the message that says where names came from.
    parts: tuple[str, ...]
    #: What was inconsistent, one line each, naming the module and the address.
    problems: list[str]


class _Unavailable(ELFError):
    """The target does not hold these pages (a core leaves read-only file pages out): nothing to say."""


class _Memory:
    """The target's memory, read only inside one module's mappings, never more than a cap."""

    def __init__(self, target: Target, name: str, maps: Sequence[Mapping]) -> None:
        self.target = target
        self.name = name
        runs: list[list[int]] = []
        for m in sorted(maps, key=lambda m: m.start):
            if runs and m.start <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], m.end)
            else:
                runs.append([m.start, m.end])
        self.runs = runs
        self.maps = sorted((m.start, m.end) for m in maps)
        self.start = runs[0][0] if runs else 0
        self.end = max((r[1] for r in runs), default=0)

    def room(self, address: int, what: str) -> int:
        """Bytes from ``address`` to the end of the module's contiguous mappings holding it."""
        for start, end in self.runs:
            if start <= address < end:
                return end - address
        raise ELFError(f"{self.name}: {what} at {address:#x} lies outside the module's mappings")

    def read(self, address: int, size: int, what: str, cap: int) -> bytes:
        if size < 0 or size > cap:
            raise ELFError(f"{self.name}: {what} at {address:#x} claims {size:#x} bytes, more than we read "
                           f"({cap:#x})")
        if size > self.room(address, what):
            raise ELFError(f"{self.name}: {what} at {address:#x} ({size:#x} bytes) runs past the module's mappings")
        return self._read(address, size, what)

    def read_upto(self, address: int, cap: int, what: str) -> bytes:
        """From ``address`` to the end of its mappings, at most ``cap`` bytes."""
        return self._read(address, min(cap, self.room(address, what)), what)

    def _read(self, address: int, size: int, what: str) -> bytes:
        """``[address, address + size)``, inside the module's mappings: read one mapping at a time (a
        target may serve each mapping from its own place: a core's segments, the files it names)."""
        parts = []
        pos, end = address, address + size
        try:
            for start, stop in self.maps:  # bounded by the module's mappings
                if pos >= end:
                    break
                if start <= pos < stop:
                    n = min(stop, end) - pos
                    parts.append(self.target.read_memory(pos, n))
                    if len(parts[-1]) != n:
                        raise ELFError(f"{self.name}: {what} at {address:#x}: the target returned "
                                       f"{len(parts[-1])} of {n} bytes")
                    pos += n
        except MemoryReadError:
            pos = -1
        except TargetError as e:
            raise ELFError(f"{self.name}: {what} at {address:#x}: {e}") from None
        if pos != end:
            raise _Unavailable(f"{self.name}: {what} at {address:#x} ({size:#x} bytes) cannot be read from memory")
        return b"".join(parts)


def read_image(target: Target, name: str, maps: Sequence[Mapping], first: Mapping, bias: int) -> MemoryImage:
    """The ELF image of the module mapped at ``maps`` (``first``: the mapping of file offset 0, where
    the headers are), with load ``bias``, as far as the target's memory holds it.

    Memory the target does not serve, or that holds no ELF header, gives an empty result and no
    problem (a core without the module's pages, a perf sample): the caller says "not found" as before.
    A part whose pages the target lacks is left out quietly too; a part that is inconsistent (a
    pointer outside the module, a size past it or past a cap) is left out and said.
    """
    mem = _Memory(target, name, maps)
    try:
        head = target.read_memory(first.start, min(_EHDR.size, first.end - first.start))
        ELFReader(head, name)  # an x86-64 ELF header, or nothing to say
    except DwarfUnwindError:
        return MemoryImage(None, (), [])
    fields = _EHDR.unpack_from(head, 0)
    phoff, phnum = fields[5], fields[10]
    problems: list[str] = []
    try:
        table = mem.read(first.start, min(phoff + phnum * _PHDR.size, MAX_HEADERS + 1), "program header table",
                         MAX_HEADERS)
        segments = ELFReader(table, name).segments
        # The alignment of each (PT_NOTE's tells its padding), which Segment does not keep.
        aligns = [h[7] for h in _PHDR.iter_unpack(table[phoff : phoff + len(segments) * _PHDR.size])]
    except _Unavailable:
        return MemoryImage(None, (), [])
    except ELFError as e:
        return MemoryImage(None, (), [str(e)])
    parts: list[_Part] = []  # (name, type, file address, data, link/entsize)
    notes: list[tuple[bytes, int]] = []  # (data, alignment) of each PT_NOTE
    room = MAX_NOTES
    for seg, align in zip(segments, aligns):
        if seg.type == PT_NOTE and 0 < seg.filesz <= room:
            try:
                notes.append((mem.read(seg.vaddr + bias, seg.filesz, "PT_NOTE", MAX_NOTES), min(align, 8) or 4))
                room -= seg.filesz
            except _Unavailable:
                pass
            except ELFError as e:
                problems.append(str(e))
    for kind, read_part, what in ((PT_GNU_EH_FRAME, _eh_frame, "PT_GNU_EH_FRAME"), (PT_DYNAMIC, _dynsym, "PT_DYNAMIC")):
        phdr = next((s for s in segments if s.type == kind), None)  # the first, as the loader takes it
        if phdr is None:
            continue
        try:
            parts += read_part(mem, phdr.vaddr + bias, phdr.memsz, bias)
        except _Unavailable:
            pass
        except DwarfUnwindError as e:
            problems.append(_named(name, e, f"{what} at {phdr.vaddr + bias:#x}"))
    if not parts:
        return MemoryImage(None, (), problems)
    loads = [s for s in segments if s.type == PT_LOAD]
    image = _elf_image(head, loads, notes, parts)
    return MemoryImage(image, tuple(p[0] for p in parts if p[0] in (".eh_frame", ".dynsym")), problems)


def _named(name: str, error: Exception, where: str) -> str:
    text = str(error)
    return text if text.startswith(name) else f"{name}: {where}: {text}"


def _eh_frame(mem: _Memory, hdr_addr: int, hdr_size: int, bias: int) -> list[_Part]:
    """``.eh_frame_hdr`` and ``.eh_frame`` as (name, type, file address, data, 0)."""
    hdr = mem.read(hdr_addr, hdr_size, ".eh_frame_hdr", MAX_EH_FRAME_HDR)
    if len(hdr) < 4 or hdr[0] != 1:
        raise ELFError(f"{mem.name}: .eh_frame_hdr at {hdr_addr:#x}: unsupported version "
                       f"{hdr[0] if hdr else 'none'}")
    bases = PointerBases(hdr_addr, None, hdr_addr)
    eh_addr, pos = read_encoded(hdr, 4, hdr[1], bases)
    count, pos = read_encoded(hdr, pos, hdr[2], bases)
    if eh_addr is None:
        raise ELFError(f"{mem.name}: .eh_frame_hdr at {hdr_addr:#x} does not say where .eh_frame is")
    last = None
    if count and hdr[3] == 0x3B and pos + 8 * count <= len(hdr):  # datarel|sdata4 pairs (pc, fde)
        fdes = memoryview(hdr)[pos : pos + 8 * count].cast("i")[1::2]
        last = hdr_addr + max(fdes)
    if last is not None and eh_addr <= last < eh_addr + MAX_EH_FRAME:
        # The search table lists every FDE: .eh_frame ends with the last one it points to.
        head = mem.read(last, 12 if mem.room(last, "FDE") >= 12 else 4, "the search table's last FDE", 12)
        (length,) = _U32.unpack_from(head, 0)
        end = last + 4 + length if length != 0xFFFFFFFF else last + 12 + int.from_bytes(head[4:12], "little")
        data = mem.read(eh_addr, end - eh_addr, ".eh_frame", MAX_EH_FRAME)
        try:  # the zero terminator that follows, when there is one (readelf then reads it as in the file)
            if mem.read(end, 4, ".eh_frame terminator", 4) == b"\0\0\0\0":
                data += b"\0\0\0\0"
        except ELFError:
            pass
    else:
        data = mem.read_upto(eh_addr, MAX_EH_FRAME, ".eh_frame")
        data = data[: _entries_end(data)]
    if not data:
        raise ELFError(f"{mem.name}: .eh_frame at {eh_addr:#x} is empty")
    return [(".eh_frame_hdr", SHT_PROGBITS, hdr_addr - bias, hdr, 0),
            (".eh_frame", SHT_PROGBITS, eh_addr - bias, data, 0)]


def _entries_end(data: bytes) -> int:
    """Where the CIEs and FDEs of ``data`` end: after the zero terminator, else after the last
    entry that fits. One step per entry, each at least 4 bytes: bounded by the data."""
    pos = 0
    n = len(data)
    while pos + 4 <= n:
        (length,) = _U32.unpack_from(data, pos)
        if length == 0:
            return pos + 4
        if length == 0xFFFFFFFF:
            if pos + 12 > n:
                break
            nxt = pos + 12 + int.from_bytes(data[pos + 4 : pos + 12], "little")
        else:
            nxt = pos + 4 + length
        if nxt > n:
            break
        pos = nxt
    return pos


def _dynsym(mem: _Memory, dyn_addr: int, dyn_size: int, bias: int) -> list[_Part]:
    """``.dynsym`` and ``.dynstr`` as (name, type, file address, data, 0), from the dynamic section."""
    raw = mem.read(dyn_addr, min(dyn_size, MAX_DYNAMIC) // _DYN.size * _DYN.size, "dynamic section", MAX_DYNAMIC)
    tags: dict[int, int] = {}
    for tag, value in _DYN.iter_unpack(raw):
        if tag == DT_NULL:
            break
        tags.setdefault(tag, value)

    def where(value: int) -> int:
        # Relocated by ld.so (inside the module) or the file's own address (add the bias).
        return value if mem.start <= value < mem.end else value + bias

    missing = [n for n, t in (("DT_SYMTAB", DT_SYMTAB), ("DT_STRTAB", DT_STRTAB), ("DT_STRSZ", DT_STRSZ))
               if t not in tags]
    if DT_GNU_HASH not in tags and DT_HASH not in tags:
        missing.append("DT_GNU_HASH or DT_HASH")
    if missing:
        raise ELFError(f"{mem.name}: dynamic section at {dyn_addr:#x} has no {', '.join(missing)}")
    if tags.get(DT_SYMENT, _SYM.size) != _SYM.size:
        raise ELFError(f"{mem.name}: dynamic section at {dyn_addr:#x}: DT_SYMENT {tags[DT_SYMENT]} is not "
                       f"{_SYM.size}")
    symtab, strtab = where(tags[DT_SYMTAB]), where(tags[DT_STRTAB])
    if DT_GNU_HASH in tags:
        count = _gnu_hash_count(mem, where(tags[DT_GNU_HASH]))
    else:
        hash_addr = where(tags[DT_HASH])
        count = _U32.unpack(mem.read(hash_addr + 4, 4, "DT_HASH", 4))[0]  # nchain: one per symbol
    if count > MAX_DYNSYMS:
        raise ELFError(f"{mem.name}: .dynsym at {symtab:#x}: the hash table counts {count} symbols, more than "
                       f"we read ({MAX_DYNSYMS})")
    syms = mem.read(symtab, count * _SYM.size, ".dynsym (DT_SYMTAB)", MAX_DYNSYMS * _SYM.size)
    strs = mem.read(strtab, tags[DT_STRSZ], ".dynstr (DT_STRSZ)", MAX_DYNSTR)
    if not any(t == STT_FUNC for t in _defined_types(syms)):
        return []  # only imports (an executable's .dynsym): it names no frame
    return [(".dynsym", SHT_DYNSYM, symtab - bias, syms, _SYM.size),
            (".dynstr", SHT_STRTAB, strtab - bias, strs, 0)]


def _defined_types(syms: bytes) -> Iterator[int]:
    """The st_type of each defined symbol of a raw symbol table."""
    usable = len(syms) - len(syms) % _SYM.size
    for _, info, _, shndx, _, _ in _SYM.iter_unpack(syms[:usable]):
        if shndx:
            yield info & 0xF


def _gnu_hash_count(mem: _Memory, addr: int) -> int:
    """Symbols in .dynsym by its GNU hash table: past the highest bucket's chain end (libdwfl's count)."""
    nbuckets, symoffset, bloom_size, _ = struct.unpack("<4I", mem.read(addr, 16, "DT_GNU_HASH", 16))
    if nbuckets > MAX_HASH_BUCKETS or bloom_size > MAX_HASH_BUCKETS:
        raise ELFError(f"{mem.name}: DT_GNU_HASH at {addr:#x}: {nbuckets} buckets, {bloom_size} bloom words "
                       "is more than we read")
    buckets_at = addr + 16 + 8 * bloom_size
    buckets = mem.read(buckets_at, 4 * nbuckets, "DT_GNU_HASH buckets", 4 * MAX_HASH_BUCKETS)
    top = max(memoryview(buckets).cast("I"), default=0)
    if top < symoffset:
        return symoffset
    chain_at = buckets_at + 4 * nbuckets
    index = top
    # The chain of the highest bucket ends at the table's last symbol (its low bit set).
    while True:
        at = chain_at + 4 * (index - symoffset)
        chunk = mem.read_upto(at, max(4, 4096 - at % 4096), "DT_GNU_HASH chain")  # to the page's end
        words = memoryview(chunk[: len(chunk) // 4 * 4]).cast("I")
        if not words:
            raise ELFError(f"{mem.name}: DT_GNU_HASH at {addr:#x}: the chain of symbol {index} runs past the "
                           "module's mappings")
        for w in words:
            if w & 1:
                return index + 1
            index += 1
            if index > MAX_DYNSYMS:
                raise ELFError(f"{mem.name}: DT_GNU_HASH at {addr:#x}: a chain longer than {MAX_DYNSYMS} "
                               "symbols")


def _elf_image(head: bytes, loads: list[Segment], notes: list[tuple[bytes, int]], parts: list[_Part]) -> bytes:
    """An ELF file of ``parts`` (sections at their file addresses), the PT_LOADs (for the load bias),
    the PT_NOTEs and a PT_GNU_EH_FRAME over the sections' bytes."""
    names = b"\0.shstrtab\0.note\0" + b"".join(p[0].encode() + b"\0" for p in parts)
    ph_count = len(loads) + len(notes) + (1 if any(p[0] == ".eh_frame_hdr" for p in parts) else 0)
    body = bytearray(_EHDR.size + ph_count * _PHDR.size)
    shdrs = [_SHDR.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    phdrs = [_PHDR.pack(PT_LOAD, s.flags, s.offset, s.vaddr, s.vaddr, s.filesz, s.memsz, 0x1000) for s in loads]

    def add(name: str, stype: int, addr: int, data: bytes, link: int = 0, entsize: int = 0, align: int = 8) -> int:
        offset = len(body)
        body.extend(data)
        while len(body) % 8:
            body.append(0)
        info = 1 if stype == SHT_DYNSYM else 0  # the first global symbol's index (the null one is local)
        shdrs.append(_SHDR.pack(names.index(b"\0" + name.encode() + b"\0") + 1, stype, SHF_ALLOC if addr else 0,
                                addr, offset, len(data), link, info, align, entsize))
        return offset

    for data, align in notes:
        off = add(".note", SHT_NOTE, 0, data, align=align)
        phdrs.append(_PHDR.pack(PT_NOTE, 4, off, 0, 0, len(data), len(data), align))
    index = len(shdrs)
    for name, stype, addr, data, entsize in parts:
        link = index + 1 if stype == SHT_DYNSYM else 0  # .dynstr follows .dynsym
        off = add(name, stype, addr, data, link, entsize)
        if name == ".eh_frame_hdr":
            phdrs.append(_PHDR.pack(PT_GNU_EH_FRAME, 4, off, addr, addr, len(data), len(data), 4))
        index += 1
    add(".shstrtab", SHT_STRTAB, 0, names)
    shoff = len(body)
    body.extend(b"".join(shdrs))
    body[_EHDR.size : _EHDR.size + len(phdrs) * _PHDR.size] = b"".join(phdrs)
    (ident, etype, machine, _, entry, *_rest) = _EHDR.unpack_from(head, 0)
    body[: _EHDR.size] = _EHDR.pack(ident, etype, machine, 1, entry, _EHDR.size, shoff, 0, _EHDR.size,
                                    _PHDR.size, len(phdrs), _SHDR.size, len(shdrs), len(shdrs) - 1)
    return bytes(body)
