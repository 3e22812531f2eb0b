"""The command line's parsing and start-up: the fast parser against argparse, help, version, usage errors.

Oracles: argparse itself (the parser built from the same command table), Python's
``-X importtime`` (what a run imports), ``typing.NamedTuple`` (for the run-time
stand-in), pyproject.toml (the version) and Python's ``signal`` module (signal names).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import typing

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from dwarfunwind import cli
from dwarfunwind._typing import NamedTuple as FastNamedTuple
from dwarfunwind.report import signal_name

PY = [sys.executable, "-m", "dwarfunwind"]
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def argparse_result(parser, argv):
    """What argparse makes of argv: the namespace, or None where it exits (an error or help)."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return parser.parse_args(argv, namespace=cli.Args())
        except SystemExit:
            return None


COMMON = [
    ["cfi", LIBC], ["cfi", LIBC, "--json"], ["cfi", "--address", "0x29d90", LIBC], ["cfi", LIBC, "--address=4096"],
    ["unwind", "core"], ["unwind", "core", "--exe", "./a.out", "--json"], ["unwind", "--pid", "123"],
    ["unwind", "-p", "123", "-n", "0"], ["unwind", "core", "--method", "compare", "--registers", "--source"],
    ["unwind", "--json", "core", "--thread", "7", "--max-frames", "10", "--sysroot", "/srv/root"],
    ["unwind", "core", "-e", "exe", "--save", "out.snap"], ["demo"], ["fuzz", "--examples", "5", "--seed", "1"],
    ["perf", "perf.data"], ["perf", "perf.data", "--folded"], ["perf", "-", "--json", "--pid", "12", "--pid=13"],
    ["perf", "perf.data", "--comm", "gzip", "--flamegraph", "out.svg", "-n", "0", "--max-samples", "100"],
]


@pytest.mark.parametrize("argv", COMMON, ids=" ".join)
def test_common_invocations_take_the_fast_path_and_agree_with_argparse(argv):
    fast = cli.fast_parse(argv)
    assert fast is not None, "a common invocation fell back to argparse"
    assert fast == argparse_result(cli.build_parser(), argv)


TOKENS = st.sampled_from([
    "cfi", "unwind", "demo", "fuzz", "nope", "file", "core", "--json", "--js", "--address", "--address=0x10",
    "0x10", "12", "0", "-3", "-1", "abc", "", "-", "--", "-h", "--help", "--version", "-V", "--pid", "-p",
    "--exe", "-e", "--sysroot", "--method", "dwarf", "fp", "compare", "bogus", "--registers", "--source",
    "--max-frames", "--max-frames=5", "-n", "-n5", "--max", "--thread", "--save", "--examples", "--examples=0",
    "--seed", "--property", "unwind", "--json=1", "--method=fp", "--pid=0", "perf", "--comm", "--comm=x",
    "--folded", "--pid=-1",
])




def values(options):
    """Mostly good values for an option, some bad ones."""
    if options.get("choices"):
        return st.sampled_from([*options["choices"], "bogus"])
    if options.get("type"):
        return st.sampled_from(["1", "5", "12", "0", "0x10", "-3", "abc", "4096"])
    return st.sampled_from(["core", "a.out", "x=y", "", "-3", "dir/file"])


#: Commands the fast parser serves; the others (check, batch) are argparse's alone.
FAST_COMMANDS = sorted(n for n, c in cli.COMMANDS.items() if cli._spec(c) is not None)


@st.composite
def command_lines(draw, names=FAST_COMMANDS):
    """A command, then a mix of its own options (with plausible values), positionals and stray tokens."""
    name = draw(st.sampled_from(names))
    chunks = []
    for _ in range(draw(st.integers(0, 6))):
        flags, options = draw(st.sampled_from(cli.COMMANDS[name].args)) if cli.COMMANDS[name].args else ((), {})
        kind = draw(st.integers(0, 9))
        if (kind == 0 and draw(st.booleans())) or not flags:
            chunks.append([draw(TOKENS)])
        elif flags[0][0] != "-":
            chunks.append([draw(values(options))])
        elif options.get("action") == "store_true":
            chunks.append([draw(st.sampled_from(flags))])
        elif kind == 1:
            chunks.append([draw(st.sampled_from(flags)) + "=" + draw(values(options))])
        else:
            chunks.append([draw(st.sampled_from(flags)), draw(values(options))])
    return [name] + [token for chunk in chunks for token in chunk]


