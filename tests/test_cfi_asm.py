"""Hand-written CFI (tests/asm/*.S, one file per instruction/encoding family),
assembled with ``as --64`` and linked with ``ld`` at test time.

For every file: our ``cfi --json`` rows == readelf's rows (the oracle), for the
linked executable and for the relocatable object.  For files with DWARF
expressions (written with .cfi_escape), our ``dwarfunwind.cfi.expr.disassemble``
of the expression bytes == llvm-dwarfdump's text.  One test links several
files into a shared object with .eh_frame_hdr and checks address lookups
through the library against readelf's rows.
"""
import glob
import json
import os
import re
import subprocess

import pytest
from oracles import (
    REPO_ROOT,
    UNDEF,
    canon_contract_cfa,
    canon_contract_rule,
    diff_file,
    python_exe,
    render_rule,
    scan_elf,
)
from oracles import llvm as LL
from oracles import readelf as R

ASM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "asm")
ASM_FILES = sorted(glob.glob(os.path.join(ASM_DIR, "*.S")))
IDS = [os.path.basename(p)[:-2] for p in ASM_FILES]

# What each file must produce (checked so that a silently ignored directive is noticed).
EXPECT_SECTIONS = {
    "debug_frame": [".debug_frame"],
    "both_sections": [".eh_frame", ".debug_frame"],
    "cie_sharing": [".eh_frame", ".debug_frame"],
    "cie_version3": [".eh_frame", ".debug_frame"],
    "cie_version4": [".eh_frame", ".debug_frame"],
}

# Extra assembler flags of some files (gas writes CIE version 1 unless told otherwise).
AS_FLAGS = {
    "cie_version3": ["--gdwarf-cie-version=3"],
    "cie_version4": ["--gdwarf-cie-version=4"],
}


def _run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory, need_tool):
    """Assemble every .S (object) and link it (static executable); {name: (obj, exe)}."""
    as_ = need_tool("as")
    ld = need_tool("ld")
    need_tool("readelf")
    d = tmp_path_factory.mktemp("asm")
    out = {}
    for src, name in zip(ASM_FILES, IDS):
        obj = str(d / f"{name}.o")
        exe = str(d / name)
        _run([as_, "--64", *AS_FLAGS.get(name, []), "-o", obj, src])
        _run([ld, "--eh-frame-hdr", "-e", "0", "-o", exe, obj])
        out[name] = (obj, exe)
    return out


def _check(path: str, name: str):
    r = diff_file(path)
    assert not r.skipped, f"readelf could not be used on {path}: {r.skipped}"
    if r.mismatches:
        pytest.fail("\n".join([f"{name}: {len(r.mismatches)} mismatch(es) vs readelf:"]
                              + [f"  {m}" for m in r.mismatches[:40]] + [f"  note: {n}" for n in r.notes[:5]]),
                    pytrace=False)
    assert r.fdes > 0 and r.rows > 0
    return r


@pytest.mark.parametrize("name", IDS)
def test_asm_linked_matches_readelf(built, name):
    obj, exe = built[name]
    info = scan_elf(exe)
    want = EXPECT_SECTIONS.get(name, [".eh_frame"])
    assert info.cfi_sections == want, f"{name}: expected CFI in {want}, got {info.cfi_sections}"
    _check(exe, name)


@pytest.mark.parametrize("name", IDS)
def test_asm_object_matches_readelf(built, name):
    """The relocatable object: rows relative to pc_begin (readelf applies relocations, we do not)."""
    obj, exe = built[name]
    _check(obj, name)


def test_signal_frame_flag(built):
    """'S' augmentation: readelf's CIE string says which FDEs are signal frames; ours must agree."""
    obj, exe = built["signal_frame"]
    dump = R.run(exe)
    flags = sorted(bool(f.signal_frame) for f in dump.section(".eh_frame").fdes)
    assert flags == [False, True]  # the oracle itself: one signal frame, one normal
    _check(exe, "signal_frame")


