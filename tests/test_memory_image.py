"""Modules read from the process's memory when their file cannot be opened (dwarfunwind/elf/memimage.py).

A library unlinked or replaced under a running process (``PATH (deleted)`` in /proc/PID/maps), with
/proc/PID/map_files closed to us (only CAP_SYS_ADMIN opens it: every non-root user), is rebuilt
from the process's memory through its program headers, as eu-stack (libdwfl's
dwfl_segment_report_module / elf_from_remote_memory) rebuilds it.

Oracles: ``eu-stack -p PID`` (it reads a ``(deleted)`` module from memory too) for every frame's
pc and the names of the library's frames; readelf on the library file kept aside, for the image's
.eh_frame (``--debug-dump=frames``), its dynamic symbols and its build-id. eu-stack names the
library's static (non-exported) function nothing (it is not in .dynsym): so do we.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile

import pytest
from conftest import ROOT, SYS_PAUSE, missing, wait_in_syscall, which

from dwarfunwind import Program
from dwarfunwind.elf.memimage import MAX_DYNSTR, read_image
from dwarfunwind.elf.reader import ELFReader
from dwarfunwind.errors import MemoryReadError
from dwarfunwind.modules import ModuleMap
from dwarfunwind.targets.base import Mapping, ThreadInfo
from dwarfunwind.targets.live import LiveTarget

LIBRARY = r"""
#include <unistd.h>
__attribute__((noinline, noclone)) void NAME(inner)(int n) { for (;;) pause(); __asm__ volatile("" :: "r"(n)); }
__attribute__((noinline, noclone)) static void NAME(hidden)(int n) { NAME(inner)(n + 1); __asm__ volatile(""); }
__attribute__((noinline, noclone)) void NAME(outer)(int n) { NAME(hidden)(n * 2); __asm__ volatile(""); }
void NAME(entry)(int n) { NAME(outer)(n); __asm__ volatile(""); }
"""
PROGRAM = r"""
#include <stdio.h>
void lib_entry(int);
int main(int argc, char **argv) { (void)argv; puts("ready"); fflush(stdout); lib_entry(argc); return 0; }
"""
#: The library's functions on the stack, innermost first; ``hidden`` is static.
EXPORTED = ("lib_inner", "lib_outer", "lib_entry")
FLAGS = ("-O2", "-fomit-frame-pointer", "-fno-reorder-blocks-and-partition")


def build_library(directory, out: str, prefix: str = "lib_") -> str:
    """libvictim.so with functions PREFIXinner, PREFIXhidden (static), PREFIXouter, PREFIXentry."""
    src = os.path.join(directory, f"{out}.c")
    with open(src, "w") as f:
        f.write(f"#define NAME(f) {prefix}##f\n{LIBRARY}")
    path = os.path.join(directory, out)
    subprocess.run([which("gcc"), *FLAGS, "-shared", "-fPIC", "-o", path, src], check=True)
    return path


def build(directory) -> tuple[str, str]:
    """(program, library): the program calls into the library, which waits in pause()."""
    lib = build_library(directory, "libvictim.so")
    src = os.path.join(directory, "victim.c")
    with open(src, "w") as f:
        f.write(PROGRAM)
    exe = os.path.join(directory, "victim")
    subprocess.run([which("gcc"), *FLAGS, "-o", exe, src, f"-L{directory}", "-lvictim",
                    f"-Wl,-rpath,{directory}"], check=True)
    return exe, lib


def start(argv: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    wait_in_syscall(proc.pid, SYS_PAUSE)
    return proc


def eu_stack(pid: int, user: list[str] = ()) -> list[tuple[int, str | None, str]]:  # type: ignore[assignment]
    """eu-stack's frames of ``pid`` (one thread) as (pc, function or None, module path)."""
    tool = shutil.which("eu-stack")
    if tool is None:
        missing("eu-stack not found (apt-get install -y elfutils)")
    env = {k: v for k, v in os.environ.items() if k != "DEBUGINFOD_URLS"}
    run = subprocess.run([*user, tool, "-p", str(pid), "-m", "-n", "0"], capture_output=True, text=True,
                         timeout=60, env=env)
    frames = []
    for line in run.stdout.splitlines():
        m = re.match(r"#\d+\s+0x([0-9a-f]+)\s*(.*?)\s*(?:- (.*))?$", line)
        if m:
            frames.append((int(m.group(1), 16), m.group(2) or None, m.group(3) or ""))
    assert frames, (run.stdout, run.stderr)
    return frames


