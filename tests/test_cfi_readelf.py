"""Differential test: every row of every FDE of a sample of system ELF files,
``python -m dwarfunwind cfi FILE --json`` against ``readelf --debug-dump=frames-interp``.

Rows are compared as step functions over [pc_begin, pc_end): at every address
where either side starts a row, the CFA rule and every column's rule must be
equal (a column that one side does not show counts as undefined).

The sample: well-known libraries, /usr/bin/gdb (big), a deterministic pick of
other files with CFI, any /usr/lib/debug/.build-id file with .debug_frame, and
C/C++ programs compiled here with gcc (.eh_frame and .debug_frame variants).
The whole-system run is ``tools/cfi_differential.py``.
"""
import hashlib
import os
import shutil
import subprocess

import pytest
from oracles import diff_file, iter_cfi_elves, scan_elf

pytestmark = pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf not found on PATH")

WELL_KNOWN = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libm.so.6",
    "/lib64/ld-linux-x86-64.so.2",
    "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
    "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1",
    "/usr/bin/gdb",
]
N_PICKED = 10
MAX_PICKED_SIZE = 8 << 20  # keep the default run well under a minute


def _picked() -> list:
    known = {os.path.realpath(p) for p in WELL_KNOWN}
    cands = []
    for info in iter_cfi_elves(["/usr/lib/x86_64-linux-gnu", "/usr/bin"]):
        rp = os.path.realpath(info.path)
        if rp in known:
            continue
        try:
            if os.path.getsize(info.path) > MAX_PICKED_SIZE:
                continue
        except OSError:
            continue
        cands.append(info.path)
    cands.sort(key=lambda p: hashlib.sha1(p.encode()).hexdigest())
    return cands[:N_PICKED]


def _debug_files() -> list:
    out = []
    root = "/usr/lib/debug/.build-id"
    if os.path.isdir(root):
        for info in iter_cfi_elves([root]):
            if ".debug_frame" in info.cfi_sections:
                out.append(info.path)
    return out[:5]


def _sample() -> list:
    files = [p for p in WELL_KNOWN if os.path.exists(p)]
    seen = {os.path.realpath(p) for p in files}
    for p in _picked() + _debug_files():
        if os.path.realpath(p) not in seen:
            seen.add(os.path.realpath(p))
            files.append(p)
    return files


def _assert_clean(path: str, ours=None):
    r = diff_file(path, ours)
    if r.skipped:
        pytest.skip(f"{path}: {r.skipped}")
    if r.mismatches:
        lines = [f"{len(r.mismatches)} mismatch(es) in {path} "
                 f"({r.fdes} FDEs, {r.rows} rows compared; first ones):"]
        lines += [f"  {m}" for m in r.mismatches[:30]]
        lines += [f"  note: {n}" for n in r.notes[:5]]
        pytest.fail("\n".join(lines), pytrace=False)
    assert r.fdes > 0, f"no FDE compared in {path}: {r.notes[:5]}"


@pytest.mark.parametrize("path", _sample())
def test_system_file_matches_readelf(path):
    _assert_clean(path)


# ---------------------------------------------------------------- gcc-built programs

C_SRC = r"""
#include <stdarg.h>
#include <string.h>
#include <stdlib.h>
#include <alloca.h>
extern int sink(void *, ...);
__attribute__((noinline)) int leaf(int a, int b) { return a * b + 3; }
__attribute__((noinline)) long many(long a, long b, long c, long d, long e, long f, long g, long h)
{ long x[32]; for (int i = 0; i < 32; i++) x[i] = a + i * b; sink(x, c, d, e, f, g, h); return x[c & 31]; }
__attribute__((noinline)) int vla(int n) { char buf[n]; memset(buf, n, n); return sink(buf, n); }
__attribute__((noinline)) int aligned(int n) { __attribute__((aligned(64))) char b[100]; b[n] = 1; return sink(b); }
__attribute__((noinline)) int al(int n) { char *p = alloca(n); p[0] = 0; return sink(p); }
__attribute__((noinline)) int va(int n, ...) { va_list ap; va_start(ap, n); int s = 0;
  for (int i = 0; i < n; i++) s += va_arg(ap, int); va_end(ap); return s; }
__attribute__((noinline)) int rec(int n) { if (n <= 0) return sink(0); return rec(n - 1) + rec(n - 2) + 1; }
int sink(void *p, ...) { return p != 0; }
int main(int argc, char **argv) { return leaf(argc, 2) + (int)many(1,2,3,4,5,6,7,8) + vla(argc + 10)
  + aligned(argc) + al(argc + 20) + va(3, 1, 2, 3) + rec(argc + 3); }
"""

