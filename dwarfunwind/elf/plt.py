"""PLT entries named as BFD names them (``puts@plt``), for x86-64.

GNU objdump, gdb and perf all name a pc in a PLT stub after the symbol of the
dynamic relocation that fills the stub's GOT slot: BFD's synthetic symbol table
(``elf_x86_64_get_synthetic_symtab``). This module does the same, from bytes
alone (no files, no I/O):

* Each of ``.plt``, ``.plt.got``, ``.plt.sec`` and ``.plt.bnd`` is classified by
  its first bytes, as BFD does: the lazy PLT (``push GOT+8; jmp *GOT+16`` first,
  then 16-byte ``jmp *slot(%rip); push n; jmp PLT0`` entries, the first of which,
  PLT0, is not named); the non-lazy 8-byte ``jmp *slot(%rip); xchg %ax,%ax``
  (``.plt.got``); the IBT 16-byte ``endbr64; jmp *slot(%rip); nop`` (``.plt.sec``,
  and ``.plt.got`` under IBT); and the MPX forms with a ``bnd`` (0xf2) prefix. A
  lazy ``.plt`` whose entries only push and jump to PLT0 (IBT or MPX) names
  nothing: its ``.plt.sec`` (``.plt.bnd``) carries the jumps and the names.
* The ``jmp *disp32(%rip)`` of an entry gives its GOT slot; the dynamic
  relocation (``R_X86_64_JUMP_SLOT``, ``R_X86_64_GLOB_DAT`` or
  ``R_X86_64_IRELATIVE``) at that slot gives the name: its symbol's, or
  ``*ABS*`` for one without a symbol, then ``+0xADDEND`` if the addend is not
  zero, then ``@plt``.

Every entry is found by arithmetic on its address; nothing loops over the whole
section except :meth:`PltNames.entries`, and that is bounded by the section's size.
Anything that does not match simply has no name.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

#: The sections BFD looks for PLT entries in.
PLT_SECTIONS = (".plt", ".plt.got", ".plt.sec", ".plt.bnd")

R_X86_64_GLOB_DAT = 6
R_X86_64_JUMP_SLOT = 7
R_X86_64_IRELATIVE = 37
_NAMED_TYPES = (R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT, R_X86_64_IRELATIVE)
#: At most this many dynamic relocations are indexed (libstdc++ has about 3,000).
MAX_RELOCATIONS = 1 << 20

_RELA = struct.Struct("<QQq")
_SYM = struct.Struct("<IBBHQQ")
_I32 = struct.Struct("<i")

_ENDBR64 = b"\xf3\x0f\x1e\xfa"

#: (first named entry, entry size, offset of the jmp's disp32, end of the jmp) of each layout.
_LAZY = (1, 16, 2, 6)
_NON_LAZY = (0, 8, 2, 6)  # jmp *slot(%rip); xchg %ax,%ax
_NON_LAZY_BND = (0, 8, 3, 7)  # bnd jmp *slot(%rip); nop
_IBT = (0, 16, 6, 10)  # endbr64; jmp *slot(%rip); nopw
_IBT_BND = (0, 16, 7, 11)  # endbr64; bnd jmp *slot(%rip); nopl

Layout = tuple[int, int, int, int]


def layout(name: str, data: bytes) -> Layout | None:
    """How BFD reads the PLT section ``name`` holding ``data``; None if it names nothing there."""
    if name == ".plt" and len(data) >= 32 and data[0:2] == b"\xff\x35":
        if data[6:8] == b"\xff\x25":  # lazy PLT0: push GOT+8(%rip); jmp *GOT+16(%rip)
            # IBT's lazy entries (endbr64; push n; jmp PLT0) hold no GOT jump: .plt.sec names them.
            return None if data[16:21] == _ENDBR64 + b"\x68" else _LAZY
        if data[6:9] == b"\xf2\xff\x25":  # MPX's lazy PLT0; .plt.bnd (.plt.sec) names the entries
            return None
    if len(data) >= 8 and data[0:2] == b"\xff\x25":
        return _NON_LAZY
    if len(data) >= 8 and data[0:3] == b"\xf2\xff\x25":
        return _NON_LAZY_BND
    if len(data) >= 16 and data[0:6] == _ENDBR64 + b"\xff\x25":
        return _IBT
    if len(data) >= 16 and data[0:7] == _ENDBR64 + b"\xf2\xff\x25":
        return _IBT_BND
    return None


def got_slots(relocations: list[bytes]) -> dict[int, tuple[int, int, int]]:
    """GOT address -> (type, symbol index, addend) of the naming relocations in raw SHT_RELA contents."""
    out: dict[int, tuple[int, int, int]] = {}
    budget = MAX_RELOCATIONS
    for raw in relocations:
        usable = min(len(raw) - len(raw) % _RELA.size, budget * _RELA.size)
        budget -= usable // _RELA.size
        for offset, info, addend in _RELA.iter_unpack(memoryview(raw)[:usable]):
            rtype = info & 0xFFFFFFFF
            if rtype in _NAMED_TYPES and offset not in out:
                out[offset] = (rtype, info >> 32, addend)
    return out


class PltNames:
    """The named PLT entries of one file.

    ``sections`` holds (name, address, contents) of its PLT sections, ``relocations``
    the raw contents of its dynamic SHT_RELA sections, ``dynsym`` and ``dynstr`` its
    dynamic symbol table and strings.
    """

    def __init__(self, sections: list[tuple[str, int, bytes]], relocations: list[bytes],
                 dynsym: bytes, dynstr: bytes) -> None:
        self._sections = [(addr, data, lay) for name, addr, data in sections
                          if (lay := layout(name, data)) is not None]
        self._slots = got_slots(relocations) if self._sections else {}
        self._dynsym = dynsym
        self._dynstr = dynstr

    def lookup(self, address: int) -> tuple[str, int] | None:
        """(``name@plt``, offset in the entry) for a file address in a named PLT entry, else None."""
        for addr, data, (first, size, disp, end) in self._sections:
            if addr <= address < addr + len(data):
                index = (address - addr) // size
                start = index * size
                if index < first or start + size > len(data):
                    return None
                name = self._name(addr + start + end + _I32.unpack_from(data, start + disp)[0])
                return (name, address - addr - start) if name is not None else None
        return None

    def entries(self) -> Iterator[tuple[int, int, str]]:
        """(address, size, name) of every named entry, section by section (at most size / 8 of each)."""
        for addr, data, (first, size, disp, end) in self._sections:
            for start in range(first * size, len(data) - size + 1, size):
                name = self._name(addr + start + end + _I32.unpack_from(data, start + disp)[0])
                if name is not None:
                    yield addr + start, size, name

    def _name(self, slot: int) -> str | None:
        reloc = self._slots.get(slot)
        if reloc is None:
            return None
        _, symbol, addend = reloc
        if symbol == 0:
            base = "*ABS*"
        else:
            if (symbol + 1) * _SYM.size > len(self._dynsym):
                return None
            name_off = _SYM.unpack_from(self._dynsym, symbol * _SYM.size)[0]
            strtab = self._dynstr
            end = strtab.find(b"\0", name_off)
            if end <= name_off:
                return None
            base = strtab[name_off:end].decode("utf-8", "replace")
        if addend:
            base += f"+{addend & 0xFFFFFFFFFFFFFFFF:#x}"
        return base + "@plt"