def build_id(path: str) -> str:
    out = subprocess.run([which("readelf"), "-n", path], capture_output=True, text=True, check=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out).group(1)  # type: ignore[union-attr]


def same_as_eu_stack(frames: list[tuple[int, str | None, str | None]], theirs, lib: str) -> None:
    """Every pc is eu-stack's; in the library, every name is eu-stack's (the static one: none)."""
    assert [pc for pc, _, _ in frames] == [pc for pc, _, _ in theirs], (frames, theirs)
    ours_lib = [(pc, f) for pc, f, path in frames if path and path.startswith(lib)]
    their_lib = [(pc, f) for pc, f, path in theirs if path.startswith(lib)]
    assert ours_lib == their_lib, (ours_lib, their_lib)
    names = [f for _, f in their_lib]
    assert names == ["lib_inner", None, "lib_outer", "lib_entry"], theirs  # the oracle itself


@pytest.mark.parametrize("how", ["unlinked", "replaced"])
def test_library_gone_read_from_memory(tmp_path, monkeypatch, how):
    exe, lib = build(str(tmp_path))
    keep = str(tmp_path / "libvictim.keep")
    shutil.copy(lib, keep)
    proc = start([exe])
    try:
        if how == "unlinked":
            os.unlink(lib)
        else:  # a package upgrade: another build (other names, other build-id) renamed over the path
            os.rename(build_library(str(tmp_path), "libvictim.new", prefix="new_"), lib)
        theirs = eu_stack(proc.pid)
        # What a user without CAP_SYS_ADMIN gets: /proc/PID/map_files cannot be opened.
        monkeypatch.setattr(LiveTarget, "mapped_file", lambda self, mapping: None)
        with Program.from_pid(proc.pid) as program:
            (trace,) = program.stack_traces()
            frames = [(f.pc, f.function, f.module.path if f.module else None) for f in trace.frames]
            same_as_eu_stack(frames, theirs, lib)
            assert trace.frames[-1].function == "_start" and trace.reliable
            module = program.modules.find(trace.frames[1].pc)
            assert module is not None and module.path == f"{lib} (deleted)"
            assert module.file_path is None  # no file: from memory
            assert module.build_id.hex() == build_id(keep)
            said = program.problems_for([trace])
            reason = "file not found" if how == "unlinked" else f"build-id {build_id(lib)} does not match"
            assert [p for p in said if "memory" in p] == [
                p for p in said if reason in p and p.endswith(
                    "CFI and symbols read from the process's memory (.eh_frame, .dynsym)")], said
            assert len(said) == 1, said
        assert proc.poll() is None, "the process must be left running"
    finally:
        proc.kill()
        proc.wait()


