"""DW_OP_GNU_encoded_addr (gas's ``.cfi_val_encoded_addr``) unwound on cores, against oracles we did not write.

tests/encoded_addr/vea_chain.S chains functions whose CFI sets one register of their caller each,
through pcrel|sdata4, udata4 (udata8 in the PIE), DW_OP_addr, indirect|pcrel|sdata4 and pcrel|sdata8.
The program prints libgcc's values of those registers in every frame (``_Unwind_Backtrace`` +
``_Unwind_GetGR``: libgcc's ``execute_stack_op`` evaluates the op) and the labels' addresses, then
aborts. Our walk of the core must give libgcc's values, which must be the labels (and, through the
indirect pointer, what the program stored). gdb 13 cannot evaluate the op ("Unhandled dwarf expression
opcode 0xf1"): its frames and its value of the DW_OP_addr register are compared; a gdb that prints a
value for the others must agree with us too. Built as a non-PIE executable and as a PIE (load bias).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import kernel_core, which

from dwarfunwind import Program

SRC = Path(__file__).parent / "encoded_addr"
REGS = {3: "rbx", 12: "r12", 13: "r13", 14: "r14", 15: "r15"}
# (function of the frame, register, label index): the register each function's rule sets in its caller.
EXPECT = [("main", "rbx", 0), ("vea_a", "r12", 1), ("vea_b", "r13", 2), ("vea_c", "r14", 3), ("vea_d", "r15", 4)]


@pytest.fixture(scope="module", params=["nopie", "pie"])
def program(request, tmp_path_factory):
    gcc = which("gcc")
    d = tmp_path_factory.mktemp(f"vea_{request.param}")
    exe = d / "vea_main"
    flags = ["-no-pie"] if request.param == "nopie" else ["-pie", "-fPIE", "-DVEA_PIE"]
    subprocess.run([gcc, "-O1", "-g", *flags, "-o", str(exe), str(SRC / "vea_main.c"), str(SRC / "vea_chain.S")],
                   check=True, capture_output=True)
    return request.param, d, exe


def _run(d: Path, exe: Path, *args: str) -> tuple[Path, str]:
    out = d / "stdout"
    kernel_core(d, ["sh", "-c", f"exec {exe} {' '.join(args)} > {out}"])
    return d / "core", out.read_text()


def _libgcc(text: str) -> tuple[list[int], dict[int, dict[str, int]]]:
    labels = [int(x, 16) for x in re.search(r"^labels (.*)$", text, re.M).group(1).split()]  # type: ignore[union-attr]
    frames = {}
    for m in re.finditer(r"^frame (\S+) (.*)$", text, re.M):
        frames[int(m.group(1), 16)] = {REGS[int(k)]: int(v, 16) for k, v in re.findall(r"(\d+)=(\S+)", m.group(2))}
    return labels, frames


def _gdb_run(exe: Path, core: Path, cmds: list[str]) -> tuple[str, str]:
    args = [a for c in cmds for a in ("-ex", c)]
    p = subprocess.run([which("gdb"), "-nx", "-batch", *args, str(exe), str(core)], capture_output=True, text=True,
                       timeout=120)
    return p.stdout, p.stderr


def _gdb(exe: Path, core: Path, asks: list[tuple[str, str]]) -> tuple[list[int], list[str]]:
    """gdb's frame pcs and, per (function, register), what ``p/x $reg`` in that frame printed."""
    bt, _ = _gdb_run(exe, core, ["bt"])
    # (gdb leaves the pc out where it is the start of a line, and shows inlined calls as frames)
    pcs = [int(m.group(1), 16) for m in re.finditer(r"^#\d+\s+(0x[0-9a-f]+) in ", bt, re.M)]
    levels = {m.group(2): m.group(1) for m in re.finditer(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\w+)", bt, re.M)}
    cmds = []
    for func, reg in asks:
        cmds += ["echo @@ASK\\n", f"frame {levels[func]}", f"p/x ${reg}"]
    out, err = _gdb_run(exe, core, cmds)
    answers = []
    for chunk in out.split("@@ASK")[1:]:
        m = re.search(r"^\$\d+ = (0x[0-9a-f]+)", chunk, re.M)
        answers.append(m.group(1) if m else "")
    if "Unhandled dwarf expression opcode 0xf1" in err:
        answers = [a or "unhandled 0xf1" for a in answers]
    return pcs, answers


def test_registers_match_libgcc_and_labels(program):
    kind, d, exe = program
    core, text = _run(d, exe)
    labels, libgcc = _libgcc(text)
    with Program.from_core(str(core), exe=str(exe)) as prog:
        trace = prog.stack_trace()
        frames = {f.function: f for f in trace.frames}
        bias = frames["main"].module.bias
    assert (bias != 0) == (kind == "pie")
    assert trace.stop_reason.value != "cfi-error", trace.stop_detail
    compared = 0
    for frame in trace.frames:
        if frame.index == 0 or frame.pc not in libgcc:
            continue
        ours = frame.registers_by_name()
        for reg, want in libgcc[frame.pc].items():
            if frame.function in ("main",) or (frame.function or "").startswith("vea_"):
                assert ours[reg] == want, f"{kind} {frame.function}: {reg} ours {ours[reg]} libgcc {want:#x}"
                compared += 1
    assert compared >= 25
    for func, reg, label in EXPECT:
        assert frames[func].registers_by_name()[reg] == labels[label], (kind, func, reg)
    # gdb: the same frames; the DW_OP_addr register; the others if it can evaluate 0xf1.
    pcs, answers = _gdb(exe, core, [(f, r) for f, r, _ in EXPECT])
    chain = [f.pc for f in trace.frames if f.function == "main" or (f.function or "").startswith("vea_")]
    assert len(chain) == 7 and chain[0] in pcs, ([hex(p) for p in chain], [hex(p) for p in pcs])
    at = pcs.index(chain[0])
    assert pcs[at:at + len(chain)] == chain, ([hex(p) for p in chain], [hex(p) for p in pcs])
    for (func, reg, label), said in zip(EXPECT, answers):
        if said == "unhandled 0xf1" and reg != "r13":
            continue  # gdb 13: "Unhandled dwarf expression opcode 0xf1"
        assert said and int(said, 16) == labels[label], (kind, func, reg, said)


def test_truncated_operand_stops_the_walk_with_cfi_error(program):
    kind, d, exe = program
    core, _ = _run(d, exe, "bad")
    with Program.from_core(str(core), exe=str(exe)) as prog:
        trace = prog.stack_trace()
    assert trace.frames[-1].function == "vea_bad"
    assert trace.stop_reason.value == "cfi-error"
    assert "DW_OP_GNU_encoded_addr" in trace.stop_detail and "runs past the expression" in trace.stop_detail