@pytest.mark.parametrize("name,version", [("cie_version3", 3), ("cie_version4", 4)])
def test_cie_version_flag(built, name, version):
    """The AS_FLAGS really gave CIEs of that version (readelf's raw dump), in both sections."""
    obj, exe = built[name]
    raw = _run([R.readelf_path(), "--debug-dump=frames", exe]).stdout
    versions = [int(v) for v in re.findall(r"^\s+Version:\s+(\d+)", raw, re.M)]
    assert len(versions) >= 4 and set(versions) == {version}, versions
    _check(exe, name)


# ---------------------------------------------------------------- expressions vs llvm-dwarfdump

def _uleb(b: bytes, i: int):
    v = shift = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return v, i


def _source_expressions(src: str) -> list:
    """(op, expression bytes) of every .cfi_escape that is an expression instruction, in order."""
    out = []
    for line in open(src):
        m = re.match(r"\s*\.cfi_escape\s+([^/]*)", line)
        if not m:
            continue
        raw = bytes(int(t, 0) for t in m.group(1).replace(",", " ").split())
        op = raw[0]
        if op == 0x0F:
            n, i = _uleb(raw, 1)
            out.append(("DW_CFA_def_cfa_expression", raw[i:i + n]))
        elif op in (0x10, 0x16):
            _, i = _uleb(raw, 1)
            n, i = _uleb(raw, i)
            out.append(("DW_CFA_expression" if op == 0x10 else "DW_CFA_val_expression", raw[i:i + n]))
    return out


# LLVM 14's dwarfdump stops on sequences GNU tools accept ("DW_CFA_def_cfa_offset found when CFA rule was
# not RegPlusOffset": docs/oracle-bugs.md); their expressions are checked in the other files.
LLVM_REFUSES = {"cfa_expression_offset"}
EXPR_IDS = [n for n, s in zip(IDS, ASM_FILES) if _source_expressions(s) and n not in LLVM_REFUSES]


@pytest.mark.parametrize("name", EXPR_IDS)
def test_expression_text_matches_llvm(built, name):
    exe = built[name][1]
    if LL.llvm_dwarfdump_path() is None:
        pytest.skip("llvm-dwarfdump not found on PATH")
    try:
        from dwarfunwind.cfi.expr import disassemble
    except ImportError:
        pytest.skip("disassemble not yet available")
    src = os.path.join(ASM_DIR, name + ".S")
    want = _source_expressions(src)
    dump = LL.run(exe)
    assert dump.returncode == 0, f"llvm-dwarfdump failed on {exe}: {dump.stderr}"
    sections = sorted({e.section for e in dump.entries if any(i.op in LL.EXPR_OPS for i in e.instrs)})
    assert sections, f"llvm-dwarfdump shows no expression in {exe}"
    for sec in sections:
        got = dump.expressions(sec)
        assert [g.op for g in got] == [w[0] for w in want], (sec, [g.op for g in got])
        for g, (op, expr) in zip(got, want):
            assert disassemble(expr) == g.expression, \
                f"{name} {sec} {op} bytes={expr.hex()}: ours={disassemble(expr)!r} llvm={g.expression!r}"


