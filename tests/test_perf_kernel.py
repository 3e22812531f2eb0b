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
from test_perf_script import with_perf_chains

from dwarfunwind.perf.kernel import load_kernel_symbols, running_build_id
from dwarfunwind.perf.output import sample_text


def record(out, *argv: str):
    if os.geteuid() != 0:
        pytest.skip("kernel samples and kallsyms addresses need root (perf_event_paranoid, kptr_restrict)")
    r = subprocess.run([which("perf"), "record", "-q", "-F", "999", "-e", "cpu-clock", "--call-graph", "dwarf",
                        "-o", str(out), *argv], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not out.exists():
        missing(f"perf cannot record kernel samples here: {r.stderr.strip()[-300:]}")
    return out


@pytest.fixture(scope="module")
def kernel_recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("perfk") / "k.data"
    return record(out, "--", which("dd"), "if=/dev/zero", "of=/dev/null", "bs=1M", "count=1500")


@pytest.fixture(scope="module")
def system_recording(tmp_path_factory):
    """Every CPU for a moment (-a): mostly the idle task (pid 0) and kernel threads, kernel frames only."""
    return record(tmp_path_factory.mktemp("perfa") / "a.data", "-a", "--", which("sleep"), "0.3")


@pytest.mark.parametrize("which_recording", ["kernel_recording", "system_recording"])
def test_kernel_frames_are_perf_scripts(request, which_recording):
    recording = request.getfixturevalue(which_recording)
    with_kernel = 0
    unwinder = None
    for unwinder, u, chain in with_perf_chains(recording):  # noqa: B007 (its problems, after the loop)
        want = [(a, sym) for a, sym, dso in chain if dso == "[kernel.kallsyms]"]
        assert [(pc, name) for pc, name, _ in u.kernel] == want
        with_kernel += bool(want)
        if u.sample.pid == 0:  # the idle task: named as perf names it, and only kernel frames
            assert u.comm == "swapper" and not u.trace.frames
            text = sample_text(u)
            assert text.startswith("swapper ") and "[stop" not in text, text
    assert unwinder is not None
    problems = unwinder.problems
    assert with_kernel >= 20, with_kernel  # dd spends most of its time in read_zero
    assert not any("kernel" in p for p in problems), problems


def test_other_kernel_is_said_and_left_unnamed():
    running = running_build_id()
    if running is None:
        pytest.skip("/sys/kernel/notes has no build-id here")
    other = bytes(b ^ 0xFF for b in running)
    symbols, _, why = load_kernel_symbols(other, None)
    assert symbols is None and why is not None and other.hex() in why and running.hex() in why
