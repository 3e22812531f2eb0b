"""Minimal reproducers of decoder bugs found by the CFI properties (tests/test_fuzz.py).

Each test holds its input inline. Tests marked xfail(strict=True) document a
bug not fixed yet: when the fix lands the test passes, strict xfail turns that
into a failure, and the marker (and the matching entry of
dwarfunwind.testing.properties.KNOWN_DECODER_BUGS) must be removed.
"""
import struct

from dwarfunwind.cfi.program import row_at, rows
from dwarfunwind.cfi.sections import CFISection
from dwarfunwind.errors import DwarfUnwindError

# CIE "zR" (FDE pointers pcrel|sdata4): CFA rsp+8, ra at cfa-8; then an FDE for 0x1000..0x1020 whose
# instructions are DW_CFA_set_loc (pcrel|sdata4) -> 0x1010, DW_CFA_def_cfa_offset 16.
# The section is at 0x2000; the set_loc operand is at 0x2000+0x25 and holds 0x1010-0x2025 = -0x1015.
SET_LOC_PCREL = bytes.fromhex(
    "1300000000000000017a5200017810011b0c0708900100"
    "140000001b000000e1efffff200000000001e7efffff0e10")


def test_set_loc_pcrel_is_relative_to_the_operand():
    sec = CFISection(".eh_frame", SET_LOC_PCREL, 0x2000)
    fde = next(sec.fdes())
    assert (fde.pc_begin, fde.pc_end) == (0x1000, 0x1020)
    assert [r.loc for r in rows(fde)] == [0x1000, 0x1010]
    assert row_at(fde, 0x1010).cfa.offset == 16


# A valid .eh_frame (one CIE, one FDE for 0x1000..0x1001) at 0x2000 and an .eh_frame_hdr at 0x2100
# whose one table entry (datarel|sdata4) points 1 MiB *before* the .eh_frame section.
EH_FRAME = bytes.fromhex("1400000000000000017a5200017810011b0c070890010000"
                         "140000001c000000e0efffff010000000000000000000000")
HDR_ADDRESS = 0x2100
BAD_HDR = bytes([1, 0x1B, 0x03, 0x3B]) + struct.pack("<iI", 0x2000 - (HDR_ADDRESS + 4), 1) \
    + struct.pack("<ii", 0x1000 - HDR_ADDRESS, -0x100000)


def test_fde_for_with_hdr_entry_before_the_section_raises_cfi_error():
    sec = CFISection(".eh_frame", EH_FRAME, 0x2000, hdr=BAD_HDR, hdr_address=HDR_ADDRESS)
    assert next(sec.fdes()).pc_begin == 0x1000  # the section itself is fine
    try:
        sec.fde_for(0x1000)
    except DwarfUnwindError:
        pass
