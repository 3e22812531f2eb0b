"""PLT stubs and labels named as objdump, gdb and perf name them.

Oracles: ``objdump -d`` (BFD's synthetic ``name@plt`` symbols: every label it prints in a PLT section
equals ours at that address, and we name nothing it does not); gdb's ``bt`` on cores written by
``gcore`` with the process stopped in a PLT stub, in ld.so's ``_start`` and on labels (STT_NOTYPE
symbols) inside and outside sized functions; ``perf script`` on ld.so's samples of ``/bin/true``.
Binaries are built here (gcc default, -z now, -z lazy, -no-pie, IBT's .plt.sec, -fno-plt, shared
libraries) and taken from the system (ls, libc, libstdc++, ld.so). Hostile PLT bytes, relocations
and truncated files give no name, never a traceback.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, missing, which
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(ROOT))
from dwarfunwind.elf.module import ElfFile  # noqa: E402
from dwarfunwind.elf.plt import PLT_SECTIONS, PltNames  # noqa: E402

PY = [sys.executable, "-m", "dwarfunwind"]

PROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern int libfn(int);
int main(int argc, char **argv) {
  (void)argv; puts("hi"); printf("%d\n", libfn(argc));
  char *p = malloc(10); strcpy(p, "x"); free(p); return 0;
}
"""
LIB = r"""
#include <stdio.h>
#include <string.h>
int helper(int x) { return x + 1; }
int libfn(int x) { puts("lib"); return helper(x) + (int)strlen("ab"); }
"""
CXX = r"""
#include <iostream>
int main(int argc, char **) { std::cout << argc << std::endl; return 0; }
"""
# Labels: `mid` (inside the sized function `outer`) and `lonely` (in no sized function); main picks by argc.
LABELS = r"""
    .text
    .globl main
    .type main, @function
main:
    cmpl $1, %edi
    jne 1f
    call outer
1:  call lonely
    xorl %eax, %eax
    ret
    .size main, .-main
    .type outer, @function
outer:
    nop
mid:
    nop
    ud2
    ret
    .size outer, .-outer
lonely:
    nop
    nop
    ud2
    ret
"""

