"""Targets against oracles we did not write: gdb on the same core, values a
program printed about itself before crashing, and the kernel's view of a live
process (/proc) after we detach.

One C program, compiled here with gcc, serves both as the crashing program
(it aborts; the kernel writes ``core`` in its cwd) and, with argument ``live``,
as a running process that answers SIGUSR1 on stdout.
"""
from __future__ import annotations

import os
import random
import re
import resource
import shutil
import signal
import subprocess
import time

import pytest

from dwarfunwind.arch.x86_64 import RA, REGNO, RSP
from dwarfunwind.elf.reader import PT_NOTE, ELFReader
from dwarfunwind.errors import DwarfUnwindError, ELFError, MemoryReadError, TargetError
from dwarfunwind.targets.core import AT_SYSINFO_EHDR, CoreTarget
from dwarfunwind.targets.live import LiveTarget
from dwarfunwind.targets.recording import RecordingTarget, merge_ranges
from dwarfunwind.targets.snapshot import SnapshotTarget, save_snapshot

PROGRAM = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

unsigned long long gvals[2] = {0x1122334455667788ULL, 0x99aabbccddeeff00ULL};
static pthread_barrier_t bar;
static volatile sig_atomic_t ticks;
static void on_usr1(int s) { (void)s; ticks++; }

static void *worker(void *arg) {
    volatile unsigned long long mark = 0x5157000000000000ULL + (unsigned long)arg;
    printf("worker %ld %p\n", (long)syscall(SYS_gettid), (void *)&mark);
    fflush(stdout);
    pthread_barrier_wait(&bar);
    for (;;) pause();
    return 0;
}