def test_unprivileged_user_reads_the_deleted_library_from_memory():
    """The real case: program and unwinder both run as nobody (no capability: map_files is closed)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run the program and the unwinder as an unprivileged user")
    user = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run([*user, "true"]).returncode != 0:
        pytest.skip("setpriv cannot switch to uid 65534 here")
    directory = tempfile.mkdtemp(prefix="dwarfunwind-memimage-")  # tmp_path is root-only (0700)
    try:
        os.chmod(directory, 0o755)
        exe, lib = build(directory)
        proc = start([*user, exe])
        try:
            os.unlink(lib)
            link = next(f"/proc/{proc.pid}/map_files/{line.split()[0]}" for line in open(f"/proc/{proc.pid}/maps")
                        if line.rstrip().endswith("(deleted)"))
            assert subprocess.run([*user, "cat", link], capture_output=True).returncode != 0, \
                "map_files opens for an unprivileged user here: the test would prove nothing"
            theirs = eu_stack(proc.pid, user)
            run = subprocess.run([*user, os.path.realpath(os.sys.executable), "-m", "dwarfunwind", "unwind",
                                  "--pid", str(proc.pid), "--json"], capture_output=True, text=True, timeout=120,
                                 env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=directory)
            assert run.returncode == 0, run.stderr
            (thread,) = json.loads(run.stdout)["threads"]
            frames = [(f["pc"], f["function"], f["module_path"]) for f in thread["frames"]]
            same_as_eu_stack(frames, theirs, lib)
            assert thread["reliable"] and thread["stop_reason"] == "outermost"
            assert run.stderr.strip() == (f"dwarfunwind: {lib} (deleted): file not found; CFI and symbols read "
                                          "from the process's memory (.eh_frame, .dynsym)"), run.stderr
            assert proc.poll() is None
        finally:
            proc.kill()
            proc.wait()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- the image against readelf, and a corrupt image ----------------------------------------------------------


class LoadedImage:
    """A fake target holding ``path``'s PT_LOADs as the kernel maps them at ``base`` (no ld.so: the
    dynamic section's pointers are the file's own, unrelocated). ``reads`` records every read."""

    name = "fake"

    def __init__(self, path: str, base: int, shown: str) -> None:
        data = open(path, "rb").read()
        self.memory: dict[int, bytearray] = {}
        self.maps = []
        for seg in ELFReader(data, path).segments:
            if seg.type != 1:
                continue
            start, end = base + (seg.vaddr & ~0xFFF), base + ((seg.vaddr + seg.memsz + 0xFFF) & ~0xFFF)
            offset = seg.offset & ~0xFFF
            chunk = bytearray(data[offset : offset + (seg.offset - offset) + seg.filesz])
            chunk += bytes(end - start - len(chunk))
            self.memory[start] = chunk
            self.maps.append(Mapping(start, end, offset, shown, executable=bool(seg.flags & 1)))
        self.reads: list[int] = []

    def threads(self):
        return [ThreadInfo(1, {})]

    def mappings(self):
        return self.maps

    def close(self) -> None:
        pass

    def read_memory(self, address: int, size: int) -> bytes:
        self.reads.append(size)
        for start, chunk in self.memory.items():
            if start <= address and address + size <= start + len(chunk):
                return bytes(chunk[address - start : address - start + size])
        raise MemoryReadError(address, size)

    def poke(self, address: int, value: bytes) -> None:
        for start, chunk in self.memory.items():
            if start <= address < start + len(chunk):
                chunk[address - start : address - start + len(value)] = value
                return
        raise AssertionError(f"{address:#x} is not mapped")


BASE = 0x7F0000000000


def readelf(*args: str) -> str:
    return subprocess.run([which("readelf"), *args], capture_output=True, text=True, check=True).stdout


def test_image_is_the_files_eh_frame_and_dynsym(tmp_path):
    """The rebuilt image's .eh_frame decodes as the file's (readelf), its .dynsym names what
    readelf's --dyn-syms names, at the same addresses; unrelocated dynamic pointers are handled."""
    lib = build_library(str(tmp_path), "libvictim.so")
    target = LoadedImage(lib, BASE, "/gone/libvictim.so")
    modules = ModuleMap.from_target(target)
    (module,) = modules.modules
    assert [p.message for p in modules.problems] == [
        "/gone/libvictim.so: file not found; CFI and symbols read from the process's memory (.eh_frame, .dynsym)"]
    assert module.bias == BASE and module.build_id.hex() == build_id(lib)
    image = read_image(target, "/gone/libvictim.so", target.maps, target.maps[0], BASE).image
    (tmp_path / "image").write_bytes(image)

    def frames(path):  # from the first entry on (the heading names the file)
        text = readelf("--debug-dump=frames", path)
        return text[text.index("\n00000000"):].replace("\nsection '.eh_frame' has the NOBITS type - its contents "
                                                         "are unreliable.", "").rstrip()
    assert frames(str(tmp_path / "image")) == frames(lib)
    exported = 0
    for line in readelf("-W", "--dyn-syms", lib).splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[3] == "FUNC" and fields[6] != "UND":
            value, name = int(fields[1], 16), fields[7].split("@")[0]
            assert module.symbolize(BASE + value) == (name, 0)
            exported += 1
    assert exported >= len(EXPORTED)


def _dynamic(target: LoadedImage, lib: str) -> tuple[int, dict[int, int]]:
    """(address of the dynamic section in the fake memory, tag -> address of that entry's value)."""
    reader = ELFReader(open(lib, "rb").read(), lib)
    (dyn,) = [s for s in reader.segments if s.type == 2]
    raw = reader.read(dyn.offset, dyn.filesz)
    slots = {}
    for i in range(0, len(raw), 16):
        tag = struct.unpack_from("<q", raw, i)[0]
        slots.setdefault(tag, BASE + dyn.vaddr + i + 8)
    return BASE + dyn.vaddr, slots


def _eh_frame_hdr(lib: str) -> int:
    (seg,) = [s for s in ELFReader(open(lib, "rb").read(), lib).segments if s.type == 0x6474E550]
    return BASE + seg.vaddr