FAST_HITS = [0, 0]


@settings(max_examples=500, deadline=None)
@given(st.one_of(command_lines(), command_lines(), command_lines(sorted(cli.COMMANDS)), st.lists(TOKENS, max_size=7)))
def test_fast_parser_never_disagrees_with_argparse(argv):
    """Whenever the fast parser answers, argparse accepts the same command line with the same values."""
    fast = cli.fast_parse(argv)
    FAST_HITS[fast is not None] += 1
    if fast is not None:
        assert argparse_result(PARSER, argv) == fast


def test_the_property_above_exercised_the_fast_path():
    if sum(FAST_HITS) == 0:
        pytest.skip("run together with test_fast_parser_never_disagrees_with_argparse")
    assert FAST_HITS[1] >= 50, FAST_HITS


PARSER = cli.build_parser()


def test_every_argument_has_a_help_line():
    sub = next(a for a in PARSER._actions if a.dest == "command")
    assert set(sub.choices) == set(cli.COMMANDS)
    for name, parser in sub.choices.items():
        for action in parser._actions:
            assert action.help and action.help.strip(), (name, action.dest)
    for action in PARSER._actions:
        assert action.help, action.dest


def test_top_level_help_says_what_the_tool_is_with_examples_and_exit_codes():
    r = run("--help")
    assert r.returncode == 0
    out = r.stdout
    assert "DWARF Call Frame Information" in out
    assert "The only module that prints" not in out  # no leaked module docstring
    examples = out.split("examples:")[1].split("exit codes")[0]
    assert len(re.findall(r"^\s+dwarfunwind \w+", examples, re.M)) == 3
    for code in ("0", "1", "2"):
        assert re.search(rf"^\s+{code}\s+\w", out, re.M), code
    for name in cli.COMMANDS:
        assert re.search(rf"^\s+{name}\s+\w", out, re.M), name


def test_version_matches_pyproject():
    want = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    for flag in ("--version", "-V"):
        r = run(flag)
        assert r.returncode == 0 and r.stdout.strip() == f"dwarfunwind {want}"


@pytest.mark.parametrize("argv", [
    ["unwind", "core", "-n", "-1"], ["unwind", "core", "--max-frames=-5"], ["unwind", "core", "-n", "x"],
    ["fuzz", "--examples", "0"], ["fuzz", "--examples", "-5"], ["fuzz", "--examples=zero"],
    ["cfi", "f", "--address", "-4"], ["unwind", "--pid", "0"], ["nope"], [],
    ["unwind", "core", "--thread", "9" * 100_000],
])
def test_usage_errors_exit_2_with_a_short_message(argv):
    r = run(*argv)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "usage:" in r.stderr
    assert all(len(line) <= cli.MAX_MESSAGE + 200 for line in r.stderr.splitlines())


