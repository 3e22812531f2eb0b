"""Garbage stacks: whatever the stack holds, a walk ends, with a reason, within its frame limit.

The oracle is the contract itself: no exception escapes, every trace says why
it stopped, no trace exceeds --max-frames, and a walk over intact memory is
unchanged (the corruption really is what changes the result).
"""

from __future__ import annotations

import random

import pytest

from dwarfunwind import Program
from dwarfunwind.targets.core import CoreTarget
from dwarfunwind.unwind.frame import StopReason


class CorruptStack:
    """A core whose stack bytes (above each thread's rsp) are scrambled by a seeded generator."""

    def __init__(self, core: CoreTarget, seed: int, density: float) -> None:
        self.core = core
        self.name = core.name
        self.rng_seed = seed
        self.density = density
        self.stacks = [(t.registers[7], t.registers[7] + 0x4000) for t in core.threads()]

    def threads(self):
        return self.core.threads()

    def mappings(self):
        return self.core.mappings()

    def close(self) -> None:
        self.core.close()

    def read_memory(self, address: int, size: int) -> bytes:
        data = bytearray(self.core.read_memory(address, size))
        for lo, hi in self.stacks:
            for a in range(max(lo, address), min(hi, address + size)):
                # Same address, same garbage: the corruption is a property of memory, not of the read.
                r = random.Random(self.rng_seed * 1_000_003 + a)
                if r.random() < self.density:
                    data[a - address] = r.randrange(256)
        return bytes(data)


@pytest.mark.parametrize("name", ["c_threads", "entry_marker", "c_recursion", "c_segv_handler_altstack"])
def test_garbage_stacks_end_cleanly(corpus, name):
    builder, out = corpus
    p = builder.artifacts(name, out)
    with Program.from_core(str(p["core"]), exe=str(p["binary"])) as clean:
        reference = [[f.pc for f in t.frames] for t in clean.stack_traces(max_frames=64)]
    changed = 0
    for seed in range(12):
        target = CorruptStack(CoreTarget(str(p["core"]), exe=str(p["binary"])), seed, density=0.02 + seed * 0.02)
        with Program(target, exe=str(p["binary"])) as program:
            for method in ("dwarf", "fp"):
                traces = program.stack_traces(method=method, max_frames=64)
                for t in traces:
                    assert 1 <= len(t.frames) <= 64
                    assert isinstance(t.stop_reason, StopReason)
                    assert t.stop_reason is not StopReason.OUTERMOST or t.frames[-1].cfa is not None
                if method == "dwarf":
                    changed += [[f.pc for f in t.frames] for t in traces] != reference
    assert changed, "the corruption never changed a walk: the test would prove nothing"