CORRUPTIONS = {
    # (what to break, the words the Problem says)
    "huge DT_STRSZ": lambda t, lib: t.poke(_dynamic(t, lib)[1][10], struct.pack("<Q", 1 << 62)),
    "DT_STRSZ past the mappings": lambda t, lib: t.poke(_dynamic(t, lib)[1][10], struct.pack("<Q", MAX_DYNSTR)),
    "DT_SYMTAB unmapped": lambda t, lib: t.poke(_dynamic(t, lib)[1][6], struct.pack("<Q", 1 << 40)),
    "GNU hash buckets": lambda t, lib: t.poke(BASE + int(readelf("-W", "-S", lib).split(".gnu.hash")[1].split()[1], 16),
                                              struct.pack("<I", 0xFFFFFFFF)),
    "eh_frame_hdr version": lambda t, lib: t.poke(_eh_frame_hdr(lib), b"\x07"),
    "eh_frame_ptr unmapped": lambda t, lib: t.poke(_eh_frame_hdr(lib) + 4, struct.pack("<i", -(1 << 31))),
}


@pytest.mark.parametrize("what", list(CORRUPTIONS))
def test_corrupt_image_in_memory_is_said_not_raised(tmp_path, what):
    """A bad PT_GNU_EH_FRAME or dynamic section gives a Problem naming the module and an address; the
    other part is still served; no read is larger than the module's mappings."""
    lib = build_library(str(tmp_path), "libvictim.so")
    target = LoadedImage(lib, BASE, "/gone/libvictim.so")
    CORRUPTIONS[what](target, lib)
    modules = ModuleMap.from_target(target)
    (module,) = modules.modules
    messages = [p.message for p in modules.problems]
    bad = [m for m in messages if "read from the process's memory" not in m]
    assert len(bad) == 1 and bad[0].startswith("/gone/libvictim.so: ") and re.search(r"0x[0-9a-f]{6,}", bad[0]), \
        messages
    kept = ".eh_frame" if "DT_" in what or "hash" in what else ".dynsym"
    assert any(m.endswith(f"read from the process's memory ({kept})") for m in messages), messages
    assert max(target.reads) <= max(m.end - m.start for m in target.maps)
    inner = next(int(line.split()[1], 16) for line in readelf("-W", "--dyn-syms", lib).splitlines()
                 if line.endswith(" lib_inner"))
    if kept == ".eh_frame":
        assert module.row_for(BASE + inner + 1) is not None and module.symbolize(BASE + inner) is None
    else:
        assert module.symbolize(BASE + inner) == ("lib_inner", 0)


@pytest.mark.parametrize("held", ["nothing", "the first page"])
def test_memory_without_the_image_changes_nothing(tmp_path, held):
    """A target that does not serve the module's pages (a perf sample), or only its first page (a
    kernel core keeps the ELF header page of read-only file mappings): the same "not found" line
    as before, and nothing about the pages it lacks."""
    lib = build_library(str(tmp_path), "libvictim.so")
    target = LoadedImage(lib, BASE, "/gone/libvictim.so")
    first = target.memory[BASE][:4096]
    target.memory.clear()
    if held == "the first page":
        target.memory[BASE] = first
    modules = ModuleMap.from_target(target)
    assert [p.message for p in modules.problems] == [
        "/gone/libvictim.so: module not found; frames in it have no CFI or symbols"]
    assert modules.modules[0].elf is None


def test_random_damage_to_the_headers_never_raises(tmp_path):
    """Bytes flipped at random in the ELF and program headers, the dynamic section, the hash table and
    .eh_frame_hdr: every image is served or said, nothing raises, no read is larger than a mapping."""
    import random

    lib = build_library(str(tmp_path), "libvictim.so")
    dynamic, _ = _dynamic(LoadedImage(lib, BASE, "x"), lib)
    spots = [(BASE, 0x200), (dynamic, 0x1C0), (_eh_frame_hdr(lib), 0x40), (BASE + 0x260, 0x30)]
    rng = random.Random(1234)
    for _ in range(300):
        target = LoadedImage(lib, BASE, "/gone/libvictim.so")
        for _ in range(rng.randint(1, 4)):
            start, size = rng.choice(spots)
            target.poke(start + rng.randrange(size), bytes([rng.randrange(256)]))
        modules = ModuleMap.from_target(target)
        for module in modules.modules:
            for pc in range(module.start, module.start + 0x1200, 0x101):
                module.row_for(pc)
                module.symbolize(pc)
        assert all(p.message.startswith("/gone/libvictim.so") for p in modules.problems), modules.problems
        assert max(target.reads) <= max(m.end - m.start for m in target.maps)
