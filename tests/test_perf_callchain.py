"""perf.data files recorded without ``--call-graph dwarf``: no user registers or stack to unwind.

``perf record -g`` keeps the kernel's frame-pointer callchain of each sample, a plain ``perf
record`` only the sampled ip; ``perf script`` prints those, and so do we (stop reason
``perf-callchain``), with one line saying why. Oracle: ``perf script`` on the same file, sample by
sample, addresses and symbols.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, missing, which
from test_perf_script import perf_script_chains

from dwarfunwind.perf.reader import PerfData
from dwarfunwind.perf.session import PerfUnwinder


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("perfcc")
    # Frame pointers: the kernel's callchain walks them (without, perf -g gives one frame a sample).
    subprocess.run([which("gcc"), "-O2", "-g", "-fno-omit-frame-pointer", "-DDEPTH=8", "-o", str(d / "fp"),
                    str(ROOT / "corpora" / "perf_recursion.c")], check=True)
    return d / "fp"


def record(program: Path, options: list[str]) -> Path:
    out = program.parent / ("-".join(options) or "plain")
    r = subprocess.run([which("perf"), "record", "-q", "-F", "499", "-e", "cpu-clock:u", *options, "-o", str(out),
                        "--", str(program)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not out.exists():
        missing(f"perf cannot record here (perf_event_paranoid?): {r.stderr.strip()[-300:]}")
    return out


def perf_script_ips(path: Path) -> dict[tuple[int, str], list[list[tuple[int, str, str]]]]:
    """Without callchains perf script prints one line a sample, ``pid/tid time: ip sym (dso)``, the ip absolute."""
    r = subprocess.run([which("perf"), "script", "-i", str(path), "-F", "pid,tid,time,ip,sym,dso", "--no-inline"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out: dict[tuple[int, str], list[list[tuple[int, str, str]]]] = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\d+)/(\d+)\s+(\d+\.\d+):\s+([0-9a-f]+) (.*) \((.*)\)$", line)
        assert m, line
        out.setdefault((int(m[2]), m[3]), []).append([(int(m[4], 16), m[5], m[6])])
    return out


@pytest.mark.parametrize("options", [["-g"], []], ids=["callchain", "ip-only"])
def test_samples_without_user_stack_are_perfs_chains(program, options):
    path = record(program, options)
    theirs = perf_script_chains(path) if options else perf_script_ips(path)
    checked = deep = 0
    with PerfData.open(str(path)) as data:
        pu = PerfUnwinder(data)
        for u in pu.samples():
            t = u.sample.time
            chain = theirs[(u.sample.tid, f"{t // 10**9}.{t % 10**9 // 1000:06d}")].pop(0)
            ours = []
            for f in u.trace.frames:  # perf prints a callchain's entries as they are, relative to their mapping
                m = pu.mapping_at(u.sample.pid, f.pc)
                ours.append(f.pc - m.start + m.offset if options and m is not None else f.pc)
            assert ours == [a for a, _, _ in chain]
            for f, (_, sym, _) in zip(u.trace.frames, chain):
                # perf names the vDSO's symbols with their version (clock_gettime@@GLIBC_2.17)
                assert sym.split("@")[0] == (f.function if f.function is not None else "[unknown]"), (sym, f)
            assert u.trace.stop_reason.value == "perf-callchain" and not u.trace.reliable
            checked += 1
            deep += len(u.trace.frames) >= 8  # work, rec ..., main: the kernel walked the frame pointers
        problems = pu.problems
        pu.close()
    assert checked >= 20, checked
    assert not any(theirs.values()), "perf script has samples we did not produce"
    assert (deep > checked // 2) if options else deep == 0, (deep, checked)
    assert any("--call-graph dwarf" in p for p in problems), problems