def test_the_cfi_and_unwind_paths_import_no_argparse_typing_enum_re_or_json(corpus):
    """-X importtime lists every module a run imports."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def imported(*args: str) -> set[str]:
        r = subprocess.run([sys.executable, "-X", "importtime", *PY[1:], *args], capture_output=True, text=True,
                           env=env, cwd=ROOT, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", r.stderr, re.M))

    heavy = {"argparse", "gettext", "locale", "shutil", "typing", "re", "json", "subprocess", "ctypes.util"}
    for args in (["cfi", LIBC], ["cfi", LIBC, "--json"]):
        mods = imported(*args)
        assert "dwarfunwind.cfi.program" in mods  # it did run
        assert not mods & (heavy | {"enum"}), args
    builder, out = corpus
    # C++ names are demangled by c++filt in a bounded child (symbolize/demangle.py; a hostile name
    # must not cost the walk its memory), so only that core may import what starting a child needs.
    child = {"subprocess", "shutil", "re", "locale", "enum"}  # (subprocess imports signal, and signal enum)
    for name, allowed in (("c_threads", set()), ("cxx_throw", child)):
        mods = imported("unwind", str(builder.artifacts(name, out)["core"]))
        assert "dwarfunwind.targets.core" in mods
        # StopReason is a str-Enum to mypy and users, built without enum at run time (_typing.StrEnum).
        assert not mods & ((heavy | {"enum"}) - allowed), name
    assert "dwarfunwind.symbolize.demangle" not in imported("unwind", str(builder.artifacts("c_threads", out)["core"]))


def test_import_dwarfunwind_is_lazy_and_complete():
    code = ("import sys, dwarfunwind as d; before = sorted(m for m in sys.modules if m.startswith('dwarfunwind'));"
            "missing = [n for n in d.__all__ if getattr(d, n, None) is None];"
            "print(before, missing, d.cfi.expr.evaluate.__module__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.strip() == "['dwarfunwind'] [] dwarfunwind.cfi.expr", r.stderr


def test_run_time_namedtuple_behaves_as_typing_namedtuple():
    """The start-up stand-in against the real thing, on a class using every feature the package uses."""
    def make(base):
        class Record(base):
            """A record."""

            start: int
            path: str | None = None
            flags: int = 0

            def size(self) -> int:
                return self.start * 2

            def __eq__(self, other: object) -> bool:
                return isinstance(other, Record) and self[:2] == other[:2]

            def __hash__(self) -> int:
                return hash(self[:2])

        return Record

    fast, real = make(FastNamedTuple), make(typing.NamedTuple)
    for attr in ("_fields", "_field_defaults", "__doc__", "__module__", "__qualname__", "__name__"):
        assert getattr(fast, attr) == getattr(real, attr), attr
    a, b = fast(1, "x"), real(1, "x")
    assert repr(a) == repr(b) and tuple(a) == tuple(b) and a.size() == b.size() == 2
    assert a._replace(flags=3) == fast(1, "x", 9) and hash(a) == hash(fast(1, "x", 5))
    assert a._asdict() == b._asdict() and isinstance(a, tuple)
    with pytest.raises(TypeError):
        fast()
    for base in (FastNamedTuple, typing.NamedTuple):
        with pytest.raises(AttributeError):
            class Bad(base):  # type: ignore[misc, valid-type]
                x: int

                def _replace(self) -> None: ...


def test_rule_kind_enum_has_the_plain_int_values():
    from dwarfunwind.cfi import rules

    for name in ("UNDEFINED", "SAME_VALUE", "OFFSET", "VAL_OFFSET", "REGISTER", "EXPRESSION", "VAL_EXPRESSION"):
        assert getattr(rules, name) == getattr(rules.RuleKind, name).value


def test_signal_names_are_the_c_library_s():
    for n in range(1, 32):
        assert signal_name(n) == signal.Signals(n).name, n
    assert signal_name(signal.SIGRTMIN + 2) == "SIGRTMIN+2" and signal_name(signal.SIGRTMAX) == "SIGRTMAX-0"


@pytest.mark.parametrize("encoding", ["ascii", "utf-8", "latin-1"])
def test_undecodable_paths_are_printed_escaped(encoding, tmp_path):
    """A path with a Latin-1 byte (a lone surrogate once decoded) and a non-ASCII character, on any stdout."""
    path = os.fsdecode(bytes(tmp_path) + b"/caf\xe9-\xe2\x82\xac")  # 'caf' + Latin-1 e-acute, then a UTF-8 euro
    env = dict(os.environ, PYTHONIOENCODING=encoding)
    r = run("cfi", path, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "caf\\xe9-" in r.stderr
    assert ("\\u20ac" in r.stderr) == (encoding != "utf-8")


def test_run_time_protocol_checks_as_typing_does(corpus):
    """isinstance against the runtime-checkable Target protocol answers as a typing.Protocol declaring
    the same members does."""
    from dwarfunwind import Program, Target

    @typing.runtime_checkable
    class RealTarget(typing.Protocol):
        name: str

        def threads(self): ...
        def read_memory(self, address, size): ...
        def mappings(self): ...
        def close(self): ...

    class Duck:
        name = "duck"

        def threads(self): return []
        def read_memory(self, address, size): return b""
        def mappings(self): return []
        def close(self): pass

    class NoName:
        threads = read_memory = mappings = close = Duck.close

    builder, out = corpus
    with Program.from_core(str(builder.artifacts("c_basic_O0", out)["core"])) as prog:
        for obj in (prog.target, object(), Duck(), NoName(), 3):
            assert isinstance(obj, Target) == isinstance(obj, RealTarget), obj
        assert isinstance(prog.target, Target) and isinstance(Duck(), Target) and not isinstance(NoName(), Target)