def test_expression_text_matches_llvm_libc(need_tool):
    """The expressions of the PLT/signal-trampoline idioms in libc, bytes from pyelftools."""
    if LL.llvm_dwarfdump_path() is None:
        pytest.skip("llvm-dwarfdump not found on PATH")
    try:
        from dwarfunwind.cfi.expr import disassemble
    except ImportError:
        pytest.skip("disassemble not yet available")
    path = "/lib/x86_64-linux-gnu/libc.so.6"
    if not os.path.exists(path):
        pytest.skip(f"{path} missing")
    from elftools.dwarf.callframe import CIE, FDE
    from elftools.elf.elffile import ELFFile
    ours = []
    with open(path, "rb") as f:
        ef = ELFFile(f)
        names = {0x0F: "DW_CFA_def_cfa_expression", 0x10: "DW_CFA_expression", 0x16: "DW_CFA_val_expression"}
        for e in ef.get_dwarf_info().EH_CFI_entries():
            if not isinstance(e, (CIE, FDE)):
                continue
            for ins in e.instructions:
                if ins.opcode in names:
                    expr = ins.args[-1]
                    ours.append((names[ins.opcode], bytes(expr)))
    got = LL.run(path).expressions(".eh_frame")
    assert [g.op for g in got] == [o for o, _ in ours]
    for g, (op, expr) in zip(got, ours):
        assert disassemble(expr) == g.expression, (
            f"{op} bytes={expr.hex()}: ours={disassemble(expr)!r} llvm={g.expression!r}")


# ---------------------------------------------------------------- shared object + .eh_frame_hdr lookups

SO_PARTS = ["def_cfa", "remember_state", "expressions", "advance", "register", "signal_frame"]


def _open_library(path):
    import dwarfunwind
    opener = getattr(dwarfunwind, "open_elf", None)
    if opener is None:  # until the package exposes open_elf
        from dwarfunwind.elf.module import ElfFile
        opener = ElfFile.open
    return opener(path)


def _lib_row_canon(row):
    from dwarfunwind.cfi.rules import format_cfa, format_rule
    regs = {}
    for r, rule in row.regs.items():
        c = canon_contract_rule(format_rule(rule))
        if c != UNDEF:
            regs[r] = c
    return canon_contract_cfa(format_cfa(row.cfa)), regs


def _lookup_checks(path):
    """(address, readelf row) at the first and last byte of every row of every FDE, the FDEs, and
    addresses outside every FDE."""
    dump = R.run(path)
    fdes = [R.canon_fde(f) for f in dump.section(".eh_frame").fdes]
    checks = []  # (address, expected row or None)
    for f in fdes:
        rows = [r for r in f.rows if f.pc_begin <= r.loc < f.pc_end]
        for i, r in enumerate(rows):
            end = rows[i + 1].loc if i + 1 < len(rows) else f.pc_end
            checks.append((r.loc, r))
            checks.append((end - 1, r))
        checks.append((f.pc_end - 1, rows[-1]))
    lo = min(f.pc_begin for f in fdes)
    hi = max(f.pc_end for f in fdes)
    def covered(a):
        return any(f.pc_begin <= a < f.pc_end for f in fdes)
    outside = [a for a in (0, lo - 1, hi, hi + 0x1000) if not covered(a)]
    assert outside
    return checks, fdes, outside


def _lookup_failures(path, checks, outside):
    """Our library's row_for(address) against readelf's rows."""
    elf = _open_library(path)
    failures = []
    for addr, want in checks:
        row = elf.row_for(addr)
        if row is None:
            failures.append(f"{addr:#x}: ours=<no row> readelf=cfa {render_rule(want.cfa)}")
            continue
        cfa, regs = _lib_row_canon(row)
        if cfa != want.cfa:
            failures.append(f"{addr:#x} CFA: ours={render_rule(cfa)} readelf={render_rule(want.cfa)}")
        for col in sorted(set(regs) | set(want.regs)):
            a, b = regs.get(col, UNDEF), want.regs.get(col, UNDEF)
            if a != b:
                failures.append(f"{addr:#x} r{col}: ours={render_rule(a)} readelf={render_rule(b)}")
        if not row.loc <= addr < row.end:
            failures.append(f"{addr:#x}: row range {row.loc:#x}..{row.end:#x} does not contain it")
    for addr in outside:
        row = elf.row_for(addr)
        if row is not None:
            failures.append(f"{addr:#x} is outside every FDE but ours returned a row at {row.loc:#x}")
    return failures


