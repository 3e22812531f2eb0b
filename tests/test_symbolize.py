"""Inline frames, file:line and names, held against eu-stack -i, addr2line -i and gdb on cores built here.

Programs: C -O2 with a chain of ``static inline`` functions, C++ -O2 with templates and inlined
methods, Rust (legacy and v0 mangling, panic=abort and default unwinding) where rustc is found.
Each aborts at the bottom of its inline chain; the kernel writes the core.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest
from conftest import ROOT, kernel_core, missing, which

PY = [sys.executable, "-m", "dwarfunwind"]

C_INLINE = r"""
#include <stdlib.h>
static inline __attribute__((always_inline)) void leaf(int n) { if (n > 2) abort(); }
static inline __attribute__((always_inline)) void middle(int n) { leaf(n + 1); }
static inline __attribute__((always_inline)) void top(int n) { middle(n * 2); }
__attribute__((noinline)) void physical(int n) { top(n); __asm__ volatile("" ::: "memory"); }
int main(int argc, char **argv) { (void)argv; physical(argc + 1); return 0; }
"""

CXX_INLINE = r"""
#include <cstdlib>
namespace ns {
template <typename T> struct Box {
  T v;
  __attribute__((always_inline)) inline void poke(int n) { if (n > 3) abort(); v += n; }
};
struct Widget {
  Box<long> b;
  __attribute__((always_inline)) inline void explode(int n) { b.poke(n); }
};
template <typename T> __attribute__((noinline)) void run(T &w, int n) { w.explode(n); asm volatile("" ::: "memory"); }
}
int main(int argc, char **) { ns::Widget w{}; ns::run(w, argc + 4); return (int)w.b.v; }
"""

RUST = r"""
struct Wrapper<T> { v: T }
impl<T: Copy + Into<i64>> Wrapper<T> {
    #[inline(always)]
    fn poke(&self, n: i64) -> i64 { if n > 3 { std::process::abort() } self.v.into() + n }
}
#[inline(never)]
fn run<T: Copy + Into<i64>>(w: &Wrapper<T>, n: i64) -> i64 { let r = w.poke(n); unsafe { std::ptr::read_volatile(&r) } }
fn main() {
    let w = Wrapper { v: 7i32 };
    let n = std::env::args().count() as i64 + 4;
    println!("{}", run(&w, n));
}
"""


def crash(directory, exe):
    """Run ``exe`` in ``directory`` until it aborts; the core's path."""
    return kernel_core(directory, [str(exe)])


#: SymCaches of the tests' throw-away binaries go here, not into the user's ~/.cache.
TEST_CACHE = os.path.join(tempfile.gettempdir(), f"dwarfunwind-test-cache-{os.getuid()}")


