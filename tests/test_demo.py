"""The seed scenario (issue: exception-entry CFI vs frame-pointer markers), end to end.

Oracles: the values the corpus programs planted in their registers
(corpora/magic.h, published as corpora/expected/magic.json), the offset of the
faulting instruction the assembly itself exports, GNU readelf for symbol sizes
and FDE ranges, and gdb (via the corpus oracle) for the frames.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

from dwarfunwind import Program
from dwarfunwind.demo import SCENARIOS, report, run_scenarios, unwind_scenario

PLANTED = {reg: e["int"] for reg, e in
           json.loads((ROOT / "corpora" / "expected" / "magic.json").read_text())["registers"].items()}


def _check(result):
    """What the seed thread claimed, checked on one scenario."""
    dwarf, fp = result.dwarf, result.fp
    names = [f.function for f in dwarf.frames]
    handler = "do_page_fault" if result.name.startswith("entry") else "segv_handler"
    i = names.index("faulting_func")
    assert names[:i] == ["some_func", "some_other_func", handler, names[i - 1]]
    sig, faulting = dwarf.frames[i - 1], dwarf.frames[i]
    assert sig.signal_frame and not sig.interrupted
    assert faulting.interrupted and faulting.method == "dwarf"
    # Every planted register and the exact faulting pc, through the CFI alone.
    regs = faulting.registers_by_name()
    assert {r: regs[r] for r in PLANTED} == PLANTED
    assert faulting.pc == result.fault_pc == regs["rip"]
    assert names[i + 1:i + 3] == ["caller_a", "main"]
    assert dwarf.complete and dwarf.reliable
    # Frame pointers: the handler chain, then either nothing of faulting_func or,
    # with the marker, faulting_func with every register from the pt_regs block.
    fp_names = [f.function for f in fp.frames]
    assert fp_names[:3] == ["some_func", "some_other_func", handler]
    if result.name == "entry_marker":
        f = fp.frames[fp_names.index("faulting_func")]
        assert f.interrupted and f.method == "fp"
        assert {r: f.registers_by_name()[r] for r in PLANTED} == PLANTED
        assert f.pc == result.fault_pc
    else:
        assert "faulting_func" not in fp_names
    assert not fp.reliable


@pytest.fixture(scope="module")
def shipped():
    return run_scenarios()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_shipped_scenarios(shipped, name):
    _check(next(r for r in shipped if r.name == name))


def test_demo_data_plants_what_the_corpus_plants():
    manifest = json.loads((ROOT / "dwarfunwind" / "data" / "demo.json").read_text())
    assert manifest["magic"] == PLANTED
    assert manifest["programs"] == list(SCENARIOS)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fresh_builds(corpus, name):
    """The same claims on programs compiled and crashed now, not only on the shipped ones."""
    builder, out = corpus
    paths = builder.artifacts(name, out)
    _check(unwind_scenario(name, str(paths["core"]), str(paths["binary"]), PLANTED))


def test_demo_command_runs_from_the_package_alone():
    r = subprocess.run([sys.executable, "-m", "dwarfunwind", "demo"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "DWARF needs no markers" in r.stdout
    for name in SCENARIOS:
        assert f"{name:<17} DWARF: all 15 planted GPRs and the exact pc" in r.stdout


def test_report_flags_a_missing_register(shipped):
    """The demo's verdict is computed, not printed unconditionally."""
    broken = shipped[0]
    faulting = next(f for f in broken.dwarf.frames if f.function == "faulting_func")
    saved = faulting.registers.pop(3)  # forget rbx
    try:
        lines, ok = report(shipped)
        assert not ok
        assert any("INCOMPLETE" in line for line in lines)
    finally:
        faulting.registers[3] = saved


# -- the seed's fine points ------------------------------------------------------------------------


