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
#include <unistd.h>
__attribute__((noinline)) void callback(void) { puts("ready"); fflush(stdout); for (;;) pause(); }
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
int main(void) { run_jit(); return 0; }
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
    m = PerfMap.parse("1000 10 first name\nnot a line\n1000 20 second\n2000 0 empty\n3000 8 \x1b[31mred\n")
    assert len(m) == 2
    assert m.lookup(0x1005) == ("second", 5) and m.lookup(0x101f) == ("second", 0x1f) and m.lookup(0x1020) is None
    assert m.lookup(0x2000) is None and m.lookup(0xfff) is None
    assert m.lookup(0x3001) == ("\\x1b[31mred", 1)