def unwind(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": TEST_CACHE, **(env or {})}
    return subprocess.run([*PY, "unwind", *args], capture_output=True, text=True, timeout=120, env=full)


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """{name: (exe, core)} for the C and C++ inline programs."""
    out = {}
    for name, compiler, src, ext in (("c_inline", "gcc", C_INLINE, "c"), ("cxx_inline", "g++", CXX_INLINE, "cc")):
        d = tmp_path_factory.mktemp(name)
        (d / f"{name}.{ext}").write_text(src)
        subprocess.run([which(compiler), "-O2", "-g", "-o", str(d / name), str(d / f"{name}.{ext}")], check=True)
        out[name] = (d / name, crash(d, d / name))
    return out


def eu_stack_chains(exe, core) -> list[list[tuple[int, str]]]:
    """eu-stack -i's frames of the first thread, grouped by pc: one group per physical frame."""
    text = subprocess.run([which("eu-stack"), "-i", "-n", "0", "--core", str(core), "-e", str(exe)],
                          capture_output=True, text=True).stdout
    groups: list[list[tuple[int, str]]] = []
    for line in text.split("TID")[1].splitlines():
        m = re.match(r"#\d+\s+0x([0-9a-f]+)\s+(?:- 1\s+)?(\S.*?)\s*(?:- .*)?$", line)
        if not m:
            continue
        pc, name = int(m.group(1), 16), m.group(2).strip()
        if groups and groups[-1][0][0] == pc:
            groups[-1].append((pc, name))
        else:
            groups.append([(pc, name)])
    return groups


def addr2line_chain(exe, address: int) -> list[tuple[str, int]]:
    out = subprocess.run([which("addr2line"), "-i", "-e", str(exe), hex(address)], capture_output=True,
                         text=True).stdout.split("\n")
    chain = []
    for line in out:
        file, _, num = line.rpartition(":")
        num = num.split()[0] if num.strip() else ""
        if file and num.isdigit():
            chain.append((os.path.normpath(file), int(num)))
    return chain


@pytest.mark.parametrize("name", ["c_inline", "cxx_inline"])
def test_inline_chains_match_eu_stack_and_addr2line(programs, name):
    exe, core = programs[name]
    plain = json.loads(unwind(str(core), "--exe", str(exe), "--json").stdout)["threads"][0]["frames"]
    r = unwind(str(core), "--exe", str(exe), "--json", "--source")
    assert r.returncode == 0, r.stderr
    frames = json.loads(r.stdout)["threads"][0]["frames"]
    # Physical frames unchanged by inline expansion.
    key = ("index", "pc", "cfa", "function", "module", "registers")
    assert [{k: f[k] for k in key} for f in frames] == [{k: f[k] for k in key} for f in plain]
    ours = [f for f in frames if f["module"] == exe.name]
    assert any(f["inlined"] for f in ours), "the program's inline chain was not found"

    # Chains equal eu-stack -i's (names, innermost first; eu-stack prints each level at the same pc).
    groups = {g[0][0]: [n for _, n in g] for g in eu_stack_chains(exe, core)}
    for f in ours:
        want = groups[f["pc"]]
        assert [i["function"] for i in f["inlined"]] == want[:-1], (f["function"], want)

    # file:line equal addr2line -i's at each pc (pc - 1 for a return address).
    bias = _bias(core, exe, ours[0]["pc"])
    checked = 0
    for f in ours:
        lookup = f["pc"] if f["index"] == 0 or f["interrupted"] else f["pc"] - 1
        want = addr2line_chain(exe, lookup - bias)
        if not want:  # no line information here (_start): none invented
            assert f["source"] is None and not f["inlined"], f
            continue
        got = [(os.path.normpath(i["file"]), i["line"]) for i in f["inlined"]]
        got.append((os.path.normpath(f["source"]["file"]), f["source"]["line"]))
        assert got == want, (f["function"], got, want)
        checked += 1
    assert checked >= 2

    # Text marks the inline frames, innermost first, without an address of their own, as gdb does.
    text = unwind(str(core), "--exe", str(exe), "--inline").stdout
    inner = next(f for f in ours if f["inlined"])
    lines = [ln for ln in text.splitlines() if ln.startswith(f"#{inner['index']} ")]
    assert len(lines) == len(inner["inlined"]) + 1
    assert all(ln.endswith("[inlined]") and "0x" not in ln.split(" in ")[0] for ln in lines[:-1])
    assert f"{inner['pc']:#018x} in " in lines[-1]


def _bias(core, exe, pc: int) -> int:
    sys.path.insert(0, str(ROOT))
    from dwarfunwind import Program

    with Program.from_core(str(core), exe=str(exe)) as prog:
        return prog.modules.find(pc).bias


def gdb_names(exe, core) -> list[str]:
    """Function names of gdb's bt, one per frame (inline frames included)."""
    out = subprocess.run([which("gdb"), "-batch", "-nx", "-ex", "bt", str(exe), str(core)],
                         capture_output=True, text=True, timeout=120).stdout
    names = []
    for line in out.splitlines():
        m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(.+?) \(", line)
        if m:
            names.append(m.group(1))
    return names


def without_params(name: str) -> str:
    """``void ns::run<ns::Widget>(ns::Widget&, int)`` -> ``ns::run<ns::Widget>``: gdb's form for DWARF functions."""
    if name.endswith(")"):
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    depth = 0
    cut = 0
    for i, ch in enumerate(name):
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == " " and depth == 0:
            cut = i + 1  # a return type before the name
    return name[cut:]


def test_cxx_names_match_gdb(programs):
    exe, core = programs["cxx_inline"]
    frames = json.loads(unwind(str(core), "--exe", str(exe), "--json", "--inline").stdout)["threads"][0]["frames"]
    ours = []
    for f in frames:
        if f["module"] == exe.name and f["function"] not in ("_start",):
            ours.extend(i["function"] for i in f["inlined"])
            ours.append(f["function"])
    want = [n for n in gdb_names(exe, core) if n in {without_params(o) for o in ours}]
    assert [without_params(n) for n in ours if without_params(n) in want] == want
    assert "ns::Box<long>::poke" in want and "ns::run<ns::Widget>" in want

    raw = json.loads(unwind(str(core), "--exe", str(exe), "--json", "--inline", "--no-demangle").stdout)
    raw_frames = raw["threads"][0]["frames"]
    for f, g in zip(frames, raw_frames):
        assert g["function"] == g["linkage_name"] == f["linkage_name"]
        assert [i["function"] for i in g["inlined"]] == [i["linkage_name"] for i in f["inlined"]]
    assert any(f["linkage_name"].startswith("_Z") for f in raw_frames if f["linkage_name"])


def _rustc() -> str:
    return os.environ.get("DWARFUNWIND_RUSTC") or which("rustc")


@pytest.mark.parametrize("mangling,panic", [("legacy", "abort"), ("v0", "unwind")])
def test_rust_names_match_gdb(tmp_path, mangling, panic):
    rustc = _rustc()
    (tmp_path / "r.rs").write_text(RUST)
    exe = tmp_path / "r"
    cmd = [rustc, "-g", "-O", "-C", f"panic={panic}", "-o", str(exe), str(tmp_path / "r.rs")]
    if mangling == "v0":
        r = subprocess.run([*cmd, "-C", "symbol-mangling-version=v0"], capture_output=True, text=True)
        if r.returncode != 0:  # older rustc (Debian's): the option is still unstable there
            r = subprocess.run([*cmd, "-Z", "unstable-options", "-C", "symbol-mangling-version=v0"],
                               capture_output=True, text=True, env={**os.environ, "RUSTC_BOOTSTRAP": "1"})
        if r.returncode != 0:
            missing(f"this rustc cannot mangle v0: {r.stderr.strip()[:200]}")
    else:
        subprocess.run(cmd, check=True, capture_output=True)
    core = crash(tmp_path, exe)
    r = unwind(str(core), "--exe", str(exe), "--json", "--inline")
    frames = json.loads(r.stdout)["threads"][0]["frames"]
    raw = {f["linkage_name"] for f in frames if f["module"] == "r"}
    assert any(n.startswith("_R" if mangling == "v0" else "_ZN") for n in raw), raw
    ours = [f["function"] for f in frames if f["module"] == "r"]
    gdb = gdb_names(exe, core)
    # gdb names Rust frames from DWARF; where no generic parameters are involved that is the
    # demangled symbol exactly (demanglers cannot know the DWARF's spelling of generics).
    plain = [n for n in gdb if "<" not in n and "::" in n]
    assert "std::process::abort" in plain and "r::main" in plain
    for n in plain:
        assert n in ours, (n, ours)
    assert not any("$LT$" in n or re.search(r"::h[0-9a-f]{16}$", n) or n.startswith("_R") for n in ours), ours


def b36(k: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    s = ""
    while True:
        s = digits[k % 36] + s
        k //= 36
        if not k:
            return s


def hostile_name(depth: int) -> str:
    """f(a, b<a,a>, b<b<a,a>,b<a,a>>, ...): each level names the one before twice, by substitution.

    The demangled text doubles with each level: depth 28 is a 311-byte name that demangles
    to about 3 GB.
    """
    parts = ["1a", "1bIS_S_E"]
    for k in range(1, depth):
        parts.append(f"S0_IS{b36(k)}_S{b36(k)}_E")
    return "_Z1f" + "".join(parts)


def test_hostile_mangled_name_is_bounded(tmp_path):
    """A crashing function whose symbol is a demangler bomb: the walk ends fast, name raw, memory bounded."""
    gcc = which("gcc")
    which("c++filt")
    name = hostile_name(28)
    src = ('#include <stdlib.h>\n'
           f'__attribute__((noinline)) void bomb(void) __asm__("{name}");\n'
           'void bomb(void) { abort(); }\n'
           '__attribute__((noinline)) void _ZSt9terminatev_like(void) { bomb(); __asm__ volatile(""); }\n'
           'int main(void) { _ZSt9terminatev_like(); return 0; }\n')
    (tmp_path / "b.c").write_text(src)
    exe = tmp_path / "b"
    subprocess.run([gcc, "-O1", "-g", "-o", str(exe), str(tmp_path / "b.c")], check=True)
    core = crash(tmp_path, exe)
    # The peak is written by an exit handler: the CLI ends its process itself (cli.run), after them.
    code = ("import atexit, resource, runpy, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            f"sys.argv = ['dwarfunwind', 'unwind', {str(core)!r}, '--exe', {str(exe)!r}, '--json']\n"
            "def peak():\n"
            # VmHWM, not RUSAGE_SELF: Linux carries the forking parent's (pytest's) peak across exec.
            "    own = next(int(ln.split()[1]) for ln in open('/proc/self/status') if ln.startswith('VmHWM'))\n"
            "    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "    sys.stderr.write(f'PEAK_KIB {max(own, kids)}\\n')\n"
            "atexit.register(peak)\n"
            "runpy.run_module('dwarfunwind', run_name='__main__')\n")
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    elapsed = time.monotonic() - start
    peak = int(re.search(r"PEAK_KIB (\d+)", r.stderr).group(1))
    r.stderr = "\n".join(ln for ln in r.stderr.splitlines() if not ln.startswith("PEAK_KIB"))
    assert "Traceback" not in r.stderr
    assert r.returncode == 0, r.stderr
    frames = json.loads(r.stdout)["threads"][0]["frames"]
    f = next(f for f in frames if f["linkage_name"] == name)
    assert f["function"] == name  # kept raw
    assert [ln for ln in r.stderr.splitlines() if "kept mangled" in ln], r.stderr
    assert elapsed < 15, elapsed
    assert peak < 300 * 1024  # KiB: neither the walk nor its demangler child built the 3 GB name


def _modules_after(core, exe, *flags: str, env: dict) -> set:
    code = ("import sys; from dwarfunwind.cli import main; import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    main(['unwind', {str(core)!r}, '--exe', {str(exe)!r}, *{list(flags)!r}])\n"
            "print(' '.join(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_symbolic_is_loaded_only_for_source_or_inline(programs, tmp_path):
    exe, core = programs["c_inline"]
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    plain = _modules_after(core, exe, env=env)
    assert not any(m == "symbolic" or m.startswith("symbolic.") for m in plain)
    assert "dwarfunwind.symbolize.symcache" not in plain and "dwarfunwind.symbolize.demangle" not in plain
    assert "symbolic" in _modules_after(core, exe, "--inline", env=env)


def test_symcache_disk_cache_survives_corruption_and_can_be_turned_off(programs, tmp_path):
    exe, core = programs["cxx_inline"]
    args = (str(core), "--exe", str(exe), "--json", "--source")
    want = unwind(*args, env={"DWARFUNWIND_NO_CACHE": "1", "XDG_CACHE_HOME": str(tmp_path / "off")})
    assert want.returncode == 0, want.stderr
    assert not (tmp_path / "off").exists()
    cache = tmp_path / "on"
    first = unwind(*args, env={"XDG_CACHE_HOME": str(cache)})
    assert first.stdout == want.stdout
    files = list((cache / "dwarfunwind" / "symcache").glob("*.symc"))
    out = subprocess.run([which("readelf"), "-n", str(exe)], capture_output=True, text=True).stdout
    bid = next(ln.split()[-1] for ln in out.splitlines() if "Build ID" in ln)
    assert f"{bid}.symc" in [f.name for f in files]
    mine = cache / "dwarfunwind" / "symcache" / f"{bid}.symc"
    good = mine.read_bytes()
    for bad in (b"", good[: len(good) // 2], b"SYMC" + b"\xff" * 64, b"\0" * len(good)):
        mine.write_bytes(bad)
        again = unwind(*args, env={"XDG_CACHE_HOME": str(cache)})
        assert (again.returncode, again.stdout, again.stderr) == (0, want.stdout, ""), bad[:8]


def test_corrupt_dwarf_is_said_in_one_line_and_the_walk_is_served(programs, tmp_path):
    exe, core = programs["cxx_inline"]
    sections = subprocess.run([which("readelf"), "-SW", str(exe)], capture_output=True, text=True).stdout
    data = bytearray(exe.read_bytes())
    for line in sections.splitlines():
        fields = line.split("]")[1].split() if "] ." in line else []
        if fields and fields[0] in (".debug_info", ".debug_line"):
            off, size = int(fields[3], 16), int(fields[4], 16)
            for i in range(off, off + size, 7):
                data[i] ^= 0xA5
    bad = tmp_path / exe.name
    bad.write_bytes(bytes(data))
    good = json.loads(unwind(str(core), "--exe", str(exe), "--json").stdout)["threads"][0]["frames"]
    r = unwind(str(core), "--exe", str(bad), "--json", "--source", env={"DWARFUNWIND_NO_CACHE": "1"})
    assert "Traceback" not in r.stderr
    assert r.returncode == 0
    frames = json.loads(r.stdout)["threads"][0]["frames"]
    assert [(f["pc"], f["function"]) for f in frames] == [(f["pc"], f["function"]) for f in good]
    said = [ln for ln in r.stderr.splitlines() if str(bad) in ln]
    assert len(said) == 1 and "cannot read debug info" in said[0], r.stderr


def test_overlong_name_is_not_demangled(monkeypatch):
    """Over the length limit a name is kept as is, said once, and c++filt is not even started."""
    from dwarfunwind.symbolize import demangle

    monkeypatch.setattr(demangle, "_batch", lambda *a: pytest.fail("c++filt started for an overlong name"))
    name = "_ZN" + "3foo" * (demangle.MAX_NAME_LENGTH // 4) + "E"
    assert demangle.demangle_all([name]) == {name: name}
    said = demangle.problems()
    assert len(said) == 1 and said[0].startswith("demangling length limit") and f"{len(name)} bytes" in said[0]


LIVE_INLINE = r"""
#include <unistd.h>
static inline __attribute__((always_inline)) void wait_here(int n) { while (n) pause(); }
static inline __attribute__((always_inline)) void outer_wait(int n) { wait_here(n + 1); }
__attribute__((noinline)) void parked(int n) { outer_wait(n); __asm__ volatile("" ::: "memory"); }
int main(int argc, char **argv) { (void)argv; parked(argc); return 0; }
"""


def test_live_process_gets_inline_frames_and_is_left_running(tmp_path):
    (tmp_path / "live.c").write_text(LIVE_INLINE)
    exe = tmp_path / "live"
    subprocess.run([which("gcc"), "-O2", "-g", "-o", str(exe), str(tmp_path / "live.c")], check=True)
    proc = subprocess.Popen([str(exe)])
    try:
        time.sleep(0.3)
        r = unwind("--pid", str(proc.pid), "--json", "--source")
        assert r.returncode == 0, r.stderr
        frames = json.loads(r.stdout)["threads"][0]["frames"]
        parked = next(f for f in frames if f["function"] == "parked")
        assert [i["function"] for i in parked["inlined"]] == ["wait_here", "outer_wait"]
        status = dict(ln.split(":", 1) for ln in open(f"/proc/{proc.pid}/status").read().splitlines() if ":" in ln)
        assert status["TracerPid"].strip() == "0" and status["State"].split()[0] in ("S", "R"), status["State"]
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_symcache_disk_cache_is_pruned_least_recently_used_first(tmp_path, monkeypatch):
    from dwarfunwind.symbolize import symcache

    monkeypatch.setattr(symcache, "MAX_CACHE_FILES", 3)
    for i in range(5):
        f = tmp_path / f"{i:02x}.symc"
        f.write_bytes(b"x" * 10)
        os.utime(f, (1000 + i, 1000 + i))
    (tmp_path / "other.txt").write_text("not ours")
    symcache._prune(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["02.symc", "03.symc", "04.symc", "other.txt"]
    monkeypatch.setattr(symcache, "MAX_CACHE_BYTES", 25)
    symcache._prune(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["03.symc", "04.symc", "other.txt"]
