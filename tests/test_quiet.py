"""Quiet when all is well: a complete walk of a healthy core prints nothing on stderr and exits 0.

Cores of sleep, bash, perl, python3 and a multi-threaded C program are made here (the kernel writes
them: RLIMIT_CORE unlimited in the child, kernel.core_pattern "core"); the frames of every thread are
held against gdb's (corpora/gdb_frames.py) and eu-stack's on the same core.
"""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, missing, which

MT_PROGRAM = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static pthread_barrier_t bar;
static void *worker(void *arg) { pthread_barrier_wait(&bar); for (;;) pause(); return arg; }
int main(void) {
    pthread_barrier_init(&bar, 0, 5);
    for (long i = 0; i < 4; i++) { pthread_t t; pthread_create(&t, 0, worker, (void *)i); }
    pthread_barrier_wait(&bar);
    puts("ready"); fflush(stdout);
    for (;;) pause();
}
"""

PROGRAMS = {
    "sleep": ["sleep", "100"],
    "bash": ["bash", "-c", "echo ready; read x"],
    "perl": ["perl", "-e", "$| = 1; print qq(ready\\n); sleep 100"],
    "python3": ["python3", "-c", "import time; print('ready', flush=True); time.sleep(100)"],
    "mt_c": None,  # built below
}


def _core_limit() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _wait_exec(pid: int, name: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith(name):
                stat = open(f"/proc/{pid}/stat").read()
                if stat[stat.rfind(")") + 2] == "S":
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{name} did not start")


@pytest.fixture(scope="session")
def quiet_cores(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """name -> (core, executable), made once per session (all five crash at the same time)."""
    base = tmp_path_factory.mktemp("quiet")
    which("gcc")
    src = base / "mt.c"
    src.write_text(MT_PROGRAM)
    mt = base / "mt_c.bin"
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", str(mt), str(src)], check=True, capture_output=True)
    procs = {}
    for name, argv in PROGRAMS.items():
        argv = argv or [str(mt)]
        if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
            missing(f"{argv[0]} not found on PATH")
        d = base / name
        d.mkdir()
        procs[name] = subprocess.Popen(argv, cwd=d, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       preexec_fn=_core_limit)
    out = {}
    try:
        for name, p in procs.items():
            if name != "sleep":
                assert p.stdout.readline().strip() == b"ready", name
            _wait_exec(p.pid, "mt_c" if name == "mt_c" else name if name != "python3" else "python")
            exe = os.path.realpath(f"/proc/{p.pid}/exe")
            p.send_signal(signal.SIGSEGV)
            p.wait(timeout=30)
            cores = sorted((base / name).glob("core*"))
            if not cores:
                missing("no core written (kernel.core_pattern does not write 'core' in the cwd)")
            out[name] = (cores[0], exe)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def _gdb_frames(exe: str, core: Path) -> dict[int, list[int]]:
    which("gdb")
    tmp = core.with_suffix(".gdb.json")
    if not tmp.exists():
        env = dict(os.environ, GDB_FRAMES_OUT=str(tmp), GDB_FRAMES_BINARY=exe, GDB_FRAMES_CORE=str(core))
        env.pop("DEBUGINFOD_URLS", None)
        subprocess.run(["gdb", "-batch", "-nx", "-ex", "set debuginfod enabled off", "-x",
                        str(ROOT / "corpora" / "gdb_frames.py"), exe, str(core)], env=env, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=180)
    oracle = json.loads(tmp.read_text())
    return {t["tid"]: [f["pc"] for f in t["frames"]] for t in oracle["threads"]}


_EU_FRAME = re.compile(r"^#(\d+)\s+0x([0-9a-f]+)")


def _eu_frames(exe: str, core: Path) -> dict[int, list[int]]:
    which("eu-stack")
    r = subprocess.run(["eu-stack", "--core", str(core), "-e", exe, "-n", "0"], capture_output=True, text=True,
                       timeout=120)
    threads: dict[int, list[int]] = {}
    tid = None
    for line in r.stdout.splitlines():
        if line.startswith("TID "):
            tid = int(line[4:].rstrip(":"))
            threads[tid] = []
        elif (m := _EU_FRAME.match(line)) and tid is not None:
            threads[tid].append(int(m.group(2), 16))
    return threads


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_healthy_core_walk_is_quiet_and_matches_gdb_and_eu_stack(quiet_cores, name):
    core, exe = quiet_cores[name]
    r = subprocess.run([sys.executable, "-m", "dwarfunwind", "unwind", str(core), "--json"], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.stderr == "", r.stderr
    assert r.returncode == 0
    ours = {t["tid"]: [f["pc"] for f in t["frames"]] for t in json.loads(r.stdout)["threads"]}
    assert all(t["reliable"] for t in json.loads(r.stdout)["threads"])
    if name == "mt_c":
        assert len(ours) == 5
    gdb = _gdb_frames(exe, core)
    assert ours == gdb, f"{name}: ours {ours} gdb {gdb}"
    eu = _eu_frames(exe, core)
    assert set(eu) == set(ours)
    for tid, pcs in eu.items():
        # eu-stack may stop earlier (it gives up at some outermost frames): a prefix of ours.
        assert pcs and ours[tid][:len(pcs)] == pcs, f"{name} thread {tid}: eu-stack {pcs} ours {ours[tid]}"


def test_core_without_nt_file_walks_as_with_it(quiet_cores, tmp_path):
    """The NT_FILE note's type rewritten in a copy: modules come from NT_AUXV and r_debug; same walk."""
    from hostile.target_gen import strip_file_note

    for name in ("mt_c", "python3", "bash"):
        core, exe = quiet_cores[name]
        stripped = tmp_path / f"{name}.nofile"
        assert strip_file_note(core, stripped) == 1
        runs = []
        for path in (core, stripped):
            r = subprocess.run([sys.executable, "-m", "dwarfunwind", "unwind", str(path), "--exe", exe, "--json"],
                               capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
            assert r.stderr == "" and r.returncode == 0, (name, r.stderr)
            doc = json.loads(r.stdout)
            runs.append([[(f["pc"], f["function"], f["module"], f["registers"]) for f in t["frames"]]
                         for t in doc["threads"]])
        assert runs[0] == runs[1], name


def _walk(path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, list]:
    r = subprocess.run([sys.executable, "-m", "dwarfunwind", "unwind", str(path), "--json", *extra],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    frames = [[(f["pc"], f["function"]) for f in t["frames"]] for t in json.loads(r.stdout)["threads"]] \
        if r.stdout else []
    return r, frames


def test_relative_nt_file_path_is_resolved_against_the_core_directory(quiet_cores, tmp_path):
    """`.////../prog` in NT_FILE (as some dumpers write): found next to the core, same walk, nothing said."""
    core, exe = quiet_cores["mt_c"]
    data = core.read_bytes()
    old = exe.encode() + b"\0"
    rel = b"../" + os.path.basename(exe).encode()
    assert len(old) > len(rel) + 3 and data.count(old) >= 1
    new = b"." + b"/" * (len(old) - 1 - len(rel) - 1) + rel + b"\0"
    assert len(new) == len(old)
    odd = core.parent / "core.relative"
    odd.write_bytes(data.replace(old, new))
    (_, want), (r1, got) = _walk(core), _walk(odd)
    assert r1.stderr == "" and r1.returncode == 0, r1.stderr
    assert got == want


def test_exe_whose_build_id_differs_is_said_once(quiet_cores):
    core, _ = quiet_cores["mt_c"]
    other = os.path.realpath(shutil.which("sleep") or "/bin/sleep")
    r, frames = _walk(core, "--exe", other)
    lines = [line for line in r.stderr.splitlines() if "build-id" in line]
    assert len(lines) == 1 and "--exe" in lines[0] and other in lines[0], r.stderr
    assert "using" in lines[0]
    assert len(r.stderr.splitlines()) == len(set(r.stderr.splitlines()))  # nothing said twice


def test_traces_kept_after_close_do_not_pin_files(quiet_cores):
    """60 programs closed, their traces kept: open descriptors stay bounded, and source lines still work."""
    import dwarfunwind
    from dwarfunwind.modules import REOPEN_LIMIT

    core, exe = quiet_cores["mt_c"]
    before = len(os.listdir("/proc/self/fd"))
    kept = []
    for _ in range(60):
        with dwarfunwind.Program.from_core(str(core), exe=exe) as prog:
            kept.append(prog.stack_traces())
    assert len(os.listdir("/proc/self/fd")) - before <= 3 * REOPEN_LIMIT
    main = next(f for f in kept[-1][0].frames if f.function == "main")
    src = main.source()  # the file is opened again, through the bounded cache
    assert src is not None and src[0].endswith("mt.c")
    assert len(os.listdir("/proc/self/fd")) - before <= 3 * REOPEN_LIMIT


def test_truncated_core_is_said_once_as_such(quiet_cores, tmp_path):
    """A core cut to 60%: one line "core file truncated: N of M bytes" (N, M: the file sizes), no other echo."""
    core, exe = quiet_cores["mt_c"]
    data = core.read_bytes()
    cut = tmp_path / "core.cut"
    cut.write_bytes(data[: len(data) * 6 // 10])
    r, _ = _walk(cut)
    lines = [line for line in r.stderr.splitlines() if "truncated" in line]
    assert lines == [f"dwarfunwind: {cut}: core file truncated: {len(data) * 6 // 10} of {len(data)} bytes"], r.stderr
    assert len(r.stderr.splitlines()) == len(set(r.stderr.splitlines()))
