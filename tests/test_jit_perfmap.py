"""JIT frames of a live process named from the JIT's ``/tmp/perf-PID.map``, as perf names them.

The program copies a frame-pointer trampoline into anonymous executable memory, writes the perf
map line for it (the name and range it planted are the oracle for the name), and calls back into
C code that waits. The walk goes through the JIT frame with frame pointers; its pcs are held
against eu-stack's, which walks through it the same way.
"""

import os
import re
import subprocess

import pytest
from conftest import SYS_PAUSE, wait_in_syscall, which

from dwarfunwind import Program
from dwarfunwind.symbolize.perfmap import PerfMap

PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
volatile unsigned long sink;
static int busy;
__attribute__((noinline)) void callback(void) {
    if (!busy) {  /* wait, for a live walk */
        puts("ready");
        fflush(stdout);
        for (;;) pause();
    }
    struct timespec t0, t;  /* or stay busy for 0.3 s of CPU time, for perf record */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 100000; i++) sink += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < 0.3);
}
__attribute__((noinline)) void run_jit(void) {
    /* push %rbp; mov %rsp,%rbp; call *%rdi; pop %rbp; ret */
    static const unsigned char code[] = {0x55, 0x48, 0x89, 0xe5, 0xff, 0xd7, 0x5d, 0xc3};
    unsigned char *m = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(m + 64, code, sizeof code);
    char name[64];
    snprintf(name, sizeof name, "/tmp/perf-%d.map", getpid());
    FILE *f = fopen(name, "w");
    if (!f) return;
    fprintf(f, "%lx 40 unrelated stub\n", (unsigned long)m);
    fprintf(f, "%lx %zx LazyCompile:*hot_loop app.js:12\n", (unsigned long)(m + 64), sizeof code);
    fclose(f);
    ((void (*)(void (*)(void)))(m + 64))(callback);
    __asm__ volatile("");
}
int main(int argc, char **argv) { (void)argv; busy = argc > 1; run_jit(); return 0; }
"""


@pytest.fixture(scope="module")
def jit_program(tmp_path_factory):
    d = tmp_path_factory.mktemp("jit")
    (d / "j.c").write_text(PROGRAM)
    exe = d / "j"
    subprocess.run([which("gcc"), "-O2", "-fno-omit-frame-pointer", "-o", str(exe), str(d / "j.c")], check=True)
    return str(exe)


@pytest.fixture
def running(jit_program):
    proc = subprocess.Popen([jit_program], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    perf_map = f"/tmp/perf-{proc.pid}.map"
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        wait_in_syscall(proc.pid, SYS_PAUSE)
        yield proc, perf_map
        assert proc.poll() is None, "the process must be left running"
    finally:
        proc.kill()
        proc.wait()
        if os.path.lexists(perf_map):
            os.unlink(perf_map)


def planted(perf_map: str) -> tuple[int, int]:
    """The range the program wrote for its trampoline."""
    line = open(perf_map).read().splitlines()[1]
    start, size = line.split()[:2]
    return int(start, 16), int(size, 16)


def eu_stack_pcs(pid: int) -> list[int]:
    out = subprocess.run([which("eu-stack"), "-p", str(pid)], capture_output=True, text=True, timeout=60).stdout
    return [int(m[1], 16) for line in out.splitlines() if (m := re.match(r"^#\d+\s+0x([0-9a-f]+)", line))]


def test_jit_frame_named_from_perf_map(running):
    proc, perf_map = running
    start, size = planted(perf_map)
    with Program.from_pid(proc.pid) as program:
        (trace,) = program.stack_traces()
        assert not program.problems
    names = [f.function for f in trace.frames]
    assert names[1:5] == ["callback", "LazyCompile:*hot_loop app.js:12", "run_jit", "main"], names
    jit = trace.frames[2]
    assert jit.module is None and start <= jit.lookup_pc < start + size and jit.offset == jit.pc - start
    assert [f.pc for f in trace.frames] == eu_stack_pcs(proc.pid)[: len(trace.frames)]
    assert trace.frames[-1].function == "_start"


@pytest.mark.parametrize("how", ["other-owner", "symlink"])
def test_perf_map_we_will_not_read(running, tmp_path, how):
    """Anyone may write /tmp: a map owned by another user, or a symlink, is refused (as perf refuses it)."""
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    proc, perf_map = running
    if how == "other-owner":
        os.chown(perf_map, 65534, 65534)
    else:
        target = tmp_path / "elsewhere.map"
        os.rename(perf_map, target)
        os.symlink(target, perf_map)
    with Program.from_pid(proc.pid) as program:
        (trace,) = program.stack_traces()
        problems = program.problems_for([trace])
    assert trace.frames[2].function is None and trace.frames[3].function == "run_jit"
    assert len(problems) == 1 and perf_map in problems[0] and "not named" in problems[0], problems


def test_perf_map_lines():
    """perf's own rules: hex without 0x, the name is the rest of the line, later lines win, junk is skipped."""
    m = PerfMap.parse(b"1000 10 first name\nnot a line\n1000 20 second\n2000 0 empty\n3000 8 \x1b[31mred\n")
    assert len(m) == 2
    assert m.lookup(0x1005) == ("second", 5) and m.lookup(0x101f) == ("second", 0x1f) and m.lookup(0x1020) is None
    assert m.lookup(0x2000) is None and m.lookup(0xfff) is None
    assert m.lookup(0x3001) == ("\\x1b[31mred", 1)


def test_perf_samples_name_jit_frames_as_perf_script(jit_program, tmp_path):
    """A perf recording of JIT code: the JIT frame is named from its map as perf script names it, and
    perf's chain (which stops there: libdw has no CFI for it) is a prefix of ours (frame pointers go on)."""
    from test_perf_script import our_chain, with_perf_chains

    data_path = tmp_path / "jp.data"
    r = subprocess.run([which("perf"), "record", "-q", "-F", "499", "-e", "cpu-clock:u", "--call-graph", "dwarf",
                        "-o", str(data_path), "--", jit_program, "busy"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not data_path.exists():
        pytest.skip(f"perf cannot record here: {r.stderr.strip()[-300:]}")
    try:
        named = 0
        for pu, u, chain in with_perf_chains(data_path):
            jit = [i for i, (_, _, dso) in enumerate(chain) if dso.startswith("/tmp/perf-")]
            if not jit:
                continue
            i = jit[0]
            assert our_chain(pu, u)[: i + 1] == [a for a, _, _ in chain[: i + 1]]
            assert u.trace.frames[i].function == chain[i][1] == "LazyCompile:*hot_loop app.js:12"
            assert [f.function for f in u.trace.frames[i + 1 : i + 3]] == ["run_jit", "main"]
            named += 1
        assert named >= 20, named
        assert not any("anon" in p for p in pu.problems), pu.problems  # anonymous memory: not a missing module
    finally:  # the program's map outlives it in /tmp, as a JIT's does
        for pid_map in {f"/tmp/perf-{pid}.map" for pid in _recorded_pids(data_path)}:
            if os.path.lexists(pid_map):
                os.unlink(pid_map)


def _recorded_pids(path) -> set[int]:
    from dwarfunwind.perf.reader import PerfData, Sample

    if not path.exists():
        return set()
    with PerfData.open(str(path)) as data:
        return {r.pid for r in data.records() if isinstance(r, Sample)}
