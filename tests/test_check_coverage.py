"""``check``'s coverage findings, by construction (tests/check_coverage/coverage.S).

Oracles: GNU as/ld build the file; ``nm`` gives the symbols and ``readelf --debug-dump=frames``
the FDE ranges that the findings must name; the .eh_frame_hdr test corrupts one table entry
of the linked file and expects exactly that entry to be reported.
"""
import re
import struct
import subprocess

import pytest
from conftest import ROOT

from dwarfunwind.check import check_file
from dwarfunwind.elf.reader import ELFReader

SRC = ROOT / "tests" / "check_coverage" / "coverage.S"


def _run(cmd):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory, need_tool):
    d = tmp_path_factory.mktemp("cov")
    obj, exe = d / "cov.o", d / "cov"
    _run([need_tool("gcc"), "-c", "-o", obj, SRC])
    _run([need_tool("ld"), "--eh-frame-hdr", "-e", "0", "-o", exe, obj])
    syms = {}
    for line in _run([need_tool("nm"), exe]).splitlines():
        addr, _, name = line.split()
        syms[name] = int(addr, 16)
    fdes = [(int(a, 16), int(b, 16)) for a, b in
            re.findall(r"FDE cie=\w+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", _run([need_tool("readelf"), "-wf", exe]))]
    return exe, syms, fdes


def _fde_covering(fdes, addr):
    (hit,) = [f for f in fdes if f[0] <= addr < f[1]]
    return hit


def test_coverage_findings_by_construction(built):
    exe, syms, fdes = built
    report = check_file(str(exe))
    cov = {(f.kind, f.address) for f in report.findings() if f.kind in ("coverage", "no-fde")}
    ends = _fde_covering(fdes, syms["ends_mid"])
    starts = _fde_covering(fdes, syms["starts_mid"] + 5)
    assert ("no-fde", syms["no_fde"]) in cov
    assert ("coverage", ends[1]) in cov  # ends in the middle of an instruction, at its end
    assert ("coverage", starts[0]) in cov  # starts in the middle of starts_mid's movabs
    assert starts[0] != syms["starts_mid"]
    # The clean function and the well-formed header add nothing.
    assert len(cov) == 3
    assert not any(f.function == "fine" for f in report.findings())
    # A FUNC symbol without FDE is a note: it alone does not make the file dirty.
    assert not any(f.is_defect for f in report.findings() if f.kind == "no-fde")


def test_eh_frame_hdr_disagreement(built, tmp_path):
    exe, syms, fdes = built
    data = bytearray(exe.read_bytes())
    hdr = ELFReader(bytes(data)).section(".eh_frame_hdr")
    assert data[hdr.offset + 3] == 0x3B  # datarel|sdata4 table, as every linker writes it
    entry = hdr.offset + 12  # version, 3 encodings, eh_frame_ptr, fde_count
    loc = struct.unpack_from("<i", data, entry)[0]
    struct.pack_into("<i", data, entry, loc + 1)
    bad = tmp_path / "cov_badhdr"
    bad.write_bytes(bytes(data))
    found = [f for f in check_file(str(bad)).findings() if f.kind == "coverage" and "eh_frame_hdr" in f.message]
    assert len(found) == 1 and found[0].address == hdr.addr + loc + 1
    assert "entry 0" in found[0].message
