"""Property-based fuzzing of CFI (dwarfunwind.testing; docs/fuzzing.md).

Examples per property: env DWARFUNWIND_FUZZ_EXAMPLES (``tox -e fuzz`` sets
2000); by default a small, derandomized run. Bugs the properties found are
kept as plain tests in tests/regressions/.
"""
import os
import random
import shutil

import pytest

from dwarfunwind.testing import properties as P
from dwarfunwind.testing.encoder import encode_file
from dwarfunwind.testing.frames import FrameBuilder
from dwarfunwind.testing.model import model_rows
from dwarfunwind.testing.strategies import apply_mutations

test_roundtrip = P.hypothesis_test("roundtrip")
test_unwind = P.hypothesis_test("unwind")
test_equivalent_encodings = P.hypothesis_test("equivalent_encodings")
test_pyelftools = P.hypothesis_test("pyelftools")
test_robustness = P.hypothesis_test("robustness")
# Each example is built to be costly: fewer of them in the default run (all of them under tox -e fuzz).
test_budget = P.hypothesis_test("budget", None if "DWARFUNWIND_FUZZ_EXAMPLES" in os.environ else 15)

_readelf = P.hypothesis_test("readelf")
_gnu_as = P.hypothesis_test("gnu_as")


def test_readelf():
    if P.readelf_oracle() is None:
        pytest.skip("readelf or tests/oracles not available")
    _readelf()


def test_gnu_as():
    if shutil.which("as") is None or P.readelf_oracle() is None:
        pytest.skip("as or readelf not available")
    _gnu_as()


def test_property_names_are_all_tested():
    tested = {n[len("test_"):] for n in globals() if n.startswith("test_")}
    assert set(P.PROPERTY_NAMES) <= tested


# -- the machinery itself: a broken generator would make every property vacuous ---------------------


def _caller():
    regs = {r: 0x1111 * (r + 1) for r in range(16)}
    regs[7] = 0x7FFC_0000_1000
    regs[16] = 0x401234
    return regs


def test_frame_builder_push_and_frame_pointer():
    b = FrameBuilder(_caller())
    b.push(6)
    b.end_instruction(1)
    b.setfp()
    b.end_instruction(3)
    b.push(3)
    b.end_instruction(1)
    case = b.finish(4)
    assert [(r.loc, r.cfa.register, r.cfa.offset) for r in case.rows] == [(0, 7, 8), (1, 7, 16), (4, 6, 16),
                                                                        (5, 6, 16)]
    assert case.rows[-1].rules[3].arg == -24 and case.rows[-1].rules[6].arg == -16
    assert case.state_at(4).regs[6] == case.state_at(4).regs[7]  # rbp == rsp before the push rbx


def test_mutations_are_applied():
    data = bytes(range(16))
    assert apply_mutations(data, [("flip", 1, 0)])[1] == 0
    assert apply_mutations(data, [("truncate", 4)]) == data[:4]
    assert apply_mutations(data, [("insert", 0, b"\xff")])[:2] == b"\xff\x00"
    assert apply_mutations(data, [("length", 0, 0xFFFFFFFF)])[:4] == b"\xff" * 4


def test_encoder_is_decoded_by_readelf_with_every_fde_encoding(tmp_path):
    """One fixed model through every .eh_frame pointer encoding the generator uses."""
    if P.readelf_oracle() is None:
        pytest.skip("readelf not available")
    from dwarfunwind.elf.module import ElfFile
    from dwarfunwind.testing.model import CIEModel, FDEModel, SectionModel

    b = FrameBuilder(_caller())
    b.push(3)
    b.end_instruction(1)
    b.sub(32)
    b.end_instruction(4)
    case = b.finish(8)
    for enc in (0x1B, 0x00, 0x03, 0x04, 0x0B, 0x0C, 0x1C, 0x02, 0x0A):
        model = SectionModel(".eh_frame", 0x2000, [CIEModel(fde_encoding=enc)],
                             [FDEModel(0x1000, case.length, case.rows)], text_size=0x100, cases=[case])
        f = encode_file(model, random.Random(enc), etype=3, with_hdr=True, avoid=P.KNOWN_DECODER_BUGS)
        path = tmp_path / f"enc{enc:x}.elf"
        path.write_bytes(f.elf)
        elf = ElfFile.open(str(path), find_debug=False)
        sec = elf.cfi_sections()[0]
        assert P.decoded_rows(next(sec.fdes()), sec.address) == model_rows(case.rows)
        assert P.compare_with_readelf(str(path), [sec], relocatable=False) == []