def test_shared_object_address_lookups(built, tmp_path, need_tool):
    ld = need_tool("ld")
    so = str(tmp_path / "libcfi.so")
    _run([ld, "-shared", "--eh-frame-hdr", "-o", so] + [built[n][0] for n in SO_PARTS])
    info = scan_elf(so)
    assert info.has(".eh_frame_hdr"), "ld did not produce .eh_frame_hdr"
    _check(so, "libcfi.so")

    checks, fdes, outside = _lookup_checks(so)
    assert len(fdes) >= len(SO_PARTS)
    failures = _lookup_failures(so, checks, outside)
    assert not failures, f"{len(failures)} lookup mismatch(es) in {so}:\n" + "\n".join(failures[:40])

    # the CLI's --address on a few of the same addresses, and outside
    for addr, want in checks[::7][:6]:
        p = subprocess.run([python_exe(), "-m", "dwarfunwind", "cfi", so, "--address", hex(addr), "--json"],
                           capture_output=True, text=True, cwd=REPO_ROOT)
        assert p.returncode == 0, p.stderr
        row = json.loads(p.stdout)["row"]
        assert canon_contract_cfa(row["cfa"]) == want.cfa, (hex(addr), row)
    p = subprocess.run([python_exe(), "-m", "dwarfunwind", "cfi", so, "--address", hex(outside[-1]), "--json"],
                       capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode != 0 and p.stderr.strip(), "an address outside every FDE must be an error"


def test_eh_frame_hdr_without_table(built):
    """hdr_without_table.S: GNU ld writes an .eh_frame_hdr whose search table is omitted (LSB 10.6.2);
    the file is read without complaint and lookups scan .eh_frame instead."""
    exe = built["hdr_without_table"][1]
    raw = _hdr_bytes(exe)
    assert raw[:1] == b"\x01" and raw[2:4] == b"\xff\xff", \
        f"ld wrote a search table this time (fde_count_enc, table_enc = {raw[2:4].hex()})"
    p = subprocess.run([python_exe(), "-m", "dwarfunwind", "cfi", exe, "--json"],
                       capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode == 0 and not p.stderr.strip(), (p.returncode, p.stderr)
    checks, fdes, outside = _lookup_checks(exe)
    failures = _lookup_failures(exe, checks, outside)
    assert not failures, f"{len(failures)} lookup mismatch(es) in {exe}:\n" + "\n".join(failures[:40])


def _hdr_bytes(exe):
    dump = _run([R.readelf_path(), "-x", ".eh_frame_hdr", exe]).stdout
    words = re.findall(r"^\s+0x[0-9a-f]+ ((?:[0-9a-f]{8} ?)+)", dump, re.M)
    return bytes.fromhex("".join(words).replace(" ", ""))


def test_many_fdes_lookups(built):
    """many_fdes.S: a 3000-entry .eh_frame_hdr table; row_for() at both ends of every row, and in the
    hole without CFI, against readelf's rows."""
    exe = built["many_fdes"][1]
    raw = _hdr_bytes(exe)
    assert raw[:4] == bytes([1, 0x1B, 0x03, 0x3B]), raw[:4].hex()  # pcrel|sdata4 ptr, udata4 count, datarel|sdata4
    count = int.from_bytes(raw[8:12], "little")
    checks, fdes, outside = _lookup_checks(exe)
    assert count == len(fdes) == 3000
    begins = sorted((f.pc_begin, f.pc_end) for f in fdes)
    hole = max(begins[i + 1][0] - begins[i][1] for i in range(len(begins) - 1))
    assert hole >= 4000
    gap = next(e for (b, e), (nb, _) in zip(begins, begins[1:]) if nb - e == hole)
    outside += [gap, gap + hole // 2, gap + hole - 1]
    failures = _lookup_failures(exe, checks, outside)
    assert not failures, f"{len(failures)} lookup mismatch(es) in {exe}:\n" + "\n".join(failures[:40])
