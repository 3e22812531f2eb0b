"""CIE and FDE parsing for .eh_frame and .debug_frame, and .eh_frame_hdr lookup.

A :class:`CFISection` is built from the section's bytes and its address; it
decodes entries lazily: a lookup parses only the FDE it needs (and its CIE).
"""

from __future__ import annotations

import bisect
import struct
import sys

from ..errors import CFIError
from .encoding import (
    DW_EH_PE_absptr,
    DW_EH_PE_omit,
    PointerBases,
    read_encoded,
    read_sleb128,
    read_uleb128,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (collections.abc is not otherwise needed at start-up)
    from collections.abc import Iterator

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_PCREL_SDATA4 = struct.Struct("<ii")
_LENGTH_ID = struct.Struct("<II")
_FAST_FDE = struct.Struct("<iiB")  # pc_begin, pc_range (pcrel|sdata4), one-byte augmentation length
_I32 = struct.Struct("<i")
_MASK64 = 0xFFFFFFFFFFFFFFFF

#: A CIE or FDE longer than this is refused as corrupt (the largest real ones are a few KiB).
MAX_ENTRY_LENGTH = 1 << 24


class CIE:
    """A Common Information Entry (DWARF 5, 6.4.1; LSB .eh_frame).

    A plain slotted class rather than a dataclass: importing dataclasses costs
    ~10 ms on every CLI run, and CIEs are compared by identity anyway.
    """

    __slots__ = ("offset", "version", "augmentation", "address_size", "segment_size", "code_alignment_factor",
                 "data_alignment_factor", "return_address_register", "instructions", "fde_encoding",
                 "lsda_encoding", "personality_encoding", "personality", "signal_frame", "is_eh",
                 "instructions_address", "initial_state", "fast_fdes")

    def __init__(self, offset: int, version: int, augmentation: str, address_size: int, segment_size: int,
                 code_alignment_factor: int, data_alignment_factor: int, return_address_register: int,
                 instructions: bytes, *, is_eh: bool = True) -> None:
        self.offset = offset
        self.version = version
        self.augmentation = augmentation
        self.address_size = address_size
        self.segment_size = segment_size
        self.code_alignment_factor = code_alignment_factor
        self.data_alignment_factor = data_alignment_factor
        self.return_address_register = return_address_register
        self.instructions = instructions
        self.fde_encoding = DW_EH_PE_absptr
        self.lsda_encoding = DW_EH_PE_omit
        self.personality_encoding = DW_EH_PE_omit
        self.personality: int | None = None
        self.signal_frame = False
        #: True for .eh_frame (its FDEs carry augmentation data when 'z' is present).
        self.is_eh = is_eh
        #: Address of the first initial instruction (the base of pcrel DW_CFA_set_loc operands).
        self.instructions_address = 0
        #: Rows of the initial instructions, cached by the interpreter.
        self.initial_state: object = None
        #: Its FDEs have the layout CFISection.entries decodes inline (set by the parser).
        self.fast_fdes = False

    def __repr__(self) -> str:
        return (f"CIE(offset={self.offset:#x}, version={self.version}, augmentation={self.augmentation!r}, "
                f"caf={self.code_alignment_factor}, daf={self.data_alignment_factor}, "
                f"ra={self.return_address_register})")


class FDE:
    """A Frame Description Entry: the rules for ``pc_begin <= pc < pc_end``."""

    __slots__ = ("offset", "cie", "pc_begin", "pc_range", "instructions", "lsda", "section",
                 "instructions_address")

    def __init__(self, offset: int, cie: CIE, pc_begin: int, pc_range: int, instructions: bytes,
                 lsda: int | None = None, section: str = ".eh_frame", instructions_address: int = 0) -> None:
        self.offset = offset
        self.cie = cie
        self.pc_begin = pc_begin
        self.pc_range = pc_range
        self.instructions = instructions
        self.lsda = lsda
        self.section = section
        #: Address of the first instruction byte: the base of pcrel DW_CFA_set_loc operands.
        self.instructions_address = instructions_address

    @property
    def pc_end(self) -> int:
        return self.pc_begin + self.pc_range

    @property
    def signal_frame(self) -> bool:
        return self.cie.signal_frame

    def __repr__(self) -> str:
        return f"FDE(offset={self.offset:#x}, pc={self.pc_begin:#x}..{self.pc_end:#x}, section={self.section!r})"


class CFISection:
    """The CIEs and FDEs of one .eh_frame or .debug_frame section.

    ``address`` is the section's address (sh_addr), needed for pcrel pointers;
    ``text_base`` and ``data_base`` serve textrel and datarel encodings.
    """

    def __init__(
        self,
        name: str,
        data: bytes,
        address: int = 0,
        *,
        text_base: int | None = None,
        data_base: int | None = None,
        hdr: bytes | None = None,
        hdr_address: int = 0,
    ) -> None:
        self.name = name
        self.data = data
        self.address = address
        self.is_eh = name != ".debug_frame"
        self._bases = PointerBases(address, text_base, data_base)
        self._cies: dict[int, CIE] = {}
        self._bad_cies: dict[int, CFIError] = {}  # a CIE that cannot be parsed fails once, then from here
        self._fde_cache: dict[int, FDE] = {}
        self._hdr_table: _HdrTable | None = None
        self._index: tuple[list[int], list[int]] | None = None
        #: Problems met while building the index (each entry still readable is used).
        self.index_errors: list[CFIError] = []
        #: Oddities that cost nothing but are worth saying once (a zero terminator before the end).
        self.warnings: list[CFIError] = []
        if hdr is not None and self.is_eh:
            try:
                self._hdr_table = _HdrTable.parse(hdr, hdr_address, address)
            except CFIError as e:
                # A broken header only costs speed: lookups use our own index.
                self.index_errors.append(e)
                self._hdr_table = None

    # -- entries -------------------------------------------------------------------------

    def _header(self, offset: int) -> tuple[int, int, int, bool]:
        """(entry_end, id_field_offset, id_value, is_64bit) of the entry at ``offset``.

        For a terminator (length 0) entry_end == id_field_offset.
        """
        data = self.data
        if offset < 0 or offset + 4 > len(data):
            raise CFIError("entry header lies outside the section", self.name, offset)
        (length,) = _U32.unpack_from(data, offset)
        pos = offset + 4
        is64 = False
        if length == 0xFFFFFFFF:
            if pos + 8 > len(data):
                raise CFIError("64-bit entry length runs past the end", self.name, offset)
            (length,) = _U64.unpack_from(data, pos)
            pos += 8
            is64 = True
        if length == 0:
            return pos, pos, 0, is64
        end = pos + length
        if length > MAX_ENTRY_LENGTH or end > len(data):
            raise CFIError(f"entry length {length:#x} runs past the end of the section", self.name, offset)
        idsize = 8 if is64 else 4
        if pos + idsize > end:
            raise CFIError("entry too short for its CIE pointer", self.name, offset)
        ident = (_U64 if is64 else _U32).unpack_from(data, pos)[0]
        return end, pos, ident, is64

    def _is_cie(self, ident: int, is64: bool) -> bool:
        if self.is_eh:
            return ident == 0
        return ident == (0xFFFFFFFFFFFFFFFF if is64 else 0xFFFFFFFF)

    def cie_at(self, offset: int) -> CIE:
        """The CIE at ``offset`` (cached, and so is the error of a CIE that cannot be parsed)."""
        cie = self._cies.get(offset)
        if cie is None:
            bad = self._bad_cies.get(offset)
            if bad is not None:
                raise bad.with_traceback(None)
            try:
                end, idpos, ident, is64 = self._header(offset)
                if end == idpos or not self._is_cie(ident, is64):
                    raise CFIError("CIE pointer does not point at a CIE", self.name, offset)
                cie = self._parse_cie(offset, idpos + (8 if is64 else 4), end)
            except CFIError as e:
                self._bad_cies[offset] = e
                raise
            self._cies[offset] = cie
        return cie

    def _parse_cie(self, offset: int, pos: int, end: int) -> CIE:
        data = self.data
        try:
            version = data[pos]
            pos += 1
            if version not in (1, 3, 4):
                raise CFIError(f"unsupported CIE version {version}", self.name, offset)
            nul = data.find(b"\0", pos, end)
            if nul < 0:
                raise CFIError("CIE augmentation string is not terminated", self.name, offset)
            augmentation = bytes(data[pos:nul]).decode("ascii", "replace")
            pos = nul + 1
            address_size, segment_size = 8, 0
            if version == 4:
                address_size, segment_size = data[pos], data[pos + 1]
                pos += 2
                if address_size not in (4, 8):
                    raise CFIError(f"unsupported address size {address_size}", self.name, offset)
            if augmentation.startswith("eh"):
                pos += address_size  # GCC 2.x "eh" data: a pointer we do not need
            caf, pos = read_uleb128(data, pos)
            daf, pos = read_sleb128(data, pos)
            if version == 1:
                ra = data[pos]
                pos += 1
            else:
                ra, pos = read_uleb128(data, pos)
            cie = CIE(offset, version, augmentation, address_size, segment_size, caf, daf, ra, b"", is_eh=self.is_eh)
            cie.instructions_address = self.address
            if augmentation.startswith("z"):
                aug_len, pos = read_uleb128(data, pos)
                aug_end = pos + aug_len
                if aug_end > end:
                    raise CFIError("CIE augmentation data runs past the entry", self.name, offset)
                for ch in augmentation[1:]:
                    if ch == "R":
                        cie.fde_encoding = _check_encoding(data[pos], "FDE")
                        pos += 1
                    elif ch == "L":
                        cie.lsda_encoding = _check_encoding(data[pos], "LSDA")
                        pos += 1
                    elif ch == "P":
                        enc = _check_encoding(data[pos], "personality")
                        cie.personality_encoding = enc
                        bases = PointerBases(self.address, self._bases.text, self._bases.data)
                        cie.personality, pos = read_encoded(data, pos + 1, enc, bases, address_size)
                    elif ch == "S":
                        cie.signal_frame = True
                    else:
                        break  # unknown: the 'z' length lets us skip the rest
                pos = aug_end
            elif augmentation not in ("", "eh"):
                # Without 'z' the layout of unknown augmentation data cannot be known.
                if augmentation == "S":
                    cie.signal_frame = True
                else:
                    raise CFIError(f"unknown CIE augmentation {augmentation!r}", self.name, offset)
            if pos > end:
                raise CFIError("CIE runs past its length", self.name, offset)
            cie.instructions = bytes(data[pos:end])
            cie.instructions_address = self.address + pos
            cie.fast_fdes = (self.is_eh and cie.fde_encoding == 0x1B and segment_size == 0
                             and augmentation.startswith("z"))
            return cie
        except IndexError:
            raise CFIError("CIE runs past the end of the section", self.name, offset) from None
        except CFIError as e:
            if e.section:
                raise
            raise CFIError(str(e), self.name, offset) from None

    def _cie_offset(self, idpos: int, ident: int) -> int:
        return idpos - ident if self.is_eh else ident

    def fde_at(self, offset: int) -> FDE:
        """The FDE at ``offset`` in this section (cached: lookups hit the same FDEs again)."""
        fde = self._fde_cache.get(offset)
        if fde is None:
            fde = self._fde_at(offset)
            if len(self._fde_cache) < 16384:
                self._fde_cache[offset] = fde
        return fde

    def _fde_at(self, offset: int) -> FDE:
        end, idpos, ident, is64 = self._header(offset)
        if end == idpos or self._is_cie(ident, is64):
            raise CFIError("no FDE at this offset", self.name, offset)
        cie_off = self._cie_offset(idpos, ident)
        if not 0 <= cie_off < len(self.data):
            raise CFIError(f"CIE pointer {cie_off:#x} points outside the section", self.name, offset)
        cie = self.cie_at(cie_off)
        return self._parse_fde(offset, idpos + (8 if is64 else 4), end, cie)

    def _parse_fde(self, offset: int, pos: int, end: int, cie: CIE) -> FDE:
        data = self.data
        try:
            pos += cie.segment_size
            enc = cie.fde_encoding
            bases = self._bases
            if enc == 0x1B and pos + 8 <= end:  # pcrel|sdata4: what GCC and LLVM write, inline
                begin, pc_range = _PCREL_SDATA4.unpack_from(data, pos)
                pc_begin = (self.address + pos + begin) & 0xFFFFFFFFFFFFFFFF
                pos += 8
            else:
                pc_begin, pos = read_encoded(data, pos, enc, bases, cie.address_size)
                pc_range, pos = read_encoded(data, pos, enc & 0x0F, bases, cie.address_size)
            lsda = None
            if cie.augmentation.startswith("z"):
                aug_len, pos = read_uleb128(data, pos)
                aug_end = pos + aug_len
                if cie.lsda_encoding != DW_EH_PE_omit and aug_len:
                    lsda, _ = read_encoded(data, pos, cie.lsda_encoding, bases, cie.address_size)
                pos = aug_end
            if pos > end:
                raise CFIError("FDE runs past its length", self.name, offset)
            return FDE(offset, cie, pc_begin or 0, pc_range or 0, bytes(data[pos:end]), lsda, self.name,
                       self.address + pos)
        except IndexError:
            raise CFIError("FDE runs past the end of the section", self.name, offset) from None
        except CFIError as e:
            if e.section:
                raise
            raise CFIError(str(e).split(": ", 1)[-1], self.name, offset) from None

    def entries(self, errors: list[CFIError] | None = None) -> Iterator[CIE | FDE]:
        """Every CIE and FDE in section order.

        An entry that cannot be decoded is reported into ``errors`` (or raised
        when ``errors`` is None) and skipped; when its length itself is broken
        the walk cannot continue and stops there.
        """
        offset = 0
        data = self.data
        size = len(data)
        reported: set[int] = set()  # ids of errors said already (a bad CIE is said once, not per FDE)
        terminator: int | None = None
        cies = self._cies
        fast = self.is_eh
        address = self.address
        name = self.name
        while offset < size:
            if fast and terminator is None and offset + 8 <= size:
                # The common .eh_frame FDE, decoded inline: 32-bit length, a CIE already seen
                # that says pcrel|sdata4 and 'z', no LSDA or a pcrel|sdata4 one. Anything else,
                # every error, and whatever follows a zero terminator take the general path below.
                length, ident = _LENGTH_ID.unpack_from(data, offset)
                end = offset + 4 + length
                if ident and 8 <= length + 4 <= MAX_ENTRY_LENGTH and end <= size:
                    cie = cies.get(offset + 4 - ident)
                    if cie is not None and cie.fast_fdes:
                        pos = offset + 8
                        if pos + 9 <= end:
                            begin, pc_range, aug_len = _FAST_FDE.unpack_from(data, pos)
                            pos += 9
                            lsda = None
                            if aug_len and cie.lsda_encoding != DW_EH_PE_omit:
                                if cie.lsda_encoding != 0x1B or aug_len < 4 or aug_len >= 0x80:
                                    pos = -1
                                else:
                                    lsda = (address + pos + _I32.unpack_from(data, pos)[0]) & _MASK64
                            if 0 <= pos and aug_len < 0x80 and pos + aug_len <= end:
                                pos += aug_len
                                yield FDE(offset, cie, (address + offset + 8 + begin) & _MASK64, pc_range,
                                          bytes(data[pos:end]), lsda, name, address + pos)
                                offset = end
                                continue
            try:
                end, idpos, ident, is64 = self._header(offset)
            except CFIError as e:
                if errors is None:
                    raise
                errors.append(e)
                # A broken length hides where the next entry starts; .eh_frame_hdr knows
                # where every FDE starts, so the rest of the section can still be served.
                resume = self._resume_after(offset, errors)
                if resume is None:
                    return
                offset = resume
                continue
            if end == idpos:
                if self.is_eh:
                    # A zero length ends .eh_frame for the runtime, but post-link tools (BOLT) leave
                    # entries after one, listed in .eh_frame_hdr; readelf lists them, so do we.
                    if terminator is None:
                        terminator = offset
                    if not any(self.data[end:]):
                        return  # only padding (or nothing) after it
                offset = end
                continue
            if terminator is not None and not self.warnings:
                self.warnings.append(CFIError("zero terminator before the end of the section; the entries after "
                                              "it are listed too", self.name, terminator))
            try:
                if self._is_cie(ident, is64):
                    yield self.cie_at(offset)
                else:
                    cie_off = self._cie_offset(idpos, ident)
                    if not 0 <= cie_off < size:
                        raise CFIError(f"CIE pointer {cie_off:#x} points outside the section", self.name, offset)
                    yield self._parse_fde(offset, idpos + (8 if is64 else 4), end, self.cie_at(cie_off))
            except CFIError as e:
                if errors is None:
                    raise
                if id(e) not in reported:
                    reported.add(id(e))
                    errors.append(e)
            offset = end

    def _resume_after(self, offset: int, errors: list[CFIError]) -> int | None:
        """Where the next FDE after ``offset`` starts, from .eh_frame_hdr (None: unknown)."""
        if self._hdr_table is None:
            return None
        try:
            return self._hdr_table.next_fde_offset(offset)
        except CFIError as e:
            errors.append(e)
            self._hdr_table = None
            return None

    def fdes(self, errors: list[CFIError] | None = None) -> Iterator[FDE]:
        """Every FDE in section order (see :meth:`entries` for ``errors``)."""
        for entry in self.entries(errors):
            if isinstance(entry, FDE):
                yield entry

    # -- lookup --------------------------------------------------------------------------

    def _build_index(self) -> tuple[list[int], list[int]]:
        items = []
        errors: list[CFIError] = []
        for fde in self.fdes(errors):
            if fde.pc_range:
                items.append((fde.pc_begin, fde.offset))
        items.sort()
        self.index_errors.extend(errors)
        return [b for b, _ in items], [o for _, o in items]

    def fde_for(self, pc: int) -> FDE | None:
        """The FDE whose range contains ``pc``, or None.

        Uses .eh_frame_hdr's sorted table when present; otherwise an index of
        our own, built once from a scan of the entry headers.
        """
        if self._hdr_table is not None:
            try:
                off = self._hdr_table.lookup(pc)
            except CFIError as e:
                # A header that cannot be read: say it once and serve lookups from our own index.
                self.index_errors.append(e)
                self._hdr_table = None
            else:
                if off is None:
                    return None
                fde = self.fde_at(off)  # a bad FDE is the FDE's problem, not the header's
                return fde if fde.pc_begin <= pc < fde.pc_end else None
        if self._index is None:
            self._index = self._build_index()
        begins, offsets = self._index
        i = bisect.bisect_right(begins, pc) - 1
        # Overlapping or zero-length FDEs are rare; look back a few entries for a match.
        for j in range(i, max(i - 4, -1), -1):
            fde = self.fde_at(offsets[j])
            if fde.pc_begin <= pc < fde.pc_end:
                return fde
        return None


_KNOWN_FORMATS = frozenset({0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x09, 0x0A, 0x0B, 0x0C})
_KNOWN_APPLICATIONS = frozenset({0x00, 0x10, 0x20, 0x30, 0x40, 0x50})


def _check_encoding(encoding: int, what: str) -> int:
    """``encoding`` if we can read pointers in it, else a CFIError for the CIE (said once, not per FDE)."""
    if encoding != DW_EH_PE_omit and (encoding & 0x0F not in _KNOWN_FORMATS
                                      or encoding & 0x70 not in _KNOWN_APPLICATIONS):
        raise CFIError(f"unknown {what} pointer encoding {encoding:#04x}")
    return encoding


class _HdrTable:
    """The binary-search table of .eh_frame_hdr (LSB 10.6.2)."""

    def __init__(self, data: bytes, pos: int, count: int, enc: int, bases: PointerBases, eh_address: int) -> None:
        self.data = data
        self.pos = pos
        self.count = count
        self.enc = enc
        self.bases = bases
        self.eh_address = eh_address
        self.fast = enc == 0x3B  # datarel|sdata4: what every linker writes
        self.hdr_address = bases.data or 0
        self._offsets: list[int] | None = None
        self._locs: list[int] | None = None
        self._fdes: list[int] = []

    @classmethod
    def parse(cls, hdr: bytes, hdr_address: int, eh_address: int) -> "_HdrTable | None":
        """The table, or None when the header says it has none (LSB 10.6.2: fde_count_enc or table_enc
        DW_EH_PE_omit).  GNU ld writes such a header when it cannot edit .eh_frame ("no .eh_frame_hdr
        table will be created"); consumers then scan .eh_frame, as libgcc does."""
        if len(hdr) < 4 or hdr[0] != 1:
            raise CFIError("unsupported .eh_frame_hdr version", ".eh_frame_hdr", 0)
        ptr_enc, count_enc, table_enc = hdr[1], hdr[2], hdr[3]
        bases = PointerBases(hdr_address, None, hdr_address)
        _, pos = read_encoded(hdr, 4, ptr_enc, bases)
        count, pos = read_encoded(hdr, pos, count_enc, bases)
        if count is None or table_enc == DW_EH_PE_omit:
            return None
        from .encoding import encoded_size

        size = encoded_size(table_enc)
        if not size:
            raise CFIError(f"search table encoding {table_enc:#04x} is not searchable", ".eh_frame_hdr", 3)
        if pos + count * 2 * size > len(hdr):
            raise CFIError(f"search table of {count} entries runs past the end of the section", ".eh_frame_hdr", pos)
        return cls(hdr, pos, count, table_enc, bases, eh_address)

    def _entry(self, i: int) -> tuple[int, int]:
        if self.fast:
            loc, addr = struct.unpack_from("<ii", self.data, self.pos + 8 * i)
            return self.hdr_address + loc, self.hdr_address + addr
        # Generic path: entries have a fixed size for every non-LEB128 encoding.
        from .encoding import encoded_size

        size = encoded_size(self.enc) or 8
        p = self.pos + 2 * size * i
        try:
            loc, p = read_encoded(self.data, p, self.enc, self.bases)
            addr, _ = read_encoded(self.data, p, self.enc, self.bases)
        except CFIError as e:
            raise CFIError(f"search table entry {i}: {str(e).split(': ', 1)[-1]}", ".eh_frame_hdr",
                           self.pos + 2 * size * i) from None
        return loc or 0, addr or 0

    def next_fde_offset(self, offset: int) -> int | None:
        """The smallest .eh_frame offset of an FDE in the table that lies after ``offset``."""
        if self._offsets is None:
            self._offsets = sorted(self._entry(i)[1] - self.eh_address for i in range(self.count))
        i = bisect.bisect_right(self._offsets, offset)
        return self._offsets[i] if i < len(self._offsets) else None

    def lookup(self, pc: int) -> int | None:
        """The .eh_frame offset of the last FDE whose initial location is <= pc."""
        if self.fast:
            base = self.hdr_address
            if self._locs is None:
                # Unpacked once, without a Python loop: then each lookup is one C-level bisect.
                # Both fields stay relative to the header (sorted all the same).
                raw = self.data[self.pos : self.pos + 8 * self.count]
                if sys.byteorder == "little":
                    words = memoryview(raw).cast("i")
                    self._locs, self._fdes = words[0::2].tolist(), words[1::2].tolist()
                else:
                    pairs = list(struct.iter_unpack("<ii", raw))
                    self._locs, self._fdes = [p[0] for p in pairs], [p[1] for p in pairs]
            i = bisect.bisect_right(self._locs, pc - base)
            return base + self._fdes[i - 1] - self.eh_address if i else None
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            if self._entry(mid)[0] <= pc:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            return None
        return self._entry(lo - 1)[1] - self.eh_address