def _readelf_symbols(need_tool, path):
    out = subprocess.run([need_tool("readelf"), "-sW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].endswith(":") and parts[3] in ("FUNC", "NOTYPE", "OBJECT"):
            syms.setdefault(parts[7], (int(parts[1], 16), int(parts[2], 0)))
    return syms


def test_marker_plus_one_lands_inside_a_two_byte_pt_regs(corpus, need_tool):
    """pt_regs+1 looked up as a return address (minus one) names pt_regs; +1 itself is still inside it.

    The fake function is two bytes so that pt_regs+1 is inside pt_regs too: with one byte,
    pt_regs+1 would be the first byte of whatever follows, and an unwinder that does not
    subtract one would name (and take the CFI of) the next function.
    """
    builder, out = corpus
    binary = builder.artifacts("entry_marker", out)["binary"]
    syms = _readelf_symbols(need_tool, binary)
    start, size = syms["pt_regs"]
    assert size == 2
    following = min(addr for addr, _ in syms.values() if addr > start)
    assert following >= start + size
    with Program.from_core(str(builder.artifacts("entry_marker", out)["core"]), exe=str(binary)) as program:
        module = program.modules.find(start)
        assert module.symbolize(start + 1 - 1) == ("pt_regs", 0)
        assert module.symbolize(start + 1) == ("pt_regs", 1)
        assert program.unwinder._is_marker(start + 1)
        assert not program.unwinder._is_marker(start)
        # And the marker really is what the marker build planted on its stack.
        trace = program.stack_trace(method="fp")
        stub = next(f for f in trace.frames if f.function == "page_fault")
        raw = program.target.read_memory(stub.registers[6] + 8, 8)
        assert int.from_bytes(raw, "little") == start + 1


def test_glibc_restore_rt_fde_starts_one_byte_early(corpus, need_tool):
    """glibc puts a nop before __restore_rt and starts its FDE there, so that pc - 1 finds it."""
    builder, out = corpus
    binary = builder.artifacts("sigsegv_glibc", out)["binary"]
    restore_rt = _readelf_symbols(need_tool, binary)["__restore_rt"][0]
    frames = subprocess.run([need_tool("readelf"), "--debug-dump=frames", str(binary)], capture_output=True,
                            text=True).stdout
    assert f"pc={restore_rt - 1:016x}" in frames  # readelf's own view of the FDE range
    from dwarfunwind import open_elf
    elf = open_elf(str(binary))
    fde = elf.fde_for(restore_rt - 1)
    assert fde is not None and fde.pc_begin == restore_rt - 1 and fde.signal_frame
    # The byte before the label belongs to a nop (glibc: `nop; .align 16`; the padding is itself nops).
    dump = subprocess.run([need_tool("objdump"), "-d", f"--start-address={restore_rt - 16}",
                           f"--stop-address={restore_rt}", str(binary)], capture_output=True, text=True,
                          check=True).stdout
    last = [line for line in dump.splitlines() if line.strip()[:1].isdigit() or ":\t" in line][-1]
    assert "nop" in last, dump


def test_partial_pt_regs_reads_as_the_end_of_the_stack():
    """A marker whose pt_regs block runs past the end of the stack ends the walk; nothing is invented."""
    from dwarfunwind.errors import MemoryReadError
    from dwarfunwind.unwind import fp

    stack_lo, stack_hi = 0x7000, 0x7100
    memory = bytearray(stack_hi - stack_lo)
    bp = 0x7080
    regs_ptr = 0x70A0  # 168 bytes from here would end at 0x7148, past the stack's end
    memory[bp - stack_lo:bp - stack_lo + 24] = (0).to_bytes(8, "little") + (0x1235).to_bytes(8, "little") + \
        regs_ptr.to_bytes(8, "little")

    def read(addr, size):
        if addr < stack_lo or addr + size > stack_hi:
            raise MemoryReadError(addr, size)
        return bytes(memory[addr - stack_lo:addr - stack_lo + size])

    with pytest.raises(fp.FramePointerEnd, match="partial pt_regs"):
        fp.step({6: bp, 7: 0x7000, 16: 0x1000}, read, lambda ra: ra == 0x1235)
