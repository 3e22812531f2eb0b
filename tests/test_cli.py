"""The command line as users meet it: JSON contract, exit codes, snapshots, live processes, bad input.

Oracles: gdb attached to the same live process; the core the snapshot was
saved from; the process's own behaviour after we detach.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, kernel_core, which

PY = [sys.executable, "-m", "dwarfunwind"]
REGISTERS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=timeout)


def assert_clean_error(r: subprocess.CompletedProcess, code: int) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines and all(line.startswith("dwarfunwind: ") for line in lines), r.stderr


def test_unwind_json_contract(corpus):
    builder, out = corpus
    p = builder.artifacts("c_threads", out)
    r = run("unwind", str(p["core"]), "--exe", str(p["binary"]), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["threads"][0]["crashed"] is True
    assert not any(t["crashed"] for t in doc["threads"][1:])
    for t in doc["threads"]:
        assert isinstance(t["tid"], int) and isinstance(t["reliable"], bool) and isinstance(t["stop_reason"], str)
        for i, f in enumerate(t["frames"]):
            assert f["index"] == i
            assert f["method"] == ("initial" if i == 0 else "dwarf")
            assert list(f["registers"]) == REGISTERS
            assert f["registers"]["rip"] == f["pc"]
            if i:
                # A caller's rsp is the CFA of the frame below it.
                assert f["registers"]["rsp"] == t["frames"][i - 1]["cfa"]
            for key in ("function", "module"):
                assert f[key] is None or isinstance(f[key], str)
        assert t["stop_reason"] == "outermost" and t["reliable"]


def test_text_output_and_registers(corpus):
    builder, out = corpus
    p = builder.artifacts("entry_nomarker", out)
    r = run("unwind", str(p["core"]), "--registers")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^#3 +0x[0-9a-f]{16} in page_fault\+0x[0-9a-f]+ \(entry_nomarker\)  \[signal frame\]$",
                     r.stdout, re.M)
    assert re.search(r"^#4 +0x[0-9a-f]{16} in faulting_func\+0xa0 \(entry_nomarker\)  \[interrupted\]$", r.stdout, re.M)
    assert "rax 0xc0de101010101010" in r.stdout
    assert "stop: reached the outermost frame (return address undefined); reliable" in r.stdout


def test_max_frames_gives_a_partial_trace(corpus):
    builder, out = corpus
    p = builder.artifacts("c_recursion", out)
    r = run("unwind", str(p["core"]), "--json", "-n", "7")
    assert r.returncode == 1
    t = json.loads(r.stdout)["threads"][0]
    assert len(t["frames"]) == 7 and t["stop_reason"] == "frame-limit" and not t["reliable"]


def test_thread_selection(corpus):
    builder, out = corpus
    p = builder.artifacts("c_threads", out)
    tids = [t["tid"] for t in json.loads(run("unwind", str(p["core"]), "--json").stdout)["threads"]]
    r = run("unwind", str(p["core"]), "--json", "--thread", str(tids[-1]))
    assert [t["tid"] for t in json.loads(r.stdout)["threads"]] == [tids[-1]]
    assert_clean_error(run("unwind", str(p["core"]), "--thread", "1"), 2)


def test_snapshot_replays_the_walk(corpus, tmp_path):
    """--save writes what the walk read; replaying the snapshot gives the same frames and registers."""
    builder, out = corpus
    for name in ("c_threads", "sigsegv_glibc", "c_segv_handler_altstack"):
        p = builder.artifacts(name, out)
        snap = tmp_path / f"{name}.snap"
        first = run("unwind", str(p["core"]), "--exe", str(p["binary"]), "--json", "--save", str(snap))
        assert first.returncode == 0, first.stderr
        assert snap.stat().st_size < p["core"].stat().st_size
        again = run("unwind", str(snap), "--exe", str(p["binary"]), "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout) == json.loads(first.stdout)


LIVE = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int fds[2];
__attribute__((noinline)) void wait_here_b(void) { char c; printf("%d\n", getpid()); fflush(stdout);
    if (read(fds[0], &c, 1) == 1) { printf("woke %c\n", c); fflush(stdout); } }
__attribute__((noinline)) void wait_here_a(void) { wait_here_b(); __asm__ volatile(""); }
int main(void) { if (pipe(fds) || fds[1] != 4) return 1; wait_here_a(); return 0; }
"""


