"""The unwinder against gdb (and eu-stack) on cores of the corpus programs.

Each program is compiled and crashed at test time (tests/conftest.py:corpus);
gdb's own unwinder, run on the same core by corpora/gdb_frames.py, is the
oracle. Compared, per thread: the sequence of physical frames (pc), and in
every frame rsp, rip and the callee-saved registers; in a frame interrupted by
a signal, all 16 GPRs. gdb reports registers without a rule in caller frames
as "same value", so caller-saved registers are compared only where they are
exact (frame 0 and interrupted frames).
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import load_corpus_builder

from dwarfunwind import Program

PROGRAMS = sorted(load_corpus_builder().PROGRAMS)
CALLEE_SAVED = ("rbx", "rbp", "r12", "r13", "r14", "r15")
GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")


def _load(corpus, name):
    builder, out = corpus
    paths = builder.artifacts(name, out)
    oracle = json.loads(paths["oracle"].read_text())
    with Program.from_core(str(paths["core"]), exe=str(paths["binary"])) as program:
        traces = {t.thread.tid: t for t in program.stack_traces()}
        problems = program.problems
    return paths, oracle, traces, problems


@pytest.mark.parametrize("name", PROGRAMS)
def test_frames_and_registers_match_gdb(corpus, name):
    paths, oracle, traces, problems = _load(corpus, name)
    assert not problems, problems
    assert [t["tid"] for t in oracle["threads"]][0] == next(iter(traces)), "crashed thread comes first"
    assert set(traces) == {t["tid"] for t in oracle["threads"]}
    for gthread in oracle["threads"]:
        trace = traces[gthread["tid"]]
        gframes = gthread["frames"]
        ours = [f.pc for f in trace.frames]
        theirs = [f["pc"] for f in gframes]
        assert ours == theirs, (
            f"{name} thread {gthread['tid']}: frames differ\n ours: {[hex(p) for p in ours]}\n gdb:  "
            f"{[hex(p) for p in theirs]}")
        after_signal = False
        for frame, gframe in zip(trace.frames, gframes):
            regs = frame.registers_by_name()
            exact = frame.index == 0 or after_signal
            names = GPRS + ("rip",) if exact else CALLEE_SAVED + ("rsp", "rip")
            for reg in names:
                want = gframe["registers"].get(reg)
                if want is None:
                    continue
                assert regs[reg] == want, (
                    f"{name} thread {gthread['tid']} frame #{frame.index} {gframe['function']}: {reg} "
                    f"ours {regs[reg] if regs[reg] is None else hex(regs[reg])} gdb {want:#x}")
            if exact and frame.index:
                assert frame.interrupted, f"frame #{frame.index} follows a signal frame: interrupted"
            after_signal = gframe["type"] == "SIGTRAMP"
            assert frame.signal_frame == after_signal, f"#{frame.index}: signal frame as gdb says"
        assert trace.complete and trace.reliable, (trace.stop_reason, trace.stop_detail)


SEED = [n for n in PROGRAMS if n.startswith(("entry_", "sigsegv_"))]


@pytest.mark.parametrize("name", SEED)
def test_interrupted_frame_has_every_planted_register(corpus, name):
    """The values faulting_func planted in its registers come back, each one, through the signal frame."""
    builder, _ = corpus
    _, oracle, traces, _ = _load(corpus, name)
    trace = traces[oracle["threads"][0]["tid"]]
    interrupted = [f for f in trace.frames if f.interrupted]
    assert [f.function for f in interrupted] == ["faulting_func"]
    regs = interrupted[0].registers_by_name()
    assert {r: regs[r] for r in builder.MAGIC} == builder.MAGIC
    sigframe = trace.frames[interrupted[0].index - 1]
    assert sigframe.signal_frame and sigframe.method == "dwarf"
    # Each GPR is known, rsp included (the saved sp of the register block).
    assert all(regs[r] is not None for r in GPRS + ("rip",))


_EU_FRAME = re.compile(r"^#(\d+)\s+0x([0-9a-f]+)(?:\s+(?:- 1\s+)?(\S.*?))?\s*$")


def _eu_stack(path):
    threads, tid = {}, None
    for line in path.read_text().splitlines():
        if line.startswith("TID "):
            tid = int(line[4:].rstrip(":"))
            threads[tid] = []
        elif (m := _EU_FRAME.match(line)) and tid is not None:
            threads[tid].append((int(m.group(2), 16), m.group(3)))
    return threads


@pytest.mark.parametrize("name", PROGRAMS)
def test_frames_match_eu_stack(corpus, name, need_tool):
    need_tool("eu-stack")
    paths, _, traces, _ = _load(corpus, name)
    eu = _eu_stack(paths["eu_stack"])
    assert eu, "eu-stack printed no threads"
    for tid, frames in eu.items():
        pcs = [pc for pc, _ in frames]
        ours = [f.pc for f in traces[tid].frames]
        # Symbol names as eu-stack resolves them from the same symbol tables (it keeps @@VERSION).
        for (pc, eu_name), frame in zip(frames, traces[tid].frames):
            if eu_name is not None:
                assert frame.function == eu_name.split("@")[0], f"{name} thread {tid} pc {pc:#x}"
        # eu-stack stops at a signal frame's caller-less end differently; it must be a prefix-equal walk.
        n = min(len(ours), len(pcs))
        assert ours[:n] == pcs[:n], (
            f"{name} thread {tid}: ours {[hex(p) for p in ours]} eu-stack {[hex(p) for p in pcs]}")
        assert len(pcs) <= len(ours), "eu-stack found frames we did not"


def test_debug_frame_only_program_uses_debug_frame(corpus):
    """c_basic_debug_frame's own functions have CFI only in .debug_frame; the walk must have used it."""
    builder, out = corpus
    p = builder.artifacts("c_basic_debug_frame", out)
    with Program.from_core(str(p["core"]), exe=str(p["binary"])) as program:
        trace = program.stack_trace()
        frame = next(f for f in trace.frames if f.function == "level2")
        row = frame.module.row_for(frame.lookup_pc)
        assert row is not None and row.fde.section == ".debug_frame"
        assert trace.reliable
