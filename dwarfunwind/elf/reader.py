"""A small, bounds-checked reader of 64-bit little-endian ELF files.

Hand-written rather than pyelftools: opening a file and finding its sections
is on every CLI path, and importing pyelftools alone costs about 80 ms
(see bench/). Everything here reads through one buffer and checks bounds.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct

from ..errors import ELFError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import NamedTuple
else:  # typing costs ~5 ms of start-up (dwarfunwind/_typing.py)
    from .._typing import NamedTuple

SHT_NOBITS = 8
SHT_SYMTAB = 2
SHT_DYNSYM = 11
SHT_NOTE = 7
SHF_COMPRESSED = 0x800
SHF_EXECINSTR = 0x4
PT_LOAD = 1
PT_NOTE = 4
PT_GNU_EH_FRAME = 0x6474E550
ET_EXEC, ET_DYN, ET_CORE = 2, 3, 4
EM_X86_64 = 62
NT_GNU_BUILD_ID = 3

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
_SYM = struct.Struct("<IBBHQQ")
_NHDR = struct.Struct("<III")
_CHDR = struct.Struct("<IIQQ")

#: Bounds on counts read from headers, so a corrupt header cannot make us loop for ever.
MAX_SECTIONS = 1 << 16
MAX_SEGMENTS = 1 << 16
MAX_NOTES = 1 << 20
#: A compressed section may expand to at most this many bytes...
MAX_DECOMPRESSED = 1 << 30
#: ...and to at most this many times its compressed size (debug sections compress 3-10 times;
#: zlib's own limit is about 1,000). Raised with DWARFUNWIND_MAX_INFLATE_RATIO.
MAX_INFLATE_RATIO = 64

#: e_machine values of the architectures users are likely to hand us by mistake.
_MACHINES = {3: "i386", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "s390", 40: "ARM", 43: "SPARC V9",
             50: "IA-64", 183: "AArch64", 243: "RISC-V", 258: "LoongArch"}


class Section(NamedTuple):
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class Segment(NamedTuple):
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


class Note(NamedTuple):
    name: bytes
    type: int
    desc: bytes


class ELFReader:
    """Sections, segments and notes of one ELF image held in memory or mapped from a file."""

    def __init__(self, data: bytes | mmap.mmap | memoryview, name: str = "<memory>") -> None:
        self.name = name
        self.data = data
        if len(data) < _EHDR.size:
            raise ELFError(f"{name}: too short for an ELF header ({len(data)} bytes)")
        ident = bytes(data[:16])
        if ident[:4] != b"\x7fELF":
            raise ELFError(f"{name}: not an ELF file")
        if ident[4] != 2 or ident[5] != 1:
            raise ELFError(f"{name}: only 64-bit little-endian ELF is supported")
        (_, self.type, self.machine, _, self.entry, self.phoff, self.shoff, _, _, phentsize, phnum,
         shentsize, shnum, shstrndx) = _EHDR.unpack_from(data, 0)
        if self.machine != EM_X86_64:
            # Decoding another architecture's CFI with x86-64 register names would be wrong, quietly.
            arch = _MACHINES.get(self.machine, "not x86-64")
            raise ELFError(f"{name}: an {arch} ELF file (e_machine {self.machine}); only x86-64 is supported")
        self._phnum, self._phentsize = phnum, phentsize
        self._shnum, self._shentsize, self._shstrndx = shnum, shentsize, shstrndx
        self._sections: list[Section] | None = None
        self._rela_by_target: dict[int, list[Section]] | None = None
        self._segments: list[Segment] | None = None
        self._build_id: tuple[bytes | None] | None = None  # (build-id or None,) once read

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> "ELFReader":
        """Map ``path`` read-only.

        Opened with O_NONBLOCK and refused unless it is a regular file: a FIFO (or a
        device) given as an input, or planted where a debug file is looked for, must
        not block the open or the read.
        """
        name = os.fspath(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise ELFError(f"{name}: not a regular file")
                if st.st_size == 0:
                    raise ELFError(f"{name}: empty file")
                data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            finally:
                os.close(fd)
        except OSError as e:
            raise ELFError(f"{name}: {e.strerror or e}") from None
        return cls(data, name)

    def read(self, offset: int, size: int, what: str = "data") -> bytes:
        """``size`` bytes at file ``offset``, or ELFError naming ``what`` if past the end."""
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise ELFError(f"{self.name}: {what} at offset {offset:#x}+{size:#x} runs past the end of the file")
        return bytes(self.data[offset : offset + size])

    # -- sections ---------------------------------------------------------------------------

    @property
    def sections(self) -> list[Section]:
        if self._sections is None:
            self._sections = self._read_sections()
        return self._sections

    def _read_sections(self) -> list[Section]:
        if self.shoff == 0 or self._shnum == 0:
            return []
        shnum = self._shnum
        if self._shentsize != _SHDR.size:
            raise ELFError(f"{self.name}: unexpected section header size {self._shentsize}")
        if shnum > MAX_SECTIONS:
            raise ELFError(f"{self.name}: {shnum} section headers is more than we read")
        raw = self.read(self.shoff, shnum * _SHDR.size, "section header table")
        headers = [_SHDR.unpack_from(raw, i * _SHDR.size) for i in range(shnum)]
        names = b""
        if 0 < self._shstrndx < shnum:
            h = headers[self._shstrndx]
            if h[1] != SHT_NOBITS:
                names = self.read(h[4], h[5], "section name table")
        out = []
        for h in headers:
            nameoff = h[0]
            end = names.find(b"\0", nameoff) if nameoff < len(names) else -1
            name = names[nameoff:end].decode("utf-8", "replace") if end >= 0 else ""
            out.append(Section(name, h[1], h[2], h[3], h[4], h[5], h[6], h[9]))
        return out

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_data(self, section: Section) -> bytes:
        """The section's contents, decompressed if SHF_COMPRESSED (zlib) or a .zdebug section."""
        if section.type == SHT_NOBITS:
            return b""
        raw = self.read(section.offset, section.size, f"section {section.name}")
        if section.flags & SHF_COMPRESSED:
            if len(raw) < _CHDR.size:
                raise ELFError(f"{self.name}: section {section.name}: truncated compression header")
            ch_type, _, ch_size, _ = _CHDR.unpack_from(raw, 0)
            if ch_type != 1:
                raise ELFError(f"{self.name}: section {section.name}: unsupported compression type {ch_type}"
                               " (only zlib)")
            return _inflate(raw[_CHDR.size :], ch_size, f"{self.name}: section {section.name}")
        if section.name.startswith(".zdebug") and raw[:4] == b"ZLIB" and len(raw) >= 12:
            size = int.from_bytes(raw[4:12], "big")
            return _inflate(raw[12:], size, f"{self.name}: section {section.name}")
        return raw

    # -- segments and notes -----------------------------------------------------------------

    @property
    def segments(self) -> list[Segment]:
        if self._segments is None:
            if self.phoff == 0 or self._phnum == 0:
                self._segments = []
            else:
                if self._phentsize != _PHDR.size:
                    raise ELFError(f"{self.name}: unexpected program header size {self._phentsize}")
                if self._phnum > MAX_SEGMENTS:
                    raise ELFError(f"{self.name}: {self._phnum} program headers is more than we read")
                raw = self.read(self.phoff, self._phnum * _PHDR.size, "program header table")
                self._segments = [
                    Segment(h[0], h[1], h[2], h[3], h[5], h[6])
                    for h in (_PHDR.unpack_from(raw, i * _PHDR.size) for i in range(self._phnum))
                ]
        return self._segments

    def notes(self) -> Iterator[Note]:
        """Notes of every PT_NOTE segment (or SHT_NOTE section where there are no segments)."""
        spans = [(s.offset, s.filesz) for s in self.segments if s.type == PT_NOTE]
        if not spans:
            spans = [(s.offset, s.size) for s in self.sections if s.type == SHT_NOTE]
        for off, size in spans:
            yield from parse_notes(self.read(off, size, "note segment"), self.name)

    def build_id(self) -> bytes | None:
        """The GNU build-id note's bytes, or None (read once: module lookup, --json and the debug-file
        search each ask)."""
        if self._build_id is None:
            self._build_id = (next((note.desc for note in self.notes()
                                    if note.type == NT_GNU_BUILD_ID and note.name == b"GNU"), None),)
        return self._build_id[0]

    def debuglink(self) -> str | None:
        s = self.section(".gnu_debuglink")
        if s is None:
            return None
        raw = self.section_data(s)
        end = raw.find(b"\0")
        return raw[:end].decode("utf-8", "replace") if end > 0 else None

    # -- symbols ----------------------------------------------------------------------------

    def symbols(self) -> list[tuple[int, int, str, int]]:
        """Function and object symbols as (value, size, name, rank) from .symtab, else .dynsym.

        ``rank`` orders bindings as symbolizers prefer them: 2 global, 1 weak, 0 local.
        """
        table = self.symbol_table()
        if table is None:
            return []
        raw, strtab = table
        return [(value, size, symbol_name(strtab, name_off), rank)
                for value, size, rank, name_off in symbol_entries(raw)]

    def symbol_table(self) -> tuple[bytes, bytes] | None:
        """The raw entries and string table of .symtab, else .dynsym, else None."""
        for kind in (SHT_SYMTAB, SHT_DYNSYM):
            for s in self.sections:
                if s.type == kind and s.link < len(self.sections) and s.size >= _SYM.size:
                    return self.section_data(s), self.section_data(self.sections[s.link])
        return None


