"""perf.data samples unwound by dwarfunwind, held sample by sample against ``perf script`` on the same file.

Oracle: ``perf script -F pid,tid,time,ip,sym,dso --no-inline`` (libdw/libunwind inside perf) on
recordings made here by ``perf record -e cpu-clock:u --call-graph dwarf`` of programs built at
test time (C -O2 -fomit-frame-pointer with deep recursion and a SIGPROF handler, C++ templates
with std::sort and std::map), of python3 running pure-Python code, and of ``gzip -9``.

perf 6.1 prints each callchain address relative to its mapping (``ip - map start + pgoff``)
and caller frames at return address - 1; :func:`our_chain` gives ours the same shape.

Difference categories (each is counted and allowed only where explained):
- ``perf-shorter``: perf's chain is a strict prefix of ours: perf stopped (libdw failed or hit
  ``[unknown]`` code it could not unwind) and we went on. Counted, never where perf reached the
  outermost frame.
- ``perf-minus-one``: perf ends a chain cut by the stack copy with ``ffffffffffffffff`` (a failed read
  reported as an address); the rest of the chain must equal ours.
- ``perf-bogus-frame``: where perf's chain first differs from ours it names an address that no
  mapping of the process holds (seen as ``0x2ffffffff`` after ld.so's early frames); ours goes on.
- ``perf-fp-fallback``: where perf's chain first differs from ours, its frame is the frame-pointer step
  from the frame before (the return address at ``[rbp + 8]``, rbp as we recovered it): libdw's
  unwinder falls back to frame pointers when its CFI step fails, and in code built without them that
  skips callers. Seen in ld.so's start-up (``_dl_start`` and ``_dl_sysdep_start`` missing), which
  gdb's ``bt`` shows as we do (:func:`test_ldso_startup_frames_perf_skips_are_gdbs`).
- ``copy-end``: both walks stop where the 8 KiB stack copy ends, one frame apart (whether a
  frame whose return-address slot lies just past the copy is shown). Ours says ``stack-copy-end``.
Every other difference fails the test with both chains printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, missing, which
from hypothesis import given
from hypothesis import strategies as st

from dwarfunwind import Program
from dwarfunwind.perf.reader import PerfData
from dwarfunwind.perf.session import PerfUnwinder

CXX_TEMPLATES = r"""
#include <algorithm>
#include <ctime>
#include <map>
#include <vector>
template <int N> struct R {
    __attribute__((noinline)) static long f(std::vector<int>& v) {
        long s = R<N - 1>::f(v);
        std::sort(v.begin(), v.end(), [](int a, int b) { return (a ^ N) < (b ^ N); });
        return s + v[0];
    }
};
template <> struct R<0> {
    __attribute__((noinline)) static long f(std::vector<int>& v) {
        std::map<int, int> m;
        for (int x : v) m[x]++;
        return (long)m.size();
    }
};
volatile long sink;
int main() {
    std::vector<int> v;
    for (int i = 0; i < 3000; i++) v.push_back(i * 7919 % 3001);
    std::clock_t t0 = std::clock();
    while (std::clock() - t0 < CLOCKS_PER_SEC * 3 / 10) sink += R<12>::f(v);
    return 0;
}
"""

PYTHON_WORKLOAD = """
import time
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
t = time.process_time()
while time.process_time() - t < 0.3:
    fib(18)
