"""LEB128 and DW_EH_PE pointer encodings.

Readers take ``(buf, pos)`` and return ``(value, new_pos)``; they raise
:class:`EncodingError` (a :class:`CFIError`) when the data ends early, so the
caller can attach the section and entry offset.
"""

from __future__ import annotations

import struct

from ..errors import CFIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:  # typing costs ~5 ms of start-up (dwarfunwind/_typing.py)
    from .._typing import NamedTuple

# DW_EH_PE value formats (low nibble) and application (high bits).
DW_EH_PE_absptr = 0x00
DW_EH_PE_uleb128 = 0x01
DW_EH_PE_udata2 = 0x02
DW_EH_PE_udata4 = 0x03
DW_EH_PE_udata8 = 0x04
DW_EH_PE_signed = 0x08
DW_EH_PE_sleb128 = 0x09
DW_EH_PE_sdata2 = 0x0A
DW_EH_PE_sdata4 = 0x0B
DW_EH_PE_sdata8 = 0x0C
DW_EH_PE_pcrel = 0x10
DW_EH_PE_textrel = 0x20
DW_EH_PE_datarel = 0x30
DW_EH_PE_funcrel = 0x40
DW_EH_PE_aligned = 0x50
DW_EH_PE_indirect = 0x80
DW_EH_PE_omit = 0xFF

MASK64 = (1 << 64) - 1

# A LEB128 longer than this cannot hold a 64-bit value plus padding; refusing
# it bounds the loop on garbage (a run of 0x80 bytes).
MAX_LEB128_BYTES = 16


class EncodingError(CFIError):
    """Data ended early or held an impossible encoding."""


def read_uleb128(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 at ``pos``."""
    result = 0
    shift = 0
    end = len(buf)
    limit = pos + MAX_LEB128_BYTES
    while True:
        if pos >= end:
            raise EncodingError("LEB128 runs past the end of the data", offset=pos)
        if pos >= limit:
            raise EncodingError("LEB128 longer than 16 bytes", offset=pos)
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def read_sleb128(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a signed LEB128 at ``pos``."""
    result = 0
    shift = 0
    end = len(buf)
    limit = pos + MAX_LEB128_BYTES
    while True:
        if pos >= end:
            raise EncodingError("LEB128 runs past the end of the data", offset=pos)
        if pos >= limit:
            raise EncodingError("LEB128 longer than 16 bytes", offset=pos)
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte & 0x40:
                result -= 1 << shift
            return result, pos


def encode_uleb128(value: int) -> bytes:
    """Encode a non-negative integer as unsigned LEB128."""
    if value < 0:
        raise ValueError("uleb128 of a negative number")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_sleb128(value: int) -> bytes:
    """Encode an integer as signed LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


_FIXED = {
    DW_EH_PE_udata2: struct.Struct("<H"),
    DW_EH_PE_udata4: struct.Struct("<I"),
    DW_EH_PE_udata8: struct.Struct("<Q"),
    DW_EH_PE_sdata2: struct.Struct("<h"),
    DW_EH_PE_sdata4: struct.Struct("<i"),
    DW_EH_PE_sdata8: struct.Struct("<q"),
}


class PointerBases(NamedTuple):
    """Base addresses for DW_EH_PE applications.

    ``section_address`` is the address of byte 0 of the buffer being read (so
    pcrel is ``section_address + pos``); the others are None when unknown.
    """

    section_address: int = 0
    text: int | None = None
    data: int | None = None
    func: int | None = None


def encoded_size(encoding: int, address_size: int = 8) -> int | None:
    """Size in bytes of a fixed-size pointer encoding, or None for LEB128 and omit."""
    fmt = encoding & 0x0F
    if encoding == DW_EH_PE_omit:
        return 0
    if fmt in (DW_EH_PE_absptr, DW_EH_PE_signed):
        return address_size
    s = _FIXED.get(fmt)
    return s.size if s else None


def read_encoded(
    buf: bytes | memoryview,
    pos: int,
    encoding: int,
    bases: PointerBases,
    address_size: int = 8,
    read_memory=None,
) -> tuple[int | None, int]:
    """Read a DW_EH_PE-encoded pointer at ``pos``.

    Returns ``(value, new_pos)``; value is None for DW_EH_PE_omit. An
    ``indirect`` pointer is dereferenced through ``read_memory(addr, 8)`` when
    given, otherwise the address of the slot is returned (as readelf does).
    """
    if encoding == DW_EH_PE_omit:
        return None, pos
    start = pos
    app = encoding & 0x70
    if app == DW_EH_PE_aligned:
        misalign = (bases.section_address + pos) % address_size
        if misalign:
            pos += address_size - misalign
        start = pos
    fmt = encoding & 0x0F
    if fmt == DW_EH_PE_absptr:
        s = _FIXED[DW_EH_PE_udata8 if address_size == 8 else DW_EH_PE_udata4]
    elif fmt == DW_EH_PE_signed:
        # "signed absptr" (0x08, 0x18, 0x88, 0x98: LLVM's tests write them): a signed pointer of the
        # address size, as readelf reads it (its size comes from the low 3 bits, its sign from 0x08).
        s = _FIXED[DW_EH_PE_sdata8 if address_size == 8 else DW_EH_PE_sdata4]
    elif fmt == DW_EH_PE_uleb128:
        s = None
        value, pos = read_uleb128(buf, pos)
    elif fmt == DW_EH_PE_sleb128:
        s = None
        value, pos = read_sleb128(buf, pos)
    else:
        s = _FIXED.get(fmt)
        if s is None:
            raise EncodingError(f"unknown pointer encoding {encoding:#04x}", offset=pos)
    if s is not None:
        if pos + s.size > len(buf):
            raise EncodingError("encoded pointer runs past the end of the data", offset=pos)
        (value,) = s.unpack_from(buf, pos)
        pos += s.size
    if app == DW_EH_PE_pcrel:
        value += bases.section_address + start
    elif app == DW_EH_PE_textrel:
        if bases.text is None:
            raise EncodingError("textrel pointer without a text base", offset=start)
        value += bases.text
    elif app == DW_EH_PE_datarel:
        if bases.data is None:
            raise EncodingError("datarel pointer without a data base", offset=start)
        value += bases.data
    elif app == DW_EH_PE_funcrel:
        if bases.func is None:
            raise EncodingError("funcrel pointer without a function base", offset=start)
        value += bases.func
    elif app not in (0, DW_EH_PE_aligned):
        raise EncodingError(f"unknown pointer application {encoding:#04x}", offset=start)
    value &= MASK64 if address_size == 8 else 0xFFFFFFFF
    if encoding & DW_EH_PE_indirect and read_memory is not None:
        value = int.from_bytes(read_memory(value, address_size), "little")
    return value, pos