CXX_SRC = r"""
#include <stdexcept>
#include <string>
#include <vector>
struct G { std::string s; ~G() { s.clear(); } };
__attribute__((noinline)) int thrower(int n) { if (n > 3) throw std::runtime_error("x"); return n; }
__attribute__((noinline)) int catcher(int n) {
  G g{"abc"}; try { return thrower(n); } catch (const std::exception &e) { return -1; } }
int main(int argc, char **) {
  std::vector<int> v; for (int i = 0; i < argc + 5; i++) v.push_back(catcher(i)); return v.size(); }
"""

VARIANTS = {
    "c-O2-eh_frame": ("c", ["-O2"]),
    "c-O0-framepointer": ("c", ["-O0", "-fno-omit-frame-pointer"]),
    "c-O2-debug_frame": ("c", ["-O2", "-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"]),
    "c-Os-debug_frame-fp": ("c", ["-Os", "-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
                                  "-fno-omit-frame-pointer"]),
    "c-O2-debug_frame-zlib": ("c", ["-O2", "-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
                                    "-Wl,--compress-debug-sections=zlib"]),
    "c++-O2-exceptions": ("c++", ["-O2"]),
    "c++-O1-static": ("c++", ["-O1", "-static"]),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_gcc_built_matches_readelf(variant, tmp_path, need_tool):
    lang, flags = VARIANTS[variant]
    cc = need_tool("g++" if lang == "c++" else "gcc")
    src = tmp_path / ("t.cc" if lang == "c++" else "t.c")
    src.write_text(CXX_SRC if lang == "c++" else C_SRC)
    out = tmp_path / "t"
    p = subprocess.run([cc, *flags, "-o", str(out), str(src)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"{cc} could not build the {variant} program: {p.stderr.strip()[:300]}")
    info = scan_elf(str(out))
    assert info is not None and info.cfi_sections, f"{variant}: no CFI section was produced"
    if "debug_frame" in variant:
        assert ".debug_frame" in info.cfi_sections, info.cfi_sections
    if "zlib" in variant:  # SHF_COMPRESSED, as readelf -S shows it (flag C)
        sections = subprocess.run([need_tool("readelf"), "-SW", str(out)], capture_output=True, text=True).stdout
        line = next(ln for ln in sections.splitlines() if " .debug_frame " in ln)
        assert "C" in line.split("]")[1].split()[6], line
    _assert_clean(str(out))


def test_oracle_detects_a_difference():
    """Self-test of the comparison: a corrupted copy of our output must not compare clean."""
    from oracles import run_ours
    path = "/lib64/ld-linux-x86-64.so.2"
    if not os.path.exists(path):
        pytest.skip(f"{path} missing")
    ours, err, rc = run_ours(path)
    assert ours is not None, err
    fde = next(f for s in ours["sections"] for f in s["fdes"] if len(f["rows"]) > 2)
    fde["rows"][1]["cfa"] = "rbp+1234"
    fde["rows"][-1]["regs"]["rbx"] = "c-4096"
    r = diff_file(path, ours)
    cols = {m.column for m in r.mismatches}
    assert "CFA" in cols and "rbx" in cols, [str(m) for m in r.mismatches]
