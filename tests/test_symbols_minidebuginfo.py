"""MiniDebugInfo: a stripped binary's static functions named from its ``.gnu_debugdata`` section.

Fedora and RHEL ship binaries stripped of .symtab but with ``.gnu_debugdata``: an xz-compressed
ELF whose .symtab holds the functions .dynsym lacks. The file is made here as Fedora's
find-debuginfo.sh makes it (nm, objcopy --keep-symbols, strip); the oracles are eu-stack's names
and gdb's on a kernel core of it, both of which read MiniDebugInfo.
"""

import lzma
import re
import shutil
import subprocess
import zlib

import pytest
from conftest import kernel_core, which

from dwarfunwind import Program
from dwarfunwind.check import check_file

PROGRAM = r"""
#include <stdlib.h>
static __attribute__((noinline)) void hidden_leaf(int x) { if (x > 0) abort(); }
static __attribute__((noinline)) void hidden_mid(int x) { hidden_leaf(x + 1); __asm__ volatile(""); }
__attribute__((noinline)) void exported(int x) { hidden_mid(x); __asm__ volatile(""); }
int main(int argc, char **argv) { (void)argv; exported(argc); __asm__ volatile(""); return 0; }
/* A static function without CFI: `check` must say so from MiniDebugInfo as from the full .symtab. */
__asm__(".text\n.type no_cfi_stub, @function\nno_cfi_stub:\n push %rbx\n pop %rbx\n ret\n"
        ".size no_cfi_stub, .-no_cfi_stub\n");
"""


def _run(*argv: str, **kw) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True, **kw).stdout


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """(directory, the MiniDebugInfo binary, its kernel core)."""
    for tool in ("gcc", "nm", "objcopy", "strip"):
        which(tool)
    d = tmp_path_factory.mktemp("minidebuginfo")
    (d / "m.c").write_text(PROGRAM)
    prog = str(d / "prog")
    _run("gcc", "-O2", "-g", "-fno-reorder-blocks-and-partition", "-rdynamic", "-o", prog, str(d / "m.c"))
    # find-debuginfo.sh's recipe: function symbols not already in .dynsym, in an xz-compressed ELF.
    dynsyms = {line.split()[0] for line in _run("nm", "-D", prog, "--format=posix", "--defined-only").splitlines()}
    funcs = {f[0] for line in _run("nm", prog, "--format=posix", "--defined-only").splitlines()
             if len(f := line.split()) > 1 and f[1] in "TtD"}
    (d / "keep").write_text("\n".join(sorted(funcs - dynsyms)) + "\n")
    mini = str(d / "mini_debuginfo")
    _run("objcopy", "-S", "--remove-section", ".gdb_index", "--remove-section", ".comment",
         f"--keep-symbols={d / 'keep'}", prog, mini)
    with open(mini, "rb") as f:
        (d / "mini_debuginfo.xz").write_bytes(lzma.compress(f.read(), format=lzma.FORMAT_XZ))
    shutil.copy(prog, d / "prog.full")
    _run("strip", "--strip-all", prog)
    _run("objcopy", "--add-section", f".gnu_debugdata={d / 'mini_debuginfo.xz'}", prog)
    assert "hidden_mid" not in _run("nm", "-D", prog, "--defined-only")  # only MiniDebugInfo has it
    return d, prog, kernel_core(d, [prog])


def eu_stack_names(prog: str, core) -> list[tuple[int, str]]:
    which("eu-stack")
    out = _run("eu-stack", "--core", str(core), "-e", prog, "-n", "0", timeout=120)
    return [(int(m[1], 16), m[2].split("@")[0]) for line in out.splitlines()
            if (m := re.match(r"^#\d+\s+0x([0-9a-f]+)\s+(\S+)", line))]