@pytest.fixture
def live_program(tmp_path):
    gcc = which("gcc")
    src = tmp_path / "live.c"
    src.write_text(LIVE)
    exe = tmp_path / "live"
    subprocess.run([gcc, "-O1", "-g", "-fno-omit-frame-pointer", "-o", str(exe), str(src)], check=True)
    return exe


def test_unwind_live_process_matches_gdb_and_leaves_it_running(live_program):
    gdb = which("gdb")
    proc = subprocess.Popen([str(live_program)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        time.sleep(0.2)  # let it block in read()
        r = run("unwind", "--pid", str(pid), "--json")
        assert r.returncode == 0, r.stderr
        frames = json.loads(r.stdout)["threads"][0]["frames"]
        names = [f["function"] for f in frames]
        i = names.index("wait_here_b")
        assert names[i:i + 3] == ["wait_here_b", "wait_here_a", "main"]
        # gdb attached to the same process, still blocked in read(), sees the same frames.
        g = subprocess.run([gdb, "-batch", "-nx", "-p", str(pid), "-ex", "set backtrace past-main on",
                            "-ex", "bt"], capture_output=True, text=True, timeout=120)
        gdb_pcs = [int(m.group(1), 16) for m in re.finditer(r"^#\d+\s+(0x[0-9a-f]+) in ", g.stdout, re.M)]
        ours = [f["pc"] for f in frames]
        assert ours[1:] == gdb_pcs[1:len(ours)], (g.stdout, [hex(p) for p in ours])
        # Detached and running: nobody traces it, and it reacts to input on its own pipe
        # (fd 4 is the write end of the pipe it reads; main() made it first).
        status = open(f"/proc/{pid}/status").read()
        assert re.search(r"^TracerPid:\s+0$", status, re.M)
        with open(f"/proc/{pid}/fd/4", "w") as w:
            w.write("x")
        assert proc.stdout.readline().strip() == "woke x"
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unwind_vanished_pid(live_program):
    proc = subprocess.Popen([str(live_program)], stdout=subprocess.PIPE, text=True)
    pid = int(proc.stdout.readline())
    proc.kill()
    proc.wait()
    assert_clean_error(run("unwind", "--pid", str(pid)), 2)


@pytest.mark.parametrize("content", [b"", b"hello\n", b"\x7fELF" + b"\x02\x01\x01" + b"\0" * 20,
                                     b"\x7fELF\x02\x01\x01" + b"\0" * 57 + b"\xff" * 200])
@pytest.mark.parametrize("command", ["cfi", "unwind"])
def test_garbage_input(tmp_path, content, command):
    f = tmp_path / "bad"
    f.write_bytes(content)
    r = run(command, str(f))
    assert r.returncode in (1, 2)
    assert_clean_error(r, r.returncode)


def test_elf_cut_before_its_section_headers_is_unreadable_input(tmp_path, need_tool):
    """Cut before its section header table, an ELF file has no sections to read: exit 2, as for a
    file that is not ELF, with one line naming the table (readelf says the same of it)."""
    src = Path("/bin/ls").resolve()
    data = src.read_bytes()
    shoff = int.from_bytes(data[0x28:0x30], "little")
    f = tmp_path / "cut"
    f.write_bytes(data[: shoff // 2])
    theirs = subprocess.run([need_tool("readelf"), "-S", str(f)], capture_output=True, text=True)
    assert "section headers" in theirs.stderr  # readelf: "... extends past end of file for section headers"
    for argv in (["cfi", str(f)], ["cfi", str(f), "--json"]):
        r = run(*argv)
        assert_clean_error(r, 2)
        assert "section header table" in r.stderr and r.stdout == ""


def test_missing_file():
    assert_clean_error(run("cfi", "/nonexistent/x"), 2)
    assert_clean_error(run("unwind", "/nonexistent/x"), 2)


def test_truncated_core_gives_partial_or_clean_error(corpus, tmp_path):
    builder, out = corpus
    p = builder.artifacts("c_threads", out)
    data = p["core"].read_bytes()
    for cut in (64, 1000, len(data) // 3, len(data) // 2, len(data) - 4096):
        f = tmp_path / f"cut{cut}.core"
        f.write_bytes(data[:cut])
        r = run("unwind", str(f), "--exe", str(p["binary"]))
        assert "Traceback" not in r.stderr
        assert r.returncode in (0, 1, 2)
        if r.returncode == 2:
            assert_clean_error(r, 2)


def test_corrupt_eh_frame_still_serves_the_rest(tmp_path, need_tool):
    """Corrupt lengths in .eh_frame: each problem is reported on one line; .eh_frame_hdr lets the rest through."""
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    if not os.path.exists(libc):
        pytest.skip("no libc.so.6 at the usual path")
    data = bytearray(open(libc, "rb").read())
    out = subprocess.run([need_tool("readelf"), "-SW", libc], capture_output=True, text=True).stdout
    line = next(ln for ln in out.splitlines() if " .eh_frame " in ln)
    fields = line.split("]")[1].split()
    off = int(fields[3], 16)
    data[off + 0x40:off + 0x44] = b"\xff\xff\xff\x7f"  # an absurd length for the FDE at 0x40
    f = tmp_path / "libc.so"
    f.write_bytes(bytes(data))
    r = run("cfi", str(f), "--json")
    assert r.returncode == 1
    assert_clean_error(r, 1)
    assert ".eh_frame at offset 0x40: entry length 0x7fffffff runs past the end of the section" in r.stderr
    good = json.loads(run("cfi", libc, "--json").stdout)
    served = json.loads(r.stdout)
    n_good = len(good["sections"][0]["fdes"])
    assert len(served["sections"][0]["fdes"]) >= n_good - 2


@pytest.mark.parametrize("name", ["c_basic_O0", "c_basic_O2_nofp", "cxx_throw", "entry_marker"])
def test_source_lines_match_addr2line(corpus, name):
    """--source: file and line of each frame in the program itself, as GNU addr2line reads them.

    Where calls were inlined at the pc, the frame's own line is that of the outermost call
    (gdb's physical frame): addr2line -i's last line."""
    addr2line = which("addr2line")
    builder, out = corpus
    p = builder.artifacts(name, out)
    r = run("unwind", str(p["core"]), "--exe", str(p["binary"]), "--json", "--source")
    assert r.returncode == 0, r.stderr
    frames = [f for f in json.loads(r.stdout)["threads"][0]["frames"] if f["module"] == name and f["function"]]
    assert frames
    from dwarfunwind import Program

    with Program.from_core(str(p["core"]), exe=str(p["binary"])) as prog:
        bias = prog.modules.find(frames[0]["pc"]).bias
    checked = 0
    for f in frames:
        lookup = f["pc"] if f["index"] == 0 or f["interrupted"] else f["pc"] - 1
        want = subprocess.run([addr2line, "-i", "-e", str(p["binary"]), hex(lookup - bias)], capture_output=True,
                              text=True).stdout.strip().splitlines()[-1]
        file, _, line = want.rpartition(":")
        line = line.split()[0]
        if file == "??" or not line.isdigit() or line == "0":
            assert f["source"] is None or f["source"]["line"] == 0, (f, want)
            continue
        assert f["source"] is not None, (f["function"], want)
        assert os.path.basename(f["source"]["file"]) == os.path.basename(file), (f["function"], want)
        assert f["source"]["line"] == int(line), (f["function"], want)
        checked += 1
    assert checked >= 2


CRASHER = r"""
#include <stdlib.h>
__attribute__((noinline)) void inner(void) { abort(); }
__attribute__((noinline)) void outer(void) { inner(); __asm__ volatile(""); }
int main(void) { outer(); return 0; }
"""


@pytest.fixture
def moved_core(tmp_path):
    """A core whose executable is no longer where the core says: (core, moved binary, original path)."""
    gcc = which("gcc")
    (tmp_path / "crasher.c").write_text(CRASHER)
    exe = tmp_path / "crasher"
    subprocess.run([gcc, "-O2", "-fomit-frame-pointer", "-o", str(exe), str(tmp_path / "crasher.c")], check=True)
    core = kernel_core(tmp_path, [str(exe)])
    moved = tmp_path / "elsewhere" / "crasher"
    moved.parent.mkdir()
    exe.rename(moved)
    return core, moved, exe


def test_missing_executable_is_said_once_and_the_walk_goes_on(moved_core):
    core, moved, original = moved_core
    r = run("unwind", str(core), "--json")
    assert r.returncode == 1, r.stderr
    problems = r.stderr.strip().splitlines()
    assert problems == [f"dwarfunwind: {original}: module not found; frames in it have no CFI or symbols"]
    t = json.loads(r.stdout)["threads"][0]
    # The missing module's frames still name it by the build-id the core recorded (readelf -n of the file).
    notes = subprocess.run([which("readelf"), "-n", str(moved)], capture_output=True, text=True).stdout
    missing = [f for f in t["frames"] if f["module_path"] == str(original)]
    assert missing and all(f["build_id"] == re.search(r"Build ID: ([0-9a-f]+)", notes).group(1) for f in missing)
    assert [f["function"] for f in t["frames"][:3]] == ["__pthread_kill_implementation", "raise", "abort"]
    assert not t["reliable"]
    # Without its file, the module's load base comes from its ELF headers in the core: the offsets
    # are file addresses that addr2line maps to functions of the moved binary.
    offsets = [hex(f["module_offset"] - (0 if f["index"] == 0 else 1)) for f in missing]
    names = subprocess.run([which("addr2line"), "-f", "-e", str(moved), *offsets], capture_output=True,
                           text=True).stdout.splitlines()[::2]
    found = json.loads(run("unwind", str(core), "--json", "--exe", str(moved)).stdout)["threads"][0]["frames"]
    assert names == [found[f["index"]]["function"] for f in missing], (offsets, names)
    text = run("unwind", str(core)).stdout
    assert re.search(r" in crasher\+0x[0-9a-f]{1,5}$", text, re.M), text


@pytest.mark.parametrize("how", ["exe", "sysroot"])
def test_executable_found_by_exe_or_sysroot(moved_core, tmp_path, how):
    core, moved, original = moved_core
    if how == "exe":
        args = ["--exe", str(moved)]
        served = moved
    else:
        root = tmp_path / "sysroot"
        served = root / str(original).lstrip("/")
        served.parent.mkdir(parents=True)
        served.write_bytes(moved.read_bytes())
        args = ["--sysroot", str(root)]
    r = run("unwind", str(core), "--json", *args)
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["threads"][0]
    names = [f["function"] for f in t["frames"]]
    assert names[3:6] == ["inner", "outer", "main"] and t["reliable"]
    # module_path names the file that served the frame, though JSON is written after the program closed.
    assert {f["module_path"] for f in t["frames"][3:6]} == {str(served)}


def test_fuzz_command_runs_properties_and_summarizes():
    r = run("fuzz", "--examples", "5", "--seed", "1", "--property", "unwind")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^unwind\s+passed\s+\d+", r.stdout, re.M)
    assert "1/1 properties held" in r.stdout
    assert_clean_error(run("fuzz", "--property", "nope"), 2)


@pytest.mark.parametrize("name", ["entry_nomarker", "entry_marker"])
def test_compare_shows_what_each_method_misses(corpus, name):
    builder, out = corpus
    r = run("unwind", str(builder.artifacts(name, out)["core"]), "--method", "compare")
    assert r.returncode == 0, r.stderr
    only_dwarf = next(line for line in r.stdout.splitlines() if "frames only DWARF finds:" in line)
    # Without the marker frame pointers never reach faulting_func; with it they do.
    assert ("faulting_func+0xa0" in only_dwarf) == (name == "entry_nomarker")
    assert "caller_a" in only_dwarf  # faulting_func's rbp is a planted value, not a frame pointer
    assert "frames only frame pointers find: none" in r.stdout
    assert re.search(r"#3 page_fault\+0x[0-9a-f]+: only DWARF knows rbx r12 r13 r14 r15", r.stdout)
    doc = json.loads(run("unwind", str(builder.artifacts(name, out)["core"]), "--method", "compare",
                         "--json").stdout)
    assert {t["tid"] for t in doc["threads"]} == {t["tid"] for t in doc["fp_threads"]}


def test_executable_found_by_build_id_under_sysroot(moved_core, tmp_path, need_tool):
    """A module renamed on this machine is still found: by its build-id, under sysroot/usr/lib/.build-id."""
    core, moved, original = moved_core
    notes = subprocess.run([need_tool("readelf"), "-n", str(moved)], capture_output=True, text=True).stdout
    build_id = re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
    link = tmp_path / "sysroot" / "usr/lib/.build-id" / build_id[:2] / build_id[2:]
    link.parent.mkdir(parents=True)
    link.write_bytes(moved.read_bytes())
    # A wrong file at the recorded path (as on another machine) must lose to the build-id match.
    wrong = tmp_path / "sysroot" / str(original).lstrip("/")
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(open(sys.executable, "rb").read())
    r = run("unwind", str(core), "--json", "--sysroot", str(tmp_path / "sysroot"))
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["threads"][0]
    assert [f["function"] for f in t["frames"]][3:6] == ["inner", "outer", "main"]


# -- issue 8: command-line semantics and frames a user can act on -------------------------------------


def test_max_frames_zero_is_unlimited_as_in_eu_stack(corpus, need_tool):
    """-n 0 walks the whole stack, -n N stops at N frames: the frame counts eu-stack gives with the same -n."""
    eu_stack = need_tool("eu-stack")
    builder, out = corpus
    p = builder.artifacts("c_recursion", out)
    for n in ("0", "5"):
        eu = subprocess.run([eu_stack, "--core", str(p["core"]), "-e", str(p["binary"]), "-n", n],
                            capture_output=True, text=True)
        want = len(re.findall(r"^#\d+ ", eu.stdout, re.M))
        r = run("unwind", str(p["core"]), "--exe", str(p["binary"]), "--json", "-n", n)
        t = json.loads(r.stdout)["threads"][0]
        assert len(t["frames"]) == want, (n, eu.stdout[-300:])
        assert r.returncode == (0 if n == "0" else 1) and t["stop_reason"] == ("outermost" if n == "0" else
                                                                               "frame-limit")
    assert want == 5 and len(json.loads(run("unwind", str(p["core"]), "--json").stdout)["threads"][0]["frames"]) > 500
    assert_usage = run("unwind", str(p["core"]), "-n", "-1")
    assert assert_usage.returncode == 2 and "Traceback" not in assert_usage.stderr


def _eu_stack_modules(eu_stack: str, p: dict) -> dict[int, tuple[str, int, int]]:
    """eu-stack -b, first thread: frame index -> (build-id, module load address, pc offset as eu-stack looks it up)."""
    text = subprocess.run([eu_stack, "-b", "--core", str(p["core"]), "-e", str(p["binary"]), "-n", "0"],
                          capture_output=True, text=True).stdout
    text = text.split("\nTID ")[1]  # the crashed thread comes first, as in ours
    return {int(m[1]): (m[2], int(m[3], 16), int(m[4], 16))
            for m in re.finditer(r"^#(\d+)\s+0x[0-9a-f]+.*\n\s+\[([0-9a-f]+)\]@(0x[0-9a-f]+)\+(0x[0-9a-f]+)$",
                                 text, re.M)}


@pytest.mark.parametrize("name", ["c_threads", "c_basic_O2_nofp", "entry_marker"])
def test_json_frames_name_their_module_file_build_id_and_file_address(corpus, need_tool, name):
    """module_path/build_id/module_offset: addr2line on module_path at module_offset names our function;
    eu-stack -b gives the same build-id and, for position-independent modules, the same offset."""
    addr2line, eu_stack, readelf = need_tool("addr2line"), need_tool("eu-stack"), need_tool("readelf")
    builder, out = corpus
    p = builder.artifacts(name, out)
    r = run("unwind", str(p["core"]), "--exe", str(p["binary"]), "--json")
    assert r.returncode == 0, r.stderr
    frames = json.loads(r.stdout)["threads"][0]["frames"]
    eu = _eu_stack_modules(eu_stack, p)
    checked_eu = checked_a2l = 0
    for f in frames:
        assert f["module_path"] is not None and os.path.isfile(f["module_path"]), f
        notes = subprocess.run([readelf, "-n", f["module_path"]], capture_output=True, text=True).stdout
        assert f["build_id"] == re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
        exact = f["index"] == 0 or f["interrupted"]
        lookup = f["module_offset"] - (0 if exact else 1)  # the address the frame is symbolized at
        if f["index"] in eu:
            eu_build_id, base, eu_offset = eu[f["index"]]
            assert eu_build_id == f["build_id"], f
            if base + f["module_offset"] == f["pc"]:  # eu-stack's offset is from the load address
                assert eu_offset == lookup, f
                checked_eu += 1
        if f["module"] == name and f["function"]:
            # -i: the inline chain, innermost first; the last function is the one in the symbol table.
            got = subprocess.run([addr2line, "-f", "-i", "-e", f["module_path"], hex(lookup)],
                                 capture_output=True, text=True).stdout.splitlines()[-2]
            assert got == f["function"], (f, got)
            checked_a2l += 1
    assert checked_a2l >= 2 and checked_eu >= (3 if name != "entry_marker" else 0)


def test_threads_carry_signal_and_name_as_gdb_and_eu_readelf_see_them(corpus, need_tool):
    """signal: gdb's $_siginfo.si_signo of the crashed thread (null elsewhere); name: the NT_PRPSINFO
    fname eu-readelf prints, on the thread whose id is the process id (cores record no other names)."""
    gdb, eu_readelf = need_tool("gdb"), need_tool("eu-readelf")
    builder, out = corpus
    for name in ("c_threads", "c_segv_handler_altstack"):
        p = builder.artifacts(name, out)
        g = subprocess.run([gdb, "-batch", "-nx", "-ex", "p $_siginfo.si_signo", str(p["binary"]), str(p["core"])],
                           capture_output=True, text=True, timeout=120).stdout
        signo = int(re.search(r"^\$1 = (\d+)$", g, re.M).group(1))
        notes = subprocess.run([eu_readelf, "--notes", str(p["core"])], capture_output=True, text=True).stdout
        fname = re.search(r"fname: ([^,\n]*)", notes).group(1)
        pid = int(re.search(r"uid: \d+, gid: \d+, pid: (\d+)", notes).group(1))
        threads = json.loads(run("unwind", str(p["core"]), "--json").stdout)["threads"]
        assert threads[0]["signal"] == signo and all(t["signal"] is None for t in threads[1:])
        assert {t["tid"]: t["name"] for t in threads} == {t["tid"]: (fname if t["tid"] == pid else None)
                                                          for t in threads}
        for method in ("dwarf", "compare"):
            text = run("unwind", str(p["core"]), "--method", method).stdout
            assert f'Thread {threads[0]["tid"]}' + (f' "{fname}"' if threads[0]["tid"] == pid else "") + \
                f" (crashed, signal {signo} " in text, (method, text[:200])


NAMED_THREADS = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *worker(void *arg) { pthread_setname_np(pthread_self(), "cli-worker"); pause(); return arg; }
int main(void) {
    pthread_t t; pthread_create(&t, 0, worker, 0);
    usleep(100000); printf("%d\n", getpid()); fflush(stdout); pause(); return 0;
}
"""


def test_live_thread_names_match_gdb(tmp_path, need_tool):
    gcc, gdb = need_tool("gcc"), need_tool("gdb")
    (tmp_path / "named.c").write_text(NAMED_THREADS)
    exe = tmp_path / "named-prog"
    subprocess.run([gcc, "-O1", "-g", "-pthread", "-o", str(exe), str(tmp_path / "named.c")], check=True)
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        threads = json.loads(run("unwind", "--pid", str(pid), "--json").stdout)["threads"]
        g = subprocess.run([gdb, "-batch", "-nx", "-p", str(pid), "-ex", "info threads"], capture_output=True,
                           text=True, timeout=120).stdout
        want = {int(m[1]): m[2] for m in re.finditer(r'\(LWP (\d+)\) "([^"]*)"', g)}
        assert len(want) == 2 and "cli-worker" in want.values(), g
        assert {t["tid"]: t["name"] for t in threads} == want
        assert all(t["signal"] is None for t in threads)
    finally:
        proc.kill()
        proc.wait()


def test_compare_rows_follow_both_walks_and_honour_registers_and_source(corpus):
    """Rows hold each walk in its own order, frames the two share on one row, and a frame-pointer frame
    that goes astray beside the DWARF frame of the same step (not after the end of the DWARF walk)."""
    builder, out = corpus
    p = builder.artifacts("c_segv_handler_altstack", out)
    doc = json.loads(run("unwind", str(p["core"]), "--method", "compare", "--json").stdout)
    dwarf, fp = doc["threads"][0]["frames"], doc["fp_threads"][0]["frames"]
    text = run("unwind", str(p["core"]), "--method", "compare").stdout
    rows = [(line[6:59].strip(), line[59:].strip()) for line in text.splitlines()
            if re.match(r"^  \d+ ", line)][:max(len(dwarf), len(fp))]
    assert [int(a.split()[0], 16) for a, _ in rows if a] == [f["pc"] for f in dwarf]
    assert [int(b.split()[0], 16) for _, b in rows if b] == [f["pc"] for f in fp]
    stray = next(i for i, f in enumerate(fp) if i >= len(dwarf) or f["pc"] != dwarf[i]["pc"])
    assert rows[stray][1] and int(rows[stray][1].split()[0], 16) == fp[stray]["pc"]
    assert stray < len(dwarf) - 1  # the DWARF walk goes on past it, on the same rows

    # --registers and --source: each side's lines equal what the single-method runs print.
    p = builder.artifacts("c_basic_O0", out)  # (--source on the altstack core takes ~25 s: libc's line tables)
    both = run("unwind", str(p["core"]), "--method", "compare", "--registers", "--source").stdout
    single = run("unwind", str(p["core"]), "--registers", "--source").stdout
    assert re.findall(r"^      DWARF #0 at (\S+)$", both, re.M) == re.findall(r"^#0 .* at (\S+)$", single, re.M)
    regs_single = re.findall(r"^      ( *\w+ (?:0x[0-9a-f]{16}|\s+<unknown>).*)$", single, re.M)
    block = both.split("      DWARF #0")[1].split("      frame pointers #0")[0]
    assert re.findall(r"^        ( *\w+ (?:0x[0-9a-f]{16}|\s+<unknown>).*)$", block, re.M) == regs_single[:5]


def test_frames_without_a_symbol_show_module_plus_file_offset(moved_core, tmp_path, need_tool):
    """A stripped executable: its frames read crasher+0xOFF, and addr2line on the unstripped file at that
    offset (less one for a return address) names the function gdb would."""
    strip, addr2line = need_tool("strip"), need_tool("addr2line")
    core, moved, _ = moved_core
    stripped = tmp_path / "stripped" / "crasher"
    stripped.parent.mkdir()
    subprocess.run([strip, "-o", str(stripped), str(moved)], check=True)
    r = run("unwind", str(core), "--exe", str(stripped))
    assert r.returncode == 0, r.stderr
    offsets = [(int(m[1]), int(m[2], 16)) for m in re.finditer(r"^#(\d+)\s+0x[0-9a-f]+ in crasher\+(0x[0-9a-f]+)",
                                                               r.stdout, re.M)]
    assert len(offsets) >= 3, r.stdout
    names = [subprocess.run([addr2line, "-f", "-i", "-e", str(moved), hex(off - (i > 0))], capture_output=True,
                            text=True).stdout.split()[-2] for i, off in offsets]
    assert names[:3] == ["inner", "outer", "main"], (names, r.stdout)


def test_latin1_module_paths_are_printed_escaped(tmp_path, need_tool):
    """A program run from a directory whose name is not UTF-8: the core's NT_FILE path holds the raw byte;
    every stdout encoding prints it as \\xe9, and JSON escapes it."""
    gcc = need_tool("gcc")
    (tmp_path / "crasher.c").write_text(CRASHER)
    bindir = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(bindir)
    exe = bindir + b"/crasher"
    subprocess.run([gcc, "-O2", "-o", exe, str(tmp_path / "crasher.c")], check=True)
    core = kernel_core(tmp_path, [exe])
    os.rename(exe, bindir + b"/cr\xe9sher")  # now a missing module, said on stderr with its path
    for encoding in ("utf-8", "ascii"):
        r = subprocess.run([*PY, "unwind", str(core)], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONIOENCODING=encoding))
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "caf\\xe9/crasher: module not found" in r.stderr
    doc = json.loads(run("unwind", str(core), "--json").stdout)
    paths = {f["module_path"] for f in doc["threads"][0]["frames"]}
    assert os.fsdecode(exe) in paths


def test_a_huge_echoed_value_makes_a_short_error_line(corpus, tmp_path):
    """A snapshot whose register value is 4 MB of hex digits: the error is one line of bounded length."""
    import struct
    import zlib

    builder, out = corpus
    p = builder.artifacts("c_basic_O0", out)
    snap = tmp_path / "s.snap"
    assert run("unwind", str(p["core"]), "--save", str(snap)).returncode == 0
    data = snap.read_bytes()
    magic, version, hlen, _ = struct.unpack_from("<8sIII", data)
    header = json.loads(data[20:20 + hlen])
    header["threads"][0]["registers"]["7"] = "0x" + "f" * (4 << 20)
    raw = json.dumps(header).encode()
    snap.write_bytes(struct.pack("<8sIII", magic, version, len(raw), zlib.crc32(raw)) + raw + data[20 + hlen:])
    r = run("unwind", str(snap))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr) < 4000 and "characters omitted" in r.stderr, len(r.stderr)


def test_unlimited_walk_past_the_default_limit_and_its_snapshot(tmp_path, need_tool):
    """A 5,000-deep recursion: -n 0 walks all of it (eu-stack -n 0 counts the same frames) and --save
    with -n 0 writes a snapshot that replays the whole walk."""
    gcc, eu_stack = need_tool("gcc"), need_tool("eu-stack")
    exe = tmp_path / "deep"
    subprocess.run([gcc, "-O2", "-g", "-DDEPTH=5000", "-o", str(exe), str(ROOT / "corpora" / "c_recursion.c")],
                   check=True)
    core = kernel_core(tmp_path, [str(exe)])
    eu = subprocess.run([eu_stack, "--core", str(core), "-e", str(exe), "-n", "0"], capture_output=True, text=True)
    want = len(re.findall(r"^#\d+ ", eu.stdout, re.M))
    assert want > 5000
    snap = tmp_path / "deep.snap"
    first = run("unwind", str(core), "--json", "-n", "0", "--save", str(snap))
    assert first.returncode == 0, first.stderr
    assert len(json.loads(first.stdout)["threads"][0]["frames"]) == want
    again = run("unwind", str(snap), "--json", "-n", "0")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