#: name -> (extra gcc flags, the PLT section that must exist for the variant to test what it says)
VARIANTS = {
    "default": ([], ".plt"),
    "now": (["-Wl,-z,now"], ".plt"),
    "lazy": (["-Wl,-z,lazy"], ".plt"),
    "nopie": (["-no-pie"], ".plt"),
    "ibt": (["-fcf-protection=full", "-Wl,-z,ibtplt"], ".plt.sec"),
    "ibt-now": (["-fcf-protection=full", "-Wl,-z,ibtplt", "-Wl,-z,now"], ".plt.sec"),
    "ibt-nopie": (["-no-pie", "-fcf-protection=full", "-Wl,-z,ibtplt"], ".plt.sec"),
    "fno-plt": (["-fno-plt"], ".plt.got"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """name -> path of each variant of PROG (linked against libx.so, itself built two ways)."""
    gcc = which("gcc")
    d = tmp_path_factory.mktemp("plt")
    (d / "prog.c").write_text(PROG)
    (d / "lib.c").write_text(LIB)
    out = {}
    for name, flags in (("libx.so", []), ("libx-ibt.so", ["-fcf-protection=full", "-Wl,-z,ibtplt"])):
        subprocess.run([gcc, "-shared", "-fPIC", *flags, "-o", str(d / name), str(d / "lib.c")], check=True,
                       capture_output=True)
        out[name] = d / name
    for name, (flags, _) in VARIANTS.items():
        exe = d / f"p-{name}"
        r = subprocess.run([gcc, "-O0", *flags, "-o", str(exe), str(d / "prog.c"), f"-L{d}", "-lx",
                            f"-Wl,-rpath,{d}"], capture_output=True, text=True)
        if r.returncode == 0:
            out[name] = exe
    return out


def objdump_plt_labels(path) -> dict[int, str]:
    out = subprocess.run([which("objdump"), "-d", "--no-show-raw-insn", str(path)], capture_output=True,
                         text=True, timeout=300).stdout
    return {int(a, 16): n for a, n in re.findall(r"^([0-9a-f]+) <(.*@plt)>:$", out, re.M)}


def check_against_objdump(path) -> int:
    elf = ElfFile.open(path)
    theirs = objdump_plt_labels(path)
    entries = elf.plt_symbols()
    ours = {a: n for a, _, n in entries}
    assert ours == theirs, {a: (theirs.get(a), ours.get(a)) for a in set(ours) | set(theirs)
                            if ours.get(a) != theirs.get(a)}
    for a, size, n in entries:  # every byte of an entry is named after it, with its offset
        assert elf.symbolize(a) == (n, 0)
        assert elf.symbolize(a + size - 1) == (n, size - 1)
    return len(entries)


@pytest.mark.parametrize("name", [*VARIANTS, "libx.so", "libx-ibt.so"])
def test_built_plt_names_match_objdump(built, name):
    if name not in built:
        pytest.skip(f"gcc/ld cannot build the {name} variant here")
    path = built[name]
    wanted = VARIANTS.get(name, ([], ".plt"))[1]
    elf = ElfFile.open(path)
    assert elf.reader.section(wanted) is not None, f"{name}: no {wanted}: the variant does not test what it says"
    assert check_against_objdump(path) >= (1 if name == "fno-plt" else 2)


SYSTEM = ["/usr/bin/ls", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
          "/lib64/ld-linux-x86-64.so.2", "/usr/bin/gdb"]


@pytest.mark.parametrize("path", SYSTEM)
def test_system_plt_names_match_objdump(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} not on this system")
    check_against_objdump(path)


# -- gdb: a process stopped in a PLT stub ----------------------------------------------------------------


def gdb_core(exe, commands, core, env=None) -> list[str]:
    """Run ``exe`` under gdb with ``commands``, write ``core``; gdb's bt names there, innermost first."""
    args = [which("gdb"), "-batch", "-nx"]
    for c in [*commands, f"gcore {core}", "bt"]:
        args += ["-ex", c]
    r = subprocess.run([*args, str(exe)], capture_output=True, text=True, timeout=120, env=env)
    if not os.path.exists(core):
        missing(f"gdb wrote no core: {r.stderr[-300:]}")
    names = []
    for line in r.stdout.splitlines():
        m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(.+?) \(", line)
        if m:
            names.append(m.group(1))
    return names


def our_names(core, exe) -> list[str | None]:
    r = subprocess.run([*PY, "unwind", str(core), "--exe", str(exe), "--json"], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode in (0, 1), r.stderr
    return [f["function"] for f in json.loads(r.stdout)["threads"][0]["frames"]]


@pytest.mark.parametrize("name,stub,offset", [("default", "puts@plt", 0), ("ibt", "puts@plt", 0),
                                               ("nopie", "libfn@plt", 0), ("lazy", "malloc@plt", 6),
                                               ("ibt", "free@plt", 4), ("now", "__cxa_finalize@plt", 0)])
def test_core_in_plt_stub_names_match_gdb(built, tmp_path, name, stub, offset):
    """Stopped at a stub's first byte or inside it (lazy: at the push the first call reaches)."""
    if name not in built:
        pytest.skip(f"gcc/ld cannot build the {name} variant here")
    exe, core = built[name], tmp_path / "core"
    env = {k: v for k, v in os.environ.items() if k != "LD_BIND_NOW"}  # lazy: +6 is reached on the first call
    theirs = gdb_core(exe, ["starti", f"break *((char *)&'{stub}' + {offset})", "continue"], core, env)
    assert theirs and theirs[0] == stub, theirs
    ours = our_names(core, exe)
    assert ours[:2] == theirs[:2]


def test_cxx_plt_stub_named_as_gdb(tmp_path):
    """A C++ stub: our linkage name is gdb's, demangled; our display name is the package's (``c++filt -i``).

    gdb shows minimal symbols with standard substitutions spelled out (``std::basic_ostream<char, ...>``),
    as ``c++filt`` does by default; dwarfunwind shows them as ``c++filt -i`` (``std::ostream``), for every
    symbol, in PLT stubs or not (dwarfunwind/symbolize/demangle.py).
    """
    gxx, cxxfilt = which("g++"), which("c++filt")
    exe, core = tmp_path / "cxx", tmp_path / "core"
    (tmp_path / "cxx.cc").write_text(CXX)
    subprocess.run([gxx, "-O1", "-o", str(exe), str(tmp_path / "cxx.cc")], check=True, capture_output=True)
    stub = next(n for n in objdump_plt_labels(exe).values() if n.startswith("_ZNSolsEi"))
    theirs = gdb_core(exe, [f"break '{stub}'", "run"], core)
    assert theirs and theirs[0].endswith("@plt") and "::" in theirs[0], theirs
    r = subprocess.run([*PY, "unwind", str(core), "--exe", str(exe), "--json"], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    frame = json.loads(r.stdout)["threads"][0]["frames"][0]
    assert frame["linkage_name"] == stub

    def filt(*flags: str) -> str:
        return subprocess.run([cxxfilt, *flags], input=stub + "\n", capture_output=True, text=True).stdout.strip()

    assert filt() == theirs[0]
    assert frame["function"] == filt("-i")


# -- labels: ld.so's _start, labels inside and outside functions -------------------------------------------


def test_ldso_start_named_as_gdb(built, tmp_path):
    """Stopped at ld.so's first instruction, and a few steps into _dl_start: gdb's names, frame for frame."""
    exe = built["default"]
    theirs = gdb_core(exe, ["starti"], tmp_path / "c1")
    if not theirs or theirs[0] == "??":
        pytest.skip("gdb has no name for ld.so's entry here (no ld.so symbols: install libc6-dbg)")
    assert our_names(tmp_path / "c1", exe)[0] == theirs[0]
    theirs = gdb_core(exe, ["starti", "stepi 20"], tmp_path / "c2")
    ours = our_names(tmp_path / "c2", exe)
    assert ours == theirs[: len(ours)] and len(ours) >= 2, (ours, theirs)


@pytest.mark.parametrize("argv", [[], ["x"]])
def test_labels_named_as_gdb(tmp_path, argv):
    """A label inside a sized function leaves the function its name; a label in no function names its code."""
    gcc = which("gcc")
    exe, core = tmp_path / "labels", tmp_path / "core"
    (tmp_path / "labels.S").write_text(LABELS)
    subprocess.run([gcc, "-o", str(exe), str(tmp_path / "labels.S")], check=True, capture_output=True)
    theirs = gdb_core(exe, [f"run {' '.join(argv)}"], core)
    assert theirs and theirs[0] == ("outer" if not argv else "lonely"), theirs
    assert our_names(core, exe)[0] == theirs[0]


# -- perf: ld.so's frames in /bin/true ----------------------------------------------------------------------


def _perf_chains(text: str, strip: bool) -> list[list[tuple[int, str, str]]]:
    samples: list[list[tuple[int, str, str]]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith("\t"):
            samples.append([])
            continue
        m = re.match(r"\s+([0-9a-f]+) (.*) \((.*)\)$", line)
        if m and samples:
            name = re.sub(r"\+0x[0-9a-f]+$", "", m.group(2))
            if strip and not name.endswith("@plt"):
                name = name.split("@")[0]  # perf keeps the symbol table's versions (f@@GLIBC_2.34); we do not
            samples[-1].append((int(m.group(1), 16), name, m.group(3)))
    return samples


def test_ldso_perf_names_match_perf_script(tmp_path):
    perf = which("perf")
    data = tmp_path / "perf.data"
    r = subprocess.run([perf, "record", "-q", "-o", str(data), "--call-graph", "dwarf", "-e", "cpu-clock:u",
                        "-c", "10000", "--", "/bin/true"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not data.exists():
        missing(f"perf record failed: {r.stderr[-300:]}")
    theirs = _perf_chains(subprocess.run([perf, "script", "-i", str(data), "--no-inline", "-F",
                                          "comm,tid,time,ip,sym,dso"], capture_output=True, text=True,
                                         timeout=120).stdout, True)
    ours = _perf_chains(subprocess.run([*PY, "perf", str(data)], capture_output=True, text=True, timeout=120,
                                       cwd=ROOT).stdout, False)
    assert len(ours) == len(theirs)
    ldso = ElfFile.open("/lib64/ld-linux-x86-64.so.2")
    debug = ldso.debug_file()
    if debug is None:
        pytest.skip("no debug file for ld.so here (install libc6-dbg): perf names its frames from it")
    aliases: dict[str, set[int]] = {}
    for value, _, n, _ in debug.symbols():
        aliases.setdefault(n, set()).add(value)
    checked = 0
    for a, b in zip(theirs, ours):
        for (_, their, dso), (_, mine, _) in zip(a, b):
            if "ld-linux" not in dso or their == "[unknown]":
                continue
            checked += 1
            # An alias at the same address (mmap64 / __mmap) is the same symbol named another way.
            assert mine == their or aliases.get(mine, set()) & aliases.get(their, set()), (mine, their)
    assert checked > 10


# -- hostile input ------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PLT_SECTIONS), st.integers(0, 1 << 20), st.binary(max_size=96)),
                max_size=4),
       st.lists(st.binary(max_size=120), max_size=3), st.binary(max_size=96), st.binary(max_size=64),
       st.integers(-16, (1 << 20) + 200))
def test_hostile_plt_bytes_give_no_traceback(sections, relocs, dynsym, dynstr, address):
    plt = PltNames(sections, relocs, dynsym, dynstr)
    hit = plt.lookup(address)
    assert hit is None or (hit[0].endswith("@plt") and 0 <= hit[1] < 16)
    assert sum(1 for _ in plt.entries()) <= sum(len(d) // 8 for _, _, d in sections)


def test_corrupt_plt_in_a_real_file(built, tmp_path):
    """Every byte of the PLT and the relocations flipped, and the file cut short: names or none, no traceback."""
    src = built["ibt"] if "ibt" in built else built["default"]
    data = bytearray(src.read_bytes())
    elf = ElfFile.open(src)
    spans = [(s.offset, s.size) for s in elf.reader.sections if s.name in PLT_SECTIONS or s.name.startswith(".rela")]
    addrs = [s.addr + k for s in elf.reader.sections if s.name in PLT_SECTIONS for k in range(0, s.size, 3)]
    for i, (off, size) in enumerate(spans):
        for k in range(off, off + size):
            data[k] ^= 0x5A + i
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    elf = ElfFile.open(bad)
    for a in addrs:
        elf.symbolize(a)
    # Cut inside .rela.plt: reading it fails, the error is kept, and lookups still answer.
    rela = next(s for s in ElfFile.open(src).reader.sections if s.name == ".rela.plt")
    cut = tmp_path / "cut"
    cut.write_bytes(src.read_bytes()[: rela.offset + 8])
    try:
        elf = ElfFile.open(cut)
        for a in addrs:
            elf.symbolize(a)
    except Exception as e:  # opening a cut file may fail, but only with the package's own errors
        from dwarfunwind.errors import DwarfUnwindError

        assert isinstance(e, DwarfUnwindError)


def test_plt_decoder_not_imported_off_plt(built):
    """Names outside PLT sections do not import (or build) the PLT decoder."""
    code = ("import sys; from dwarfunwind.elf.module import ElfFile; e = ElfFile.open(sys.argv[1]); "
            "main = [s for s in e.reader.sections if s.name == '.text'][0]; e.symbolize(main.addr + 1); "
            "assert 'dwarfunwind.elf.plt' not in sys.modules, 'imported'; "
            "p = [s for s in e.reader.sections if s.name == '.plt'][0]; print(e.symbolize(p.addr + 16)[0]); "
            "assert 'dwarfunwind.elf.plt' in sys.modules")
    r = subprocess.run([sys.executable, "-c", code, str(built["default"])], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() in objdump_plt_labels(built["default"]).values()


def test_gdb_is_there_for_ci():
    """The oracles this file leans on (CI installs them all)."""
    for tool in ("objdump", "gdb", "gcc"):
        if shutil.which(tool) is None:
            missing(f"{tool} not found on PATH")