def test_static_functions_named_as_eu_stack_and_gdb_name_them(crashed):
    d, prog, core = crashed
    theirs = eu_stack_names(prog, core)
    assert [n for _, n in theirs if n.startswith("hidden")] == ["hidden_leaf", "hidden_mid"], theirs  # the oracle
    gdb = _run(which("gdb"), "-batch", "-nx", prog, str(core), "-ex", "bt", timeout=120)
    with Program.from_core(str(core), exe=prog) as program:
        (trace,) = program.stack_traces()
        mine = [(f.pc, f.function) for f in trace.frames if f.module is not None and f.module.path.endswith("prog")]
        assert not program.problems
    assert [n for _, n in mine] == ["hidden_leaf", "hidden_mid", "exported", "main", "_start"], mine
    assert set(mine) <= set(theirs), (mine, theirs)
    for pc, name in mine[:4]:
        assert re.search(rf"0x0*{pc:x} in {name} ", gdb), (hex(pc), name, gdb)


def huge_dictionary(xz: bytes) -> bytes:
    """``xz`` with its LZMA2 dictionary size said to be 4 GiB (block header patched, CRC32 redone)."""
    size = (xz[12] + 1) * 4  # the block header follows the 12-byte stream header
    header = bytearray(xz[12 : 12 + size])
    props = header.index(b"\x21\x01", 2) + 2  # filter LZMA2 (0x21), one byte of properties
    header[props] = 40  # dictionary size code 40: 4 GiB - 1
    header[-4:] = zlib.crc32(bytes(header[:-4])).to_bytes(4, "little")
    return xz[:12] + bytes(header) + xz[12 + size :]


@pytest.mark.parametrize("damage", ["truncated", "bomb", "dictionary"])
def test_damaged_minidebuginfo_is_said_and_dynsym_still_serves(crashed, damage):
    """A cut xz stream, one that would inflate 1,000-fold (held to inflate_ratio, 64x, as compressed
    sections are: docs/security.md), or one asking for a 4 GiB dictionary (the decoder's memory is
    capped): one problem naming the section, and .dynsym's names."""
    d, prog, core = crashed
    xz = (d / "mini_debuginfo.xz").read_bytes()
    if damage == "truncated":
        data = xz[: len(xz) // 2]
    elif damage == "dictionary":
        data = huge_dictionary(xz)
    else:
        data = lzma.compress(b"\0" * (1000 * len(xz)), format=lzma.FORMAT_XZ)
    bad = str(d / f"prog.{damage}")
    (d / f"{damage}.xz").write_bytes(data)
    _run("objcopy", "--update-section", f".gnu_debugdata={d / (damage + '.xz')}", prog, bad)
    with Program.from_core(str(core), exe=bad) as program:
        (trace,) = program.stack_traces()
        names = [f.function for f in trace.frames if f.module is not None and f.module.path.endswith("/prog")]
        problems = program.problems_for([trace])
    assert names[0] is None and names[-3:] == ["exported", "main", "_start"], names  # .dynsym's names
    assert len(trace.frames) >= 8 and trace.stop_reason.value == "outermost"
    said = [p for p in problems if ".gnu_debugdata" in p]
    assert len(said) == 1, problems
    expected = {"truncated": "truncated", "bomb": "inflate_ratio", "dictionary": "Memory usage limit"}[damage]
    assert expected in said[0], said


def test_check_sees_the_functions_minidebuginfo_lists(crashed):
    """``check`` of the stripped file finds what it finds with the full .symtab: the static function
    without CFI (nm lists it, readelf has no FDE for it) among them."""
    d, prog, _ = crashed
    full = str(d / "prog.full")
    nm = _run("nm", full)
    assert re.search(r" t no_cfi_stub$", nm, re.M)  # the oracle: it is there, local

    def findings(path: str) -> list[tuple[str, str | None, str]]:
        report = check_file(path)
        return sorted((f.kind, f.function, f.message) for f in report.coverage)

    theirs = findings(full)
    assert any(name == "no_cfi_stub" for _, name, _ in theirs), theirs
    assert findings(prog) == theirs