int main(int argc, char **argv) {
    volatile unsigned long long local[2] = {0xdeadbeefcafebabeULL, 0x0123456789abcdefULL};
    int live = argc > 1 && strcmp(argv[1], "live") == 0;
    signal(SIGUSR1, on_usr1);
    pthread_barrier_init(&bar, 0, 3);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);  /* keep the core small */
    for (long i = 0; i < 2; i++) { pthread_t t; pthread_create(&t, &at, worker, (void *)i); }
    pthread_barrier_wait(&bar);
    printf("main %ld %p %p\n", (long)syscall(SYS_gettid), (void *)local, (void *)gvals);
    fflush(stdout);
    if (!live) abort();
    int seen = 0;
    for (;;) {
        usleep(1000);
        if (ticks != seen) { seen = ticks; printf("tick %d\n", seen); fflush(stdout); }
    }
}
"""

LOCAL_VALUES = (0xDEADBEEFCAFEBABE, 0x0123456789ABCDEF)
GLOBAL_VALUES = (0x1122334455667788, 0x99AABBCCDDEEFF00)


def _parse_stdout(text: str) -> dict:
    info: dict = {"workers": {}}
    for line in text.splitlines():
        f = line.split()
        if f[:1] == ["main"]:
            info["tid"], info["local"], info["global"] = int(f[1]), int(f[2], 16), int(f[3], 16)
        elif f[:1] == ["worker"]:
            info["workers"][int(f[1])] = int(f[2], 16)
    return info


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found on PATH: cannot build the test program")
    d = tmp_path_factory.mktemp("prog")
    (d / "prog.c").write_text(PROGRAM)
    exe = str(d / "prog")
    subprocess.run(["gcc", "-O0", "-g", "-pthread", "-o", exe, str(d / "prog.c")], check=True,
                   capture_output=True)
    return exe


def _unlimited_core() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@pytest.fixture(scope="module")
def crash(program, tmp_path_factory):
    """(exe, core path, what the program printed)."""
    d = tmp_path_factory.mktemp("crash")
    p = subprocess.run([program], cwd=d, preexec_fn=_unlimited_core, capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == -signal.SIGABRT, p
    cores = [f for f in os.listdir(d) if f.startswith("core")]
    if not cores:
        pytest.skip("no core file written (kernel.core_pattern does not write 'core' in the cwd)")
    info = _parse_stdout(p.stdout)
    assert info["tid"] and len(info["workers"]) == 2, p.stdout
    return program, str(d / cores[0]), info


def _gdb(exe: str, core: str, *commands: str) -> str:
    if shutil.which("gdb") is None:
        pytest.skip("gdb not found on PATH")
    args = ["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off", "-ex", "set pagination off"]
    for c in commands:
        args += ["-ex", c]
    p = subprocess.run(args + [exe, core], capture_output=True, text=True, timeout=60)
    return p.stdout


_REG_LINE = re.compile(r"^(\w+)\s+(0x[0-9a-f]+)\s")


# -- core ------------------------------------------------------------------------------------


def test_core_threads_and_registers_match_gdb(crash):
    exe, core, info = crash
    names = " ".join(REGNO)
    out = _gdb(exe, core, f"thread apply all info registers {names}")
    gdb_threads: dict[int, dict[int, int]] = {}
    current = None
    for line in out.splitlines():
        m = re.search(r"\(LWP (\d+)\)\):?$", line)
        if m:
            current = gdb_threads.setdefault(int(m.group(1)), {})
            continue
        m = _REG_LINE.match(line)
        if m and current is not None and m.group(1) in REGNO:
            current[REGNO[m.group(1)]] = int(m.group(2), 16)
    assert len(gdb_threads) == 3, out
    with CoreTarget(core) as target:
        threads = target.threads()
        assert {t.tid for t in threads} == {info["tid"], *info["workers"]} == set(gdb_threads)
        first = threads[0]
        assert first.tid == info["tid"] and first.crashed and first.signal == signal.SIGABRT
        assert not any(t.crashed for t in threads[1:])
        assert first.name == "prog"
        for t in threads:
            assert t.registers == gdb_threads[t.tid], t.tid


def test_core_memory_matches_program_and_gdb(crash):
    exe, core, info = crash
    with CoreTarget(core) as target:
        crashed = target.threads()[0]
        rip = crashed.registers[RA]
        vdso = target.vdso_range()
        assert vdso is not None and vdso[0] == target.auxv()[AT_SYSINFO_EHDR]
        addrs = [info["local"], info["global"], rip, vdso[0] + 0x100, *info["workers"].values()]
        # rip lies in libc text, which the kernel leaves out of the core: served from the file.
        text_seg = [m for m in target.mappings() if m.start <= rip < m.end][0]
        assert text_seg.path and text_seg.executable
        out = _gdb(exe, core, *(f"x/2gx {a:#x}" for a in addrs))
        gdb_words = [int(w, 16) for line in out.splitlines() if line.startswith("0x")
                     for w in line.split(":", 1)[1].split()]
        assert len(gdb_words) == 2 * len(addrs), out
        for i, a in enumerate(addrs):
            raw = target.read_memory(a, 16)
            assert (int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")) == \
                tuple(gdb_words[2 * i:2 * i + 2]), hex(a)
        assert target.read_memory(info["local"], 16) == b"".join(v.to_bytes(8, "little") for v in LOCAL_VALUES)
        assert target.read_memory(info["global"], 16) == b"".join(v.to_bytes(8, "little") for v in GLOBAL_VALUES)
        for _i, (_tid, addr) in enumerate(sorted(info["workers"].items(), key=lambda kv: kv[1])):
            value = int.from_bytes(target.read_memory(addr, 8), "little")
            assert value >> 8 == 0x51570000000000
        # A read spanning the dumped ELF header page and the omitted text page after it.
        exe_maps = [m for m in target.mappings() if m.path == exe]
        span = target.read_memory(exe_maps[1].start - 8, 24)
        with open(exe, "rb") as f:
            f.seek(exe_maps[1].offset - 8)
            assert span == f.read(24)
        with pytest.raises(MemoryReadError):
            target.read_memory(0, 8)
        assert target.missing_files() == []


def test_core_mappings_match_gdb(crash):
    exe, core, _ = crash
    out = _gdb(exe, core, "info proc mappings")
    rows = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0].startswith("0x") and f[4].startswith("/"):
            rows.add((int(f[0], 16), int(f[1], 16), int(f[3], 16), f[4]))
    assert rows, out
    with CoreTarget(core) as target:
        maps = target.mappings()
        assert [m.start for m in maps] == sorted(m.start for m in maps)
        ours = {(m.start, m.end, m.offset, m.path) for m in maps if m.path and m.path.startswith("/")}
        assert ours == rows
        assert sum(m.path == "[vdso]" for m in maps) == 1


def test_core_missing_files_sysroot_and_exe(crash, tmp_path):
    exe, core, _ = crash
    with CoreTarget(core) as target:
        text = [m for m in target.mappings() if m.path == exe and m.executable][0]
        expected = target.read_memory(text.start, 64)
    moved = str(tmp_path / "prog.moved")
    os.rename(exe, moved)
    try:
        with CoreTarget(core) as target:
            assert target.missing_files() == [exe]
            with pytest.raises(MemoryReadError):
                target.read_memory(text.start, 64)
        with CoreTarget(core, exe=moved) as target:
            assert target.missing_files() == [] and target.read_memory(text.start, 64) == expected
        sysroot = tmp_path / "sysroot"
        (sysroot / exe.lstrip("/")).parent.mkdir(parents=True)
        shutil.copy(moved, sysroot / exe.lstrip("/"))
        with CoreTarget(core, sysroot=str(sysroot)) as target:
            assert target.resolve_file(exe) == str(sysroot / exe.lstrip("/"))
            assert target.read_memory(text.start, 64) == expected
    finally:
        os.rename(moved, exe)


def _exercise(target: CoreTarget) -> None:
    """Everything a consumer does with a core; only our errors may escape."""
    for t in target.threads():
        rsp = t.registers.get(RSP, 0)
        for addr in (rsp, t.registers.get(RA, 0)):
            try:
                target.read_memory(addr, 64)
            except MemoryReadError:
                pass
    target.mappings()
    target.auxv()
    target.vdso_range()
    target.missing_files()


def test_truncated_core_raises_or_serves_the_rest(crash, tmp_path):
    _, core, info = crash
    data = open(core, "rb").read()
    with CoreTarget(core) as full:
        stack = full.threads()[0].registers[RSP]
        whole = full.read_memory(stack, 64)
    elf = ELFReader(data, core)
    note = [s for s in elf.segments if s.type == PT_NOTE][0]
    cuts = [0, 1, 10, 63, 64, 64 + 56 * 3, note.offset + 5, note.offset + note.filesz // 2,
            note.offset + note.filesz, len(data) // 3, len(data) // 2, len(data) - 4097, len(data) - 1]
    served = 0
    for cut in cuts:
        path = tmp_path / f"core.{cut}"
        path.write_bytes(data[:cut])
        try:
            target = CoreTarget(str(path))
        except (TargetError, ELFError) as e:
            assert str(path) in str(e)
            continue
        with target:
            served += 1
            assert target.truncated
            _exercise(target)
            try:
                assert target.read_memory(stack, 64) == whole
            except MemoryReadError:
                pass
    assert served >= 3  # cuts inside PT_LOAD data keep the notes


def test_corrupt_note_segment_raises_only_our_errors(crash, tmp_path):
    _, core, _ = crash
    data = open(core, "rb").read()
    elf = ELFReader(data, core)
    note = [s for s in elf.segments if s.type == PT_NOTE][0]
    rng = random.Random(1234)
    path = tmp_path / "core.bad"
    outcomes = {"ok": 0, "error": 0}
    for _trial in range(120):
        buf = bytearray(data[:note.offset + note.filesz + 4096])  # notes plus a little; fast to write
        for _ in range(rng.choice((1, 2, 8))):
            buf[note.offset + rng.randrange(note.filesz)] = rng.randrange(256)
        path.write_bytes(bytes(buf))
        try:
            with CoreTarget(str(path)) as target:
                _exercise(target)
            outcomes["ok"] += 1
        except DwarfUnwindError as e:
            assert isinstance(e, (TargetError, ELFError, MemoryReadError))
            outcomes["error"] += 1
    assert outcomes["ok"] and outcomes["error"]


def test_not_a_core(program, tmp_path):
    with pytest.raises(TargetError, match="not a core"):
        CoreTarget(program)
    with pytest.raises(TargetError, match="cannot open"):
        CoreTarget(str(tmp_path / "nothing"))
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(TargetError, match="empty"):
        CoreTarget(str(tmp_path / "empty"))


# -- snapshot --------------------------------------------------------------------------------


def test_snapshot_round_trip_from_core(crash, tmp_path):
    exe, core, info = crash
    path = tmp_path / "s.snap"
    with RecordingTarget(CoreTarget(core)) as rec:
        rec.read_memory(info["global"], 16)
        rec.read_memory(info["global"] + 8, 16)
        text = [m for m in rec.mappings() if m.path == exe and m.executable][0]
        rec.read_memory(text.start + 3, 5)
        assert rec.ranges() == [(text.start + 3, text.start + 8), (info["global"], info["global"] + 24)]
        saved = save_snapshot(rec, path, rec.ranges())
        with SnapshotTarget(path) as snap:
            assert snap.threads() == rec.threads()
            assert snap.mappings() == rec.mappings()
            assert snap.ranges() == saved
            for start, end in saved:
                assert snap.read_memory(start, end - start) == rec.read_memory(start, end - start)
            for t in rec.threads():  # every thread's stack from the red zone up is there
                rsp = t.registers[RSP]
                assert snap.read_memory(rsp - 128, 256) == rec.read_memory(rsp - 128, 256)
            vdso = rec.vdso_range()
            assert snap.read_memory(vdso[0], vdso[1] - vdso[0]) == rec.read_memory(vdso[0], vdso[1] - vdso[0])
            with pytest.raises(MemoryReadError):
                snap.read_memory(text.start + 8, 1)
            exe_map = [m for m in snap.mappings() if m.path == exe][0]
            reader = ELFReader.open(exe)
            assert exe_map.build_id == reader.build_id() is not None


def _snapshot_bytes(crash, tmp_path) -> bytes:
    _, core, _ = crash
    with CoreTarget(core) as target:
        save_snapshot(target, tmp_path / "s.snap", extra_stack_bytes=4096)
    return (tmp_path / "s.snap").read_bytes()


def test_truncated_or_corrupt_snapshot_raises_target_error(crash, tmp_path):
    data = _snapshot_bytes(crash, tmp_path)
    path = tmp_path / "bad.snap"
    hlen = int.from_bytes(data[12:16], "little")
    cuts = [0, 7, 8, 19, 20, 21, 20 + hlen // 2, 20 + hlen - 1, 20 + hlen, 20 + hlen + 1, len(data) - 1]
    variants = [data[:c] for c in cuts]
    rng = random.Random(7)
    for _ in range(60):
        buf = bytearray(data)
        pos = rng.randrange(min(len(buf), 20 + hlen + 64))
        buf[pos] ^= 1 << rng.randrange(8)
        variants.append(bytes(buf))
    variants.append(data[:12] + (1 << 31).to_bytes(4, "little") + data[16:])  # huge header length
    variants.append(data[:8] + (99).to_bytes(4, "little") + data[12:])  # unknown version
    for v in variants:
        path.write_bytes(v)
        with pytest.raises(TargetError) as e:
            SnapshotTarget(path)
        assert str(path) in str(e.value)


def test_snapshot_header_with_valid_checksum_but_bad_content(tmp_path):
    import json
    import struct
    import zlib

    def write(header: object, data: bytes = b"") -> str:
        raw = json.dumps(header).encode()
        p = tmp_path / "h.snap"
        p.write_bytes(struct.pack("<8sIII", b"DWUNSNAP", 1, len(raw), zlib.crc32(raw)) + raw + data)
        return str(p)

    good = {"threads": [{"tid": 1, "registers": {"7": "0x10"}}], "mappings": [],
            "ranges": [{"address": "0x1000", "size": 4, "offset": 0}], "data_size": 4,
            "data_crc32": zlib.crc32(b"abcd")}
    with SnapshotTarget(write(good, b"abcd")) as s:
        assert s.read_memory(0x1001, 3) == b"bcd"
        assert s.threads()[0].registers == {7: 0x10}
    bad = [
        [], {"threads": 1}, dict(good, ranges=[{"address": "0x1000", "size": 5, "offset": 0}]),
        dict(good, ranges=[{"address": 4096, "size": 4, "offset": 0}]),
        dict(good, ranges=[{"address": "0x1000", "size": 4, "offset": 0}] * 2),
        dict(good, threads=[{"tid": -1, "registers": {}}]),
        dict(good, threads=[{"tid": 1, "registers": {"rsp": "0x1"}}]),
        dict(good, mappings=[{"start": "0x2", "end": "0x1", "offset": 0}]),
        dict(good, data_size=3), dict(good, data_crc32=1),
    ]
    for header in bad:
        with pytest.raises(TargetError):
            SnapshotTarget(write(header, b"abcd"))


def test_merge_ranges():
    assert merge_ranges([(5, 10), (0, 3), (3, 4), (8, 12), (20, 20)]) == [(0, 4), (5, 12)]


# -- live ------------------------------------------------------------------------------------


@pytest.fixture
def live(program):
    p = subprocess.Popen([program, "live"], stdout=subprocess.PIPE, text=True, bufsize=1)
    lines = [p.stdout.readline() for _ in range(3)]
    info = _parse_stdout("".join(lines))
    assert "tid" in info, lines
    yield p, info
    p.kill()
    p.wait()


def _state(pid: int) -> tuple[str, int]:
    status = open(f"/proc/{pid}/status").read()
    state = re.search(r"^State:\s+(\S)", status, re.MULTILINE).group(1)
    tracer = int(re.search(r"^TracerPid:\s+(\d+)", status, re.MULTILINE).group(1))
    return state, tracer


def _assert_running_and_responsive(p: subprocess.Popen, expect_tick: int) -> None:
    state, tracer = _state(p.pid)
    assert tracer == 0 and state in "RS", (state, tracer)
    for task in os.listdir(f"/proc/{p.pid}/task"):
        assert _state(int(task))[1] == 0
    os.kill(p.pid, signal.SIGUSR1)
    assert p.stdout.readline().strip() == f"tick {expect_tick}"


def test_live_target_reads_and_detaches(live):
    p, info = live
    with LiveTarget(p.pid) as target:
        assert target.name == f"pid {p.pid}"
        threads = target.threads()
        assert threads[0].tid == p.pid == info["tid"]
        assert {t.tid for t in threads} == {p.pid, *info["workers"]}
        assert not any(t.crashed for t in threads)
        assert _state(p.pid)[1] == os.getpid()  # really attached while open
        assert target.read_memory(info["local"], 16) == b"".join(v.to_bytes(8, "little") for v in LOCAL_VALUES)
        assert target.read_memory(info["global"], 16) == b"".join(v.to_bytes(8, "little") for v in GLOBAL_VALUES)
        maps = target.mappings()
        for t in threads:
            rsp, rip = t.registers[RSP], t.registers[RA]
            assert any(m.start <= rsp < m.end and m.writable for m in maps)
            assert any(m.start <= rip < m.end and m.executable for m in maps)
        assert any(m.path == "[vdso]" for m in maps)
        with pytest.raises(MemoryReadError):
            target.read_memory(0, 8)
        with pytest.raises(MemoryReadError):
            target.read_memory(0xFFFFFFFFFF600000, 8)
        snap_path = os.path.join(os.path.dirname(p.args[0]), "live.snap")
        save_snapshot(target, snap_path)
    target.close()  # idempotent
    _assert_running_and_responsive(p, 1)
    with SnapshotTarget(snap_path) as snap:
        assert snap.threads() == threads
        assert snap.read_memory(info["local"], 16) == b"".join(v.to_bytes(8, "little") for v in LOCAL_VALUES)


@pytest.mark.parametrize("raise_on_call", [1, 2, 3])
def test_live_interrupt_during_attach_leaves_process_running(live, monkeypatch, raise_on_call):
    p, _ = live
    calls = []

    def hook(tid: int) -> None:
        calls.append(tid)
        if len(calls) == raise_on_call:
            raise KeyboardInterrupt

    monkeypatch.setattr(LiveTarget, "_attach_hook", staticmethod(hook))
    with pytest.raises(KeyboardInterrupt):
        LiveTarget(p.pid)
    _assert_running_and_responsive(p, 1)


def test_live_vanished_and_bad_pids(program):
    p = subprocess.Popen([program, "live"], stdout=subprocess.DEVNULL)
    p.kill()
    p.wait()
    with pytest.raises(TargetError, match="no such process"):
        LiveTarget(p.pid)
    z = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while _state(z.pid)[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(TargetError, match="zombie"):
        LiveTarget(z.pid)
    z.wait()
    with pytest.raises(TargetError):
        LiveTarget(os.getpid())
    with pytest.raises(TargetError):
        LiveTarget(0)


def test_gcore_core_of_live_process(live, tmp_path):
    """gdb's gcore writes no PT_LOAD for read-only file mappings: read from the files."""
    if shutil.which("gcore") is None:
        pytest.skip("gcore not found on PATH")
    p, info = live
    subprocess.run(["gcore", "-o", str(tmp_path / "gc"), str(p.pid)], capture_output=True, timeout=60)
    cores = [f for f in os.listdir(tmp_path) if f.startswith("gc")]
    if not cores:
        pytest.skip("gcore wrote no core")
    with CoreTarget(str(tmp_path / cores[0])) as target:
        threads = target.threads()
        assert {t.tid for t in threads} == {p.pid, *info["workers"]}
        assert not any(t.crashed for t in threads)  # gcore: pr_cursig 0, nothing crashed
        assert target.read_memory(info["local"], 16) == b"".join(v.to_bytes(8, "little") for v in LOCAL_VALUES)
        for t in threads:
            rip = t.registers[RA]
            path = [m for m in target.mappings() if m.start <= rip < m.end][0].path
            assert path and path.startswith("/")
            target.read_memory(rip, 16)
    _assert_running_and_responsive(p, 1)
