"""Live processes: sampling a running process again and again, a vfork() parent, Ctrl-C during close().

Oracles: the kernel's view of the target in /proc (State, TracerPid of every thread, CPU time
consumed between samples), and the program's own functions (every sampled frame is one of them
or of libc).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from conftest import ROOT, which

import dwarfunwind
from dwarfunwind.targets.live import LiveTarget

BUSY = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
volatile unsigned long sink;
__attribute__((noinline)) void leaf(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i; }
__attribute__((noinline)) void descend(int depth, unsigned long n) {
    if (depth > 0) descend(depth - 1, n); else leaf(n);
    sink++;
}
static void *idle(void *a) { for (;;) pause(); return a; }
int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    for (int i = 0; i < threads; i++) { pthread_t t; pthread_create(&t, 0, idle, 0); }
    printf("ready\n"); fflush(stdout);
    for (unsigned long k = 0;; k++) descend((int)(k % 7), 20000 + (k % 13) * 1000);
}
"""

VFORK = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *idle(void *a) { for (;;) pause(); return a; }
int main(void) {
    pthread_t t; pthread_create(&t, 0, idle, 0);
    printf("%d\n", getpid()); fflush(stdout);
    if (vfork() == 0) { for (;;) pause(); }   /* the child never execs: the parent waits in D */
    return 0;
}
"""


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    which("gcc")
    d = tmp_path_factory.mktemp("live")

    def make(name: str, source: str) -> str:
        (d / f"{name}.c").write_text(source)
        subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", str(d / name),
                        str(d / f"{name}.c")], check=True, capture_output=True)
        return str(d / name)

    return make


def _status(tid_path: str) -> tuple[str, int]:
    text = open(f"{tid_path}/status").read()
    state = re.search(r"^State:\s+(\S)", text, re.M).group(1)
    return state, int(re.search(r"^TracerPid:\s+(\d+)", text, re.M).group(1))


def untraced(pid: int) -> bool:
    return all(_status(f"/proc/{pid}/task/{t}")[1] == 0 for t in os.listdir(f"/proc/{pid}/task"))


def cpu_ticks(pid: int) -> int:
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.fixture
def busy(build):
    exe = build("busy", BUSY)
    procs = []

    def start(threads: int = 0) -> subprocess.Popen:
        p = subprocess.Popen([exe, str(threads)], stdout=subprocess.PIPE)
        assert p.stdout.readline().strip() == b"ready"
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_hundred_samples_of_a_running_process(busy):
    p = busy()
    seen = set()
    in_loop = 0
    with dwarfunwind.Program.from_pid(p.pid, stopped=False) as prog:
        assert untraced(p.pid)  # nothing stopped before the first sample
        ticks = cpu_ticks(p.pid)
        for i in range(100):
            traces = prog.sample()
            main = traces[0]
            assert main.thread.tid == p.pid and main.complete and main.reliable, (main.stop_reason, main.stop_detail)
            names = [f.function for f in main.frames]
            assert "main" in names
            in_loop += set(names) <= {"leaf", "descend", "main", "__libc_start_call_main", "__libc_start_main",
                                      "_start"}
            seen.add(tuple(f.pc for f in main.frames))
            if i % 10 == 0:
                assert untraced(p.pid)  # between samples the process is not traced
                time.sleep(0.002)
        assert cpu_ticks(p.pid) > ticks  # it ran between samples
        assert len(prog.modules.modules) >= 2
        warm = list(prog.modules.modules)
        prog.refresh_modules()  # nothing was loaded: the same modules, caches and all
        assert all(a is b for a, b in zip(prog.modules.modules, warm)) and len(prog.modules.modules) == len(warm)
        assert prog.sample()[0].complete
        assert prog.stack_traces()[0].complete and untraced(p.pid)  # not stopped: stack_traces() samples too
        assert prog.stack_trace(p.pid).thread.tid == p.pid and untraced(p.pid)
    assert len(seen) > 10, "samples of a running process differ"
    assert in_loop >= 90  # (the first may still be in printf's write)
    state, tracer = _status(f"/proc/{p.pid}")
    assert tracer == 0 and state in "RS"


def test_ctrl_c_during_close_leaves_every_thread_running(busy, monkeypatch):
    """close() interrupted after two detaches: the next close() (or __del__) finishes; nothing stays traced."""
    p = busy(40)
    prog = dwarfunwind.Program.from_pid(p.pid)
    assert len(prog.threads()) == 41
    real = LiveTarget._detach
    calls = []

    def interrupted(self, tid):
        calls.append(tid)
        real(self, tid)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(LiveTarget, "_detach", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prog.close()
    assert not untraced(p.pid)  # 39 threads still held...
    monkeypatch.setattr(LiveTarget, "_detach", real)
    prog.close()  # ...until close() is called again
    prog.close()  # idempotent
    assert untraced(p.pid)
    state, _ = _status(f"/proc/{p.pid}")
    assert state in "RS"


def test_close_reentered_from_inside_close(busy, monkeypatch):
    p = busy(5)
    target = LiveTarget(p.pid)
    real = LiveTarget._detach

    def nested(self, tid):
        real(self, tid)
        self.close()  # e.g. a signal handler closing the same target

    monkeypatch.setattr(LiveTarget, "_detach", nested)
    target.close()
    assert untraced(p.pid)


def test_vfork_parent_is_not_waited_for(build):
    exe = build("vfork", VFORK)
    p = subprocess.Popen([exe], stdout=subprocess.PIPE)
    try:
        pid = int(p.stdout.readline())
        deadline = time.monotonic() + 5
        while _status(f"/proc/{pid}")[0] != "D" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _status(f"/proc/{pid}")[0] == "D"
        start = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "dwarfunwind", "unwind", "--pid", str(pid)], capture_output=True,
                           text=True, timeout=30, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert time.monotonic() - start < 20
        assert "Traceback" not in r.stderr
        assert "vfork" in r.stderr and f"thread {pid}" in r.stderr, r.stderr
        assert len([line for line in r.stderr.splitlines() if "vfork" in line]) == 1
        other = [t for t in map(int, os.listdir(f"/proc/{pid}/task")) if t != pid]
        assert f"Thread {other[0]}" in r.stdout  # the other thread was walked
        assert untraced(pid) and _status(f"/proc/{pid}")[0] == "D"  # left as it was found
    finally:
        for child in open(f"/proc/{p.pid}/task/{p.pid}/children").read().split():
            os.kill(int(child), 9)
        p.wait(timeout=10)
