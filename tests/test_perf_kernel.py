"""Kernel frames of perf samples taken in the kernel, as ``perf script`` shows them above the user frames.

Oracle: ``perf script`` on a recording of ``dd`` reading /dev/zero with an event that samples the
kernel too (``cpu-clock``, not ``cpu-clock:u``): each sample's ``[kernel.kallsyms]`` lines, address
and name, against ours (the kernel's callchain named from /proc/kallsyms).
"""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import missing, which
from test_perf_script import perf_script_chains

from dwarfunwind.perf.kernel import load_kernel_symbols, running_build_id
from dwarfunwind.perf.reader import PerfData
from dwarfunwind.perf.session import PerfUnwinder


@pytest.fixture(scope="module")
def kernel_recording(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("kernel samples and kallsyms addresses need root (perf_event_paranoid, kptr_restrict)")
    out = tmp_path_factory.mktemp("perfk") / "k.data"
    r = subprocess.run([which("perf"), "record", "-q", "-F", "999", "-e", "cpu-clock", "--call-graph", "dwarf",
                        "-o", str(out), "--", which("dd"), "if=/dev/zero", "of=/dev/null", "bs=1M", "count=1500"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not out.exists():
        missing(f"perf cannot record kernel samples here: {r.stderr.strip()[-300:]}")
    return out


def test_kernel_frames_are_perf_scripts(kernel_recording):
    theirs = perf_script_chains(kernel_recording)
    with_kernel = 0
    with PerfData.open(str(kernel_recording)) as data:
        pu = PerfUnwinder(data)
        for u in pu.samples():
            t = u.sample.time
            chain = theirs[(u.sample.tid, f"{t // 10**9}.{t % 10**9 // 1000:06d}")].pop(0)
            want = [(a, sym) for a, sym, dso in chain if dso == "[kernel.kallsyms]"]
            assert [(pc, name) for pc, name, _ in u.kernel] == want
            with_kernel += bool(want)
        problems = pu.problems
        pu.close()
    assert with_kernel >= 20, with_kernel  # dd spends most of its time in read_zero
    assert not any("kernel" in p for p in problems), problems


def test_other_kernel_is_said_and_left_unnamed():
    running = running_build_id()
    if running is None:
        pytest.skip("/sys/kernel/notes has no build-id here")
    other = bytes(b ^ 0xFF for b in running)
    symbols, _, why = load_kernel_symbols(other, None)
    assert symbols is None and why is not None and other.hex() in why and running.hex() in why