def symbol_entries(raw: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(value, size, rank, name_offset) of each defined, named OBJECT/FUNC/IFUNC symbol.

    ``rank`` orders bindings as symbolizers prefer them: 2 global, 1 weak, 0 local.
    """
    usable = len(raw) - len(raw) % _SYM.size
    for name_off, info, _, shndx, value, size in _SYM.iter_unpack(raw[:usable]):
        if shndx and name_off and (info & 0xF) in SYMBOL_TYPES:
            yield value, size, _BINDING_RANK.get(info >> 4, 0), name_off


def symbol_name(strtab: bytes, offset: int) -> str:
    """The NUL-terminated name at ``offset`` of a string table ("" when out of range)."""
    end = strtab.find(b"\0", offset)
    return strtab[offset:end].decode("utf-8", "replace") if end >= 0 else ""


_BINDING_RANK = {1: 2, 2: 1}  # STB_GLOBAL, STB_WEAK; STB_LOCAL and the rest rank 0
#: STT_OBJECT, STT_FUNC, STT_GNU_IFUNC: the symbol types a pc is named by.
SYMBOL_TYPES = (1, 2, 10)
_RELA = struct.Struct("<QQq")
SHT_RELA = 4
ET_REL = 1
# x86-64 relocation types found in CFI sections of relocatable objects: (size, pc-relative).
_RELOC_TYPES = {1: (8, False), 2: (4, True), 10: (4, False), 11: (4, False), 24: (8, True)}


def relocation_sections(reader: "ELFReader") -> dict[int, list[Section]]:
    """The SHT_RELA sections of ``reader`` by the index of the section they apply to (sh_info).

    Built in one pass over the section headers (cached on the reader): an object with
    60,000 RELA sections must not cost a header lookup per section per section.
    """
    cached = reader._rela_by_target
    if cached is not None:
        return cached
    sections = reader.sections
    raw = reader.read(reader.shoff, len(sections) * _SHDR.size, "section header table") if sections else b""
    by_target: dict[int, list[Section]] = {}
    for i, sec in enumerate(sections):
        if sec.type == SHT_RELA and sec.link < len(sections) and sec.entsize in (0, _RELA.size):
            info = _SHDR.unpack_from(raw, i * _SHDR.size)[7]
            by_target.setdefault(info, []).append(sec)
    reader._rela_by_target = by_target
    return by_target


def apply_relocations(reader: "ELFReader", section: Section, data: bytes) -> bytes:
    """``data`` of ``section`` with its SHT_RELA relocations applied (relocatable objects).

    In a .o file the CIE pointers of .debug_frame and the pc fields of every FDE
    are left zero and filled in by relocations; readelf applies them, and so do we.
    Symbols resolve to their st_value (sections of a .o all sit at address 0).
    Each relocation section is read once and each symbol table once.
    """
    sections = reader.sections
    index = sections.index(section)
    out = bytearray(data)
    symtabs: dict[int, bytes] = {}
    for rela in relocation_sections(reader).get(index, ()):
        symtab = symtabs.get(rela.link)
        if symtab is None:
            symtab = symtabs[rela.link] = reader.section_data(sections[rela.link])
        relocs = reader.section_data(rela)
        usable = len(relocs) - len(relocs) % _RELA.size
        for offset, info, addend in _RELA.iter_unpack(relocs[:usable]):
            rtype, symidx = info & 0xFFFFFFFF, info >> 32
            kind = _RELOC_TYPES.get(rtype)
            if kind is None or (symidx + 1) * _SYM.size > len(symtab):
                continue
            size, pcrel = kind
            if offset + size > len(out):
                raise ELFError(f"{reader.name}: relocation at {offset:#x} lies outside {section.name}")
            value = _SYM.unpack_from(symtab, symidx * _SYM.size)[4] + addend
            if pcrel:
                value -= section.addr + offset
            out[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return bytes(out)


def _inflate_ratio() -> int:
    text = os.environ.get("DWARFUNWIND_MAX_INFLATE_RATIO")
    if not text:
        return MAX_INFLATE_RATIO
    try:
        return max(1, int(text, 0))
    except ValueError:
        raise ELFError(f"DWARFUNWIND_MAX_INFLATE_RATIO={text[:40]!r} is not a number") from None


#: Memory the xz decoder may use (xz -9's dictionary is 64 MiB; MiniDebugInfo is made with the default 8).
XZ_MEMLIMIT = 128 << 20


def unxz(raw: bytes, where: str) -> bytes:
    """``raw`` (an .xz stream: MiniDebugInfo's .gnu_debugdata) decompressed, at most
    ``inflate_ratio`` times its size and MAX_DECOMPRESSED bytes; ELFError naming ``where`` otherwise."""
    import lzma  # only for MiniDebugInfo: not on every start-up

    ratio = _inflate_ratio()
    limit = min(MAX_DECOMPRESSED, ratio * max(len(raw), 1))
    try:
        # The stream names its own dictionary size (up to 4 GiB): the decoder's memory is capped too.
        d = lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=XZ_MEMLIMIT)
        out = d.decompress(raw, limit + 1)
    except lzma.LZMAError as e:
        raise ELFError(f"{where}: corrupt xz data ({e})") from None
    except MemoryError:
        raise ELFError(f"{where}: not enough memory to inflate it") from None
    if len(out) > limit:
        raise ELFError(f"{where}: inflates to more than {limit:,} bytes from {len(raw):,} "
                       "(cap inflate_ratio, DWARFUNWIND_MAX_INFLATE_RATIO)")
    if not d.eof:
        raise ELFError(f"{where}: xz data ends early (truncated)")
    return out


def parse_notes(raw: bytes, where: str = "") -> Iterator[Note]:
    """Notes in a buffer: (namesz, descsz, type), name and desc each padded to 4 bytes."""
    pos = 0
    count = 0
    while pos + _NHDR.size <= len(raw):
        count += 1
        if count > MAX_NOTES:
            raise ELFError(f"{where}: more than {MAX_NOTES} notes")
        namesz, descsz, ntype = _NHDR.unpack_from(raw, pos)
        pos += _NHDR.size
        name_end = pos + namesz
        desc_start = (name_end + 3) & ~3
        desc_end = desc_start + descsz
        if desc_end > len(raw):
            raise ELFError(f"{where}: note of type {ntype:#x} at offset {pos - _NHDR.size:#x} runs past its segment")
        yield Note(raw[pos:name_end].rstrip(b"\0"), ntype, raw[desc_start:desc_end])
        pos = (desc_end + 3) & ~3


def _inflate(raw: bytes, size: int, where: str) -> bytes:
    if size > MAX_DECOMPRESSED:
        raise ELFError(f"{where}: claims {size} bytes uncompressed, more than we inflate")
    ratio = _inflate_ratio()
    if size > ratio * max(len(raw), 1):
        raise ELFError(f"{where}: claims {size:,} bytes uncompressed from {len(raw):,}, more than {ratio} times "
                       "(cap inflate_ratio, DWARFUNWIND_MAX_INFLATE_RATIO)")
    import zlib  # only for compressed sections: not on every start-up

    try:
        d = zlib.decompressobj()
        out = d.decompress(raw, size + 1)
    except zlib.error as e:
        raise ELFError(f"{where}: corrupt compressed data ({e})") from None
    if len(out) != size:
        raise ELFError(f"{where}: decompressed to {len(out)} bytes, header says {size}")
    return out