"""

BOGUS = (1 << 64) - 1

#: Functions where a complete user stack ends.
OUTERMOST = {"_start", "clone3", "__clone3", "clone", "__clone", "start_thread"}


def record(out: Path, argv: list[str], *, stdout=subprocess.DEVNULL) -> Path:
    perf = which("perf")
    r = subprocess.run([perf, "record", "-q", "-F", "499", "-e", "cpu-clock:u", "--call-graph", "dwarf",
                        "-o", str(out), "--", *argv], stdout=stdout, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    if r.returncode != 0 or not out.exists():
        missing(f"perf cannot record here (perf_event_paranoid?): {r.stderr.strip()[-300:]}")
    return out


@pytest.fixture(scope="session")
def recordings(tmp_path_factory) -> dict[str, Path]:
    """Four short recordings (~0.3 s each), made once per session."""
    which("perf")
    gcc, gxx = which("gcc"), which("g++")
    d = tmp_path_factory.mktemp("perf")
    (d / "tmpl.cc").write_text(CXX_TEMPLATES)
    subprocess.run([gcc, "-O2", "-g", "-fomit-frame-pointer", "-DSIGPROF_HANDLER", "-o", str(d / "rec"),
                    str(ROOT / "corpora" / "perf_recursion.c")], check=True)
    subprocess.run([gxx, "-O2", "-g", "-fomit-frame-pointer", "-o", str(d / "tmpl"), str(d / "tmpl.cc")],
                   check=True)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    gzip = which("gzip")
    # 2 MB of varied bytes (a shared library) keep gzip -9 busy for about a third of a second.
    blob = d / "blob"
    with open(blob, "wb") as f:
        src = "/lib/x86_64-linux-gnu/libc.so.6"
        data = open(src, "rb").read()
        while f.tell() < 2 << 20:
            f.write(data)
    return {
        "c": record(d / "c.data", [str(d / "rec")]),
        "cxx": record(d / "cxx.data", [str(d / "tmpl")]),
        "python": record(d / "py.data", [python, "-c", PYTHON_WORKLOAD]),
        "gzip": record(d / "gzip.data", [gzip, "-9", "-c", str(blob)]),
    }


def perf_script_chains(path: Path) -> dict[tuple[int, str], list[list[tuple[int, str, str]]]]:
    """perf's callchains keyed by (tid, time as perf prints it): [(address, symbol, dso), ...] per sample."""
    r = subprocess.run([which("perf"), "script", "-i", str(path), "-F", "pid,tid,time,ip,sym,dso", "--no-inline"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out: dict[tuple[int, str], list[list[tuple[int, str, str]]]] = {}
    for block in r.stdout.strip().split("\n\n"):
        lines = block.strip("\n").split("\n")
        m = re.match(r"\s*(\d+)/(\d+)\s+(\d+\.\d+):", lines[0])
        assert m, lines[0]
        chain = []
        for line in lines[1:]:
            parts = line.split(None, 1)
            if parts:
                sym, _, dso = (parts[1] if len(parts) > 1 else "").rpartition(" (")
                chain.append((int(parts[0], 16), sym, dso.rstrip(")")))
        out.setdefault((int(m[2]), m[3]), []).append(chain)
    return out


def with_perf_chains(path: Path):
    """(our PerfUnwinder, each sample it unwound, perf script's chain for that sample)."""
    theirs = perf_script_chains(path)
    with PerfData.open(str(path)) as data:
        pu = PerfUnwinder(data)
        try:
            for u in pu.samples():
                t = u.sample.time
                yield pu, u, theirs[(u.sample.tid, f"{t // 10**9}.{t % 10**9 // 1000:06d}")].pop(0)
        finally:
            pu.close()


def our_chain(pu: PerfUnwinder, u) -> list[int]:
    """Our frames in perf's shape: lookup address (pc, or return address - 1), relative to its mapping."""
    rel = []
    for f in u.trace.frames:
        a = f.lookup_pc
        m = pu.mapping_at(u.sample.pid, a)
        rel.append(a - m.start + m.offset if m is not None else a)
    return rel


def compare(path: Path) -> tuple[Counter, list]:
    theirs = perf_script_chains(path)
    cats: Counter = Counter()
    signal_crossings = 0
    failures = []
    with PerfData.open(str(path)) as data:
        pu = PerfUnwinder(data)
        for u in pu.samples():
            t = u.sample.time
            key = (u.sample.tid, f"{t // 10**9}.{t % 10**9 // 1000:06d}")
            chains = theirs.get(key)
            assert chains, f"perf script has no sample {key}"
            chain = chains.pop(0)
            want = [a for a, _, _ in chain]
            ours = our_chain(pu, u)
            stop = u.trace.stop_reason.value
            if ours == want:
                cats["identical"] += 1
                signal_crossings += any(f.signal_frame for f in u.trace.frames)
                continue
            if want and want[-1] == BOGUS:
                # perf ends some chains cut by the copy with a -1 "frame" (its read failed); we end a frame
                # earlier or name that frame's real return address: compare up to it.
                cats["perf-minus-one"] += 1
                want = want[:-1]
                if ours[: len(want)] == want and len(ours) <= len(want) + 1:
                    continue
            if len(want) < len(ours) and ours[: len(want)] == want:
                cats["perf-shorter"] += 1
            elif bogus_frame(ours, chain):
                cats["perf-bogus-frame"] += 1
            elif fp_fallback(pu, u, ours, want):
                cats["perf-fp-fallback"] += 1
            elif stop == "stack-copy-end" and abs(len(ours) - len(want)) <= 1 and \
                    ours[: min(len(ours), len(want))] == want[: min(len(ours), len(want))]:
                cats["copy-end"] += 1
            else:
                failures.append((key, stop, u.trace.stop_detail, [hex(a) for a in ours], [hex(a) for a in want]))
        pu.close()
    assert not any(theirs.values()), "perf script has samples we did not produce"
    cats["signal-crossings"] = signal_crossings
    return cats, failures


def without_parameters(name: str) -> str:
    """A demangled C++ name without its parameter list, as perf prints it (DMGL_PARAMS off)."""
    body = re.sub(r"( \[clone [^\]]*\])+$", "", name).removesuffix(" const")
    if not body.endswith(")"):
        return name
    depth = 0
    for i in range(len(body) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(body[i], 0)
        if depth == 0:
            return body[:i]
    return name


def bogus_frame(ours: list[int], chain: list[tuple[int, str, str]]) -> bool:
    """perf's chain turns, where it first differs from ours, into an address in no module (dso ``[unknown]``)."""
    i = next((k for k, (a, _, _) in enumerate(chain) if k >= len(ours) or ours[k] != a), None)
    return i is not None and i < len(ours) and chain[i][1:] == ("[unknown]", "[unknown]")


def fp_fallback(pu: PerfUnwinder, u, ours: list[int], want: list[int]) -> bool:
    """perf's first frame that differs from ours is the frame-pointer step from our frame before it."""
    i = next((k for k in range(min(len(ours), len(want))) if ours[k] != want[k]), None)
    if not i:
        return False
    rbp, rsp = u.trace.frames[i - 1].registers.get(6), u.sample.regs.get(7)
    if rbp is None or rsp is None or not 0 <= rbp + 8 - rsp <= len(u.sample.stack) - 8:
        return False
    ret = int.from_bytes(u.sample.stack[rbp + 8 - rsp : rbp + 16 - rsp], "little")
    m = pu.mapping_at(u.sample.pid, ret - 1)
    # perf prints an address in a file mapping relative to it, others (e.g. [stack]) as they are.
    return want[i] in (ret - 1, ret - 1 - m.start + m.offset if m is not None else ret - 1)


def test_ldso_startup_frames_perf_skips_are_gdbs(tmp_path):
    """Deep in ld.so's start-up, where perf's fallback drops callers (``perf-fp-fallback``), our frames are gdb's.

    /bin/true stopped at ld.so's first openat (dl_main mapping libc, below _dl_sysdep_start, _dl_start
    and _start), written by gcore; gdb's physical frames (corpora/gdb_frames.py) against ours, pc for pc.
    gdb goes on past ld.so's ``_start`` (no CFI there) with words of argv; we stop there.
    """
    import json

    gdb, true, core, out = which("gdb"), which("true"), tmp_path / "core", tmp_path / "gdb.json"
    quiet = ["-batch", "-nx", "-ex", "set debuginfod enabled off"]
    subprocess.run([gdb, *quiet, "-ex", "catch syscall openat", "-ex", "run", "-ex", f"gcore {core}", "-ex", "kill",
                    true], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if not core.exists():
        missing("gdb could not stop /bin/true at its first openat and write a core")
    env = {k: v for k, v in os.environ.items() if k != "DEBUGINFOD_URLS"}
    subprocess.run([gdb, *quiet, "-x", str(ROOT / "corpora" / "gdb_frames.py"), true, str(core)],
                   env=dict(env, GDB_FRAMES_OUT=str(out)), capture_output=True, timeout=120, check=True)
    theirs = [f["pc"] for f in json.loads(out.read_text())["threads"][0]["frames"]]
    with Program.from_core(str(core), exe=true) as program:
        (trace,) = program.stack_traces()
        ours = [f.pc for f in trace.frames]
    assert len(ours) >= 5 and ours == theirs[: len(ours)], ([hex(a) for a in ours], [hex(a) for a in theirs])
    ldso = trace.frames[-1].module
    assert ldso is not None and "ld-linux" in ldso.path and trace.frames[-1].function == "_start", trace.frames[-1]


def chains_end(symbols: list[str]) -> bool:
    return bool(symbols) and symbols[-1].split("@")[0] in OUTERMOST


@pytest.mark.parametrize("name", ["c", "cxx", "python", "gzip"])
def test_samples_match_perf_script(recordings, name):
    cats, failures = compare(recordings[name])
    assert not failures, f"{len(failures)} unexplained differences, first: {failures[:3]}"
    total = sum(v for k, v in cats.items() if k != "signal-crossings")
    assert total >= 50, cats  # ~150 samples are recorded; a handful means the recording failed
    # perf stopping early is the only way perf's chain is not complete; it must stay rare.
    assert cats["identical"] >= 0.95 * total, cats
    if name == "c":
        # The SIGPROF handler's samples cross __restore_rt; they too must equal perf's.
        assert cats["signal-crossings"] > 0, cats


def test_perf_reached_outermost_means_identical(recordings):
    """Where perf's own chain is complete (ends in _start/clone3), ours is the same chain, symbol for symbol."""
    checked = 0
    for pu, u, chain in with_perf_chains(recordings["cxx"]):
        syms = [s for _, s, _ in chain]
        if not chains_end(syms):
            continue
        checked += 1
        assert our_chain(pu, u) == [a for a, _, _ in chain]
        # ld.so's own _start has no CFI: the walk ends there as perf's does, with stop reason no-cfi.
        last = u.trace.frames[-1]
        assert u.trace.stop_reason.value == "outermost" or (
            u.trace.stop_reason.value == "no-cfi" and last.module is not None
            and last.module.name.startswith("ld-linux")), (u.trace.stop_reason, last)
        # Symbols: perf's names (C++ demangled, versioned names stripped) equal ours.
        for f, s in zip(u.trace.frames, syms):
            # PLT stubs: perf's "f@plt" is ours (perf prints a bare "@plt" for some, e.g. GLIBC_PRIVATE ones).
            if s.endswith("@plt") and s != "@plt":
                assert f.linkage_name == s or (f.function or "").endswith("@plt") and without_parameters(
                    f.function.removesuffix("@plt")).endswith(s.removesuffix("@plt")), (f.linkage_name, s)
            # perf 6.1 misses some stubs (tmpl's first, _Rb_tree_insert_and_rebalance@plt, is "_init+0x30"
            # to it) where objdump and gdb name them as we do (tests/test_symbols_plt.py).
            if s != "[unknown]" and f.function is not None and not s.endswith("@plt") \
                    and not f.function.endswith("@plt"):
                name = s.split("@")[0]
                # perf also drops a template function's return type ("void std::__introsort_loop<...>").
                if not without_parameters(f.function).endswith(name):
                    # An alias at the same address (free / cfree): symbol tables name it both ways.
                    assert f.module is not None and f.module.elf is not None
                    debug = f.module.elf.debug_file()
                    syms_ = f.module.elf.reader.symbols() + (debug.symbols() if debug else [])
                    assert {v for v, _, n, _ in syms_ if n == name} & \
                        {v for v, _, n, _ in syms_ if n == f.function}, (f.function, s)
    assert checked > 50


def test_cli_json_folded_text_agree(recordings, tmp_path):
    """The three outputs of the CLI describe the same walks; --json follows the documented contract."""
    import json

    path = str(recordings["c"])
    py = [sys.executable, "-m", "dwarfunwind", "perf", path]
    j = subprocess.run([*py, "--json"], capture_output=True, text=True, timeout=120)
    assert j.returncode == 0, j.stderr
    doc = json.loads(j.stdout)
    assert doc["error"] is None and doc["file"] == path
    samples = doc["samples"]
    theirs = perf_script_chains(recordings["c"])
    assert len(samples) == sum(len(v) for v in theirs.values())
    for s in samples:
        assert set(s) >= {"time", "pid", "tid", "cpu", "period", "comm", "frames", "stop_reason", "reliable"}
        assert s["comm"] == "rec" and s["period"] > 0
        assert s["frames"][0]["pc"] == s["frames"][0]["registers"]["rip"]
    f = subprocess.run([*py, "--folded"], capture_output=True, text=True, timeout=120)
    assert f.returncode == 0, f.stderr
    folded = {}
    for line in f.stdout.splitlines():
        stack, n = line.rsplit(" ", 1)
        folded[stack] = int(n)
    assert sum(folded.values()) == len(samples)
    expect = Counter(";".join(["rec", *[fr["function"] or f"[{fr['module']}]" for fr in reversed(s["frames"])]])
                     for s in samples)
    assert expect == Counter(folded)
    t = subprocess.run([*py, "--max-samples", "5"], capture_output=True, text=True, timeout=120)
    assert t.returncode == 0, t.stderr
    blocks = t.stdout.strip().split("\n\n")
    assert len(blocks) == 5
    for block, s in zip(blocks, samples):
        lines = block.splitlines()
        assert re.match(rf"rec\s+{s['pid']}/{s['tid']}\s+\d+\.\d{{6}}:\s+{s['period']} cpu-clock:u: ", lines[0])
        addrs = [int(line.split()[0], 16) for line in lines[1:] if not line.strip().startswith("[")]
        # perf script's shape: the first frame at its pc, callers at return address - 1.
        assert addrs == [fr["pc"] - (1 if fr["index"] and not fr["interrupted"] else 0) for fr in s["frames"]]


def test_stack_copy_end_is_a_stop_reason_not_an_error(recordings, tmp_path):
    """A walk cut by a small stack copy ends with stack-copy-end, its frames equal to perf's on the same file."""
    which("perf")
    binary = Path(recordings["c"]).parent / "rec"
    path = tmp_path / "small.data"
    perf = which("perf")
    r = subprocess.run([perf, "record", "-q", "-F", "499", "-e", "cpu-clock:u", "--call-graph", "dwarf,1024",
                        "-o", str(path), "--", str(binary)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        missing(f"perf cannot record here: {r.stderr.strip()[-300:]}")
    cats, failures = compare(path)
    assert not failures, failures[:3]
    with PerfData.open(str(path)) as data:
        pu = PerfUnwinder(data)
        stops = Counter(u.trace.stop_reason.value for u in pu.samples())
        pu.close()
    assert stops["stack-copy-end"] > 0, stops
    assert set(stops) <= {"stack-copy-end", "outermost"}, stops



# -- the suffix memo (perf/memo.py): walks taken from earlier samples equal walks stepped throughout --


def frame_facts(u) -> tuple:
    """Everything a walk says about a sample, frame by frame."""
    return (tuple((f.index, f.pc, f.cfa, tuple(sorted(f.registers.items())), f.method, f.interrupted,
                   f.signal_frame, f.function, f.offset, f.module.path if f.module else None)
                  for f in u.trace.frames), u.trace.stop_reason, u.trace.stop_detail)


def walks(path: Path, memo: bool, mutate=None) -> tuple[list[tuple], int]:
    """Every sample's walk, and how many took their callers from the memo."""
    out, taken = [], 0
    with PerfData.open(str(path)) as data:
        if mutate is not None:
            records = data.records

            def mutated():
                for i, rec in enumerate(records()):
                    if getattr(rec, "stack", None):
                        rec.stack = mutate(i, rec.stack)
                    yield rec

            data.records = mutated
        pu = PerfUnwinder(data, memo=memo)
        for u in pu.samples():
            out.append(frame_facts(u))
            p = pu._processes.get(u.sample.pid)
            taken += p is not None and memo and p.memo.taken_at is not None
        pu.close()
    return out, taken


@pytest.mark.parametrize("name", ["c", "cxx", "python", "gzip"])
def test_memo_walks_equal_stepped_walks(recordings, name):
    stepped, _ = walks(recordings[name], memo=False)
    memo, taken = walks(recordings[name], memo=True)
    assert memo == stepped
    assert taken >= len(stepped) // 2, (taken, len(stepped))  # the memo is what is tested here


def test_memo_sees_every_byte_the_callers_steps_read(recordings):
    """Stacks altered word by word (saved registers, return addresses, locals): the memo never
    hands out a walk the altered bytes would change, and is still taken where they do not matter."""
    import random

    def mutate(i: int, stack: bytes) -> bytes:
        rnd = random.Random(i)
        b = bytearray(stack)
        for _ in range(rnd.randrange(0, 3)):
            at = rnd.randrange(0, max(1, len(b) // 8)) * 8
            b[at : at + 8] = rnd.choice([b"\0" * 8, rnd.randbytes(8), bytes(b[at : at + 8])[::-1]])
        return bytes(b)

    stepped, _ = walks(recordings["c"], memo=False, mutate=mutate)
    memo, taken = walks(recordings["c"], memo=True, mutate=mutate)
    assert memo == stepped
    assert taken > 0
    assert len({w[1] for w in stepped}) > 1  # the alterations did change some walks


# -- a process that execs: the new program's modules, not the old one's cached rows and names --

EXEC_SPIN = r"""
#include <string.h>
#include <time.h>
#include <unistd.h>
volatile unsigned long sink;
static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
/* FRAME differs between the two builds; the code does not move (sub imm32 either way). */
__attribute__((noipa)) unsigned long NAME(unsigned long n) {
    volatile char pad[FRAME];
    pad[0] = (char)n;
    unsigned long s = pad[0];
    for (unsigned long i = 0; i < n; i++) s += (i * i) ^ (s >> 3);
    return s;
}
int main(int argc, char **argv) {
    double t0 = cpu();
    while (cpu() - t0 < 0.25) sink += NAME(100000);
    if (argc > 1) execv(argv[1], argv + 1);
    return 0;
}
"""


def test_exec_gets_the_new_programs_rows_and_names(tmp_path):
    """Two non-PIE programs whose code sits at the same addresses but whose frames differ: the
    first execs the second. Samples after the exec must be unwound and named with the second's
    CFI and symbols (perf script, which replays the exec, is the oracle for both)."""
    gcc = which("gcc")
    for name, frame in (("first", 1024), ("second", 4096)):
        (tmp_path / f"{name}.c").write_text(EXEC_SPIN)
        subprocess.run([gcc, "-O2", "-g", "-no-pie", "-fno-pie", "-fomit-frame-pointer", f"-DNAME=spin_{name}",
                        f"-DFRAME={frame}", "-o", str(tmp_path / name), str(tmp_path / f"{name}.c")], check=True)
    # Same length names: the same layout. Check it is so, else the test proves nothing.
    syms = [subprocess.run(["nm", str(tmp_path / n)], capture_output=True, text=True).stdout
            for n in ("first", "second")]
    where = [re.search(r"^([0-9a-f]+) T spin_", s, re.M) for s in syms]
    assert where[0] and where[1] and where[0][1] == where[1][1], "the two builds should put spin_* at one address"
    path = record(tmp_path / "exec.data", [str(tmp_path / "first"), str(tmp_path / "second")])
    seen_second = 0
    for pu, u, chain in with_perf_chains(path):
        names = [s.split("+")[0].split("@")[0] for _, s, _ in chain]  # perf shows symbol versions
        if not names or not names[0].startswith("spin_"):
            continue  # in libc or ld.so around the exec
        seen_second += names[0] == "spin_second"
        # perf may stop early (its chain a prefix of ours, as compare() explains); never differ.
        assert [f.function for f in u.trace.frames][: len(names)] == names
        assert our_chain(pu, u)[: len(chain)] == [a for a, _, _ in chain]
    assert seen_second > 20
    _, failures = compare(path)
    assert not failures, failures[:3]


@given(st.lists(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 24)), max_size=4), max_size=12))
def test_memo_read_runs_merge_like_sorting(steps):
    """The memo's runs of stack reads, built a step at a time, equal sorting all spans and merging
    those that touch: the same bytes are compared, in as few runs."""
    from dwarfunwind.perf.memo import _with_spans

    runs, everything = None, []
    for spans in steps:
        spans = [(lo, lo + n) for lo, n in spans]
        everything += spans
        if spans:
            runs = _with_spans(runs, spans)
        flat = []
        node = runs
        while node is not None:
            flat.append(node[0])
            node = node[1]
        want: list[tuple[int, int]] = []
        for lo, hi in sorted(everything):
            if want and lo <= want[-1][1]:
                want[-1] = (want[-1][0], max(hi, want[-1][1]))
            else:
                want.append((lo, hi))
        assert flat == want
