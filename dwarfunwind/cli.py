"""Command line: ``python -m dwarfunwind {cfi,unwind,demo,fuzz} ...``.

The only module that prints. Errors from the package arrive as
DwarfUnwindError and are printed on one line each; nothing else escapes as a
traceback except a genuine bug.

Subcommands live in a table (``COMMANDS``, filled by :func:`command` at the
end of this file): a name, the function that runs it, a help line and its
arguments in ``argparse.add_argument`` form. Common invocations are parsed
straight from the table (:func:`fast_parse`) without importing argparse,
which with gettext, locale and shutil costs about as much as the rest of a
``cfi`` run's imports; help, ``--version``, abbreviations and every error go
to the argparse parser built from the same table (:func:`build_parser`), so
the messages and the accepted syntax are argparse's.
"""

from __future__ import annotations

import sys

from .errors import DwarfUnwindError

TYPE_CHECKING = False
if TYPE_CHECKING:  # imported lazily at run time: each subcommand loads only what it needs
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

    from .program import Program
    from .unwind.frame import StackTrace

PROG = "dwarfunwind"
DESCRIPTION = """\
Unwind native x86-64 call stacks with DWARF Call Frame Information: backtraces
of core files, live processes (read-only) and snapshots, with every register
known in every frame; the CFI rows of any ELF file, as readelf shows them; and
a property-based fuzzer for CFI."""
EPILOG = """\
examples:
  dwarfunwind unwind core --exe ./prog      every thread of a core, as gdb's bt
  dwarfunwind unwind --pid 1234 --json      a live process, left running; JSON
  dwarfunwind cfi /lib/x86_64-linux-gnu/libc.so.6 --address 0x29d90
                                            the unwind row governing an address

exit codes (as eu-stack):
  0    complete: every thread unwound to its outermost frame (cfi: all decoded)
  1    partial: a walk stopped early or some entries were bad; the rest printed
  2    nothing unwound, unreadable input, or a usage error
  130  interrupted

"python -m dwarfunwind ..." works wherever "dwarfunwind ..." does."""

#: ``-n 0``: no frame limit (as eu-stack). A walk still ends: every frame must move the stack
#: pointer towards the caller, except across signal frames, and a repeated frame ends it.
UNLIMITED_FRAMES = sys.maxsize
#: One line of stderr is at most this long: messages may echo input (a huge register value).
MAX_MESSAGE = 2000


def _err(message: str) -> None:
    print(f"{PROG}: {cap_line(message)}", file=sys.stderr)


def cap_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line of at most about ``limit`` characters, the middle elided."""
    text = text.replace("\n", " ")
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 8
    return f"{text[:head]} ...[{len(text) - head - tail} characters omitted]... {text[-tail:]}"


def _escape_unencodable(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that were not UTF-8 (surrogate-escaped) as ``\\xNN``, else ``\\uNNNN``."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = []
    for ch in error.object[error.start:error.end]:
        n = ord(ch)
        if 0xDC80 <= n <= 0xDCFF:
            out.append(f"\\x{n - 0xDC00:02x}")  # an undecodable byte of a path, as surrogateescape keeps it
        elif n <= 0xFF:
            out.append(f"\\x{n:02x}")
        elif n <= 0xFFFF:
            out.append(f"\\u{n:04x}")
        else:
            out.append(f"\\U{n:08x}")
    return "".join(out), error.end


def _escape_streams() -> None:
    """Print any path, whatever the stream's encoding: unencodable characters escaped, never an error."""
    import codecs

    codecs.register_error("dwarfunwind-escape", _escape_unencodable)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="dwarfunwind-escape")
            except (ValueError, OSError):  # a closed or detached stream: nothing to print there anyway
                pass


def _json_string(text: str) -> str:
    """``json.dumps(text)`` without importing json (and re) on the ``cfi`` path."""
    try:
        from _json import encode_basestring_ascii
    except ImportError:  # another Python implementation
        from json.encoder import encode_basestring_ascii
    return str(encode_basestring_ascii(text))


# -- argument types: a ValueError is a usage error (argparse: "invalid NAME value") -----------------


def _usage(message: str) -> Exception:
    """argparse's ArgumentTypeError (its message is shown as is), imported only when an argument is bad."""
    import argparse

    return argparse.ArgumentTypeError(message)


def _integer(text: str, base: int, least: int, not_one: str, too_small: str) -> int:
    """``text`` as an integer of at least ``least``; else argparse's error ``not_one: text`` or ``too_small``."""
    try:
        value = int(text, base)
    except ValueError:
        raise _usage(f"{not_one}: {cap_line(text, 80)!r}") from None
    if value < least:
        raise _usage(too_small.format(value))
    return value


def address(text: str) -> int:
    """An address: decimal, or 0x hexadecimal (as C writes it)."""
    return _integer(text, 0, 0, "not an address", "not an address: {}")


def frame_count(text: str) -> int:
    """``-n``: a number of frames; 0 means no limit (as eu-stack)."""
    return _integer(text, 10, 0, "not a number of frames", "must be 0 (no limit) or more, not {}")


def positive(text: str) -> int:
    """A count of at least 1."""
    return _integer(text, 10, 1, "not a number", "must be 1 or more, not {}")


def thread_id(text: str) -> int:
    """A thread or process id (a positive number)."""
    return _integer(text, 10, 1, "not a thread or process id", "not a thread or process id: {}")


def seed(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise _usage(f"not a number: {cap_line(text, 80)!r}") from None


# -- the command table --------------------------------------------------------------------------------


class Args:
    """The parsed command line: one attribute per argument (its ``dest``), as ``argparse.Namespace``."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Args) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return "Args(" + ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items())) + ")"

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...


def arg(*flags: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One argument, exactly as ``argparse.ArgumentParser.add_argument(*flags, **options)`` takes it."""
    return flags, options


class Command:
    """A subcommand: ``run(args) -> exit code``, given as a function or as ``"module:function"`` (imported
    only when the command runs)."""

    __slots__ = ("name", "run", "help", "args", "description", "epilog", "_spec")

    def __init__(self, name: str, run: Callable[[Args], int] | str, help: str,
                 args: list[tuple[tuple[str, ...], dict[str, Any]]], description: str | None = None,
                 epilog: str | None = None) -> None:
        self.name = name
        self.run = run
        self.help = help
        self.args = args
        self.description = description
        self.epilog = epilog
        self._spec: _Spec | None | bool = False  # False: not built yet; None: not for the fast path

    def function(self) -> Callable[[Args], int]:
        if isinstance(self.run, str):
            module, _, name = self.run.partition(":")
            self.run = getattr(__import__(module, fromlist=[name]), name)
        return self.run  # type: ignore[return-value]


#: Every subcommand, in the order ``--help`` lists them.
COMMANDS: dict[str, Command] = {}


def command(name: str, run: Callable[[Args], int] | str, help: str,
            *args: tuple[tuple[str, ...], dict[str, Any]], description: str | None = None,
            epilog: str | None = None) -> Command:
    """Register a subcommand: ``command("check", "dwarfunwind.check.cli:run", "help", arg("file", help=...))``.

    ``description`` (default: the help line) and ``epilog`` are shown by ``dwarfunwind NAME --help``.
    """
    COMMANDS[name] = Command(name, run, help, list(args), description, epilog)
    return COMMANDS[name]


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the whole command line, built from ``COMMANDS``."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            self.print_usage(sys.stderr)
            self.exit(2, f"{self.prog}: error: {cap_line(message)}\n")

    from . import __version__

    p = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-V", "--version", action="version", version=f"{PROG} {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands", parser_class=Parser,
                           help="what to do; \"dwarfunwind COMMAND --help\" lists its options")
    for cmd in COMMANDS.values():
        c = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help, epilog=cmd.epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        for flags, options in cmd.args:
            c.add_argument(*flags, **options)
    return p


class _Spec:
    """What the fast parser needs of one command: its options by flag, its positionals, the defaults."""

    __slots__ = ("options", "positionals", "defaults", "required")

    def __init__(self) -> None:
        self.options: dict[str, tuple[str, str, Any, Any]] = {}  # flag -> (dest, action, type, choices)
        self.positionals: list[tuple[str, bool, Any, Any]] = []  # (dest, optional, type, choices)
        self.defaults: dict[str, Any] = {}
        self.required: list[str] = []


_SIMPLE_OPTIONS = frozenset({"help", "metavar", "type", "default", "choices", "action", "dest", "nargs",
                             "required"})


def _spec(cmd: Command) -> _Spec | None:
    """The fast parser's view of ``cmd``, or None where an argument uses more of argparse than it knows."""
    spec = _Spec()
    for flags, options in cmd.args:
        if not flags or set(options) - _SIMPLE_OPTIONS:
            return None
        action = options.get("action", "store")
        kind = options.get("type")
        choices = options.get("choices")
        default = options.get("default")
        if flags[0][:1] != "-":  # a positional
            nargs = options.get("nargs")
            if len(flags) != 1 or action != "store" or nargs not in (None, "?") or "dest" in options:
                return None
            dest = flags[0]
            spec.positionals.append((dest, nargs == "?", kind, choices))
        else:
            if action not in ("store", "store_true", "store_false", "append") or "nargs" in options:
                return None
            if action == "append" and default is not None:
                return None  # argparse appends to a copy of the default: rare; leave it to argparse
            if not all(f[:1] == "-" and len(f) > 1 for f in flags):
                return None
            long = [f for f in flags if f[:2] == "--"]
            dest = options.get("dest") or (long[0][2:] if long else flags[0][1:]).replace("-", "_")
            for f in flags:
                spec.options[f] = (dest, action, kind, choices)
            if action == "store_true" and default is None:
                default = False
            elif action == "store_false" and default is None:
                default = True
            if options.get("required"):
                spec.required.append(dest)
        if isinstance(default, str) and kind is not None:
            return None  # argparse converts string defaults: rare; leave it to argparse
        spec.defaults[dest] = default
    return spec


def fast_parse(argv: Sequence[str]) -> Args | None:
    """``argv`` parsed from the command table, or None when argparse must (help, errors, unusual syntax).

    Accepts exactly: a command name, then full option names (``--json``, ``-n 5``, ``--max-frames=5``)
    and positionals. Whenever it returns a result, argparse would return the same (tests/test_cli_parse.py).
    """
    if not argv:
        return None
    cmd = COMMANDS.get(argv[0])
    if cmd is None:
        return None
    spec = cmd._spec
    if spec is False:
        spec = cmd._spec = _spec(cmd)
    if spec is None:
        return None
    assert isinstance(spec, _Spec)
    values = dict(spec.defaults)
    values["command"] = cmd.name
    seen: set[str] = set()
    positionals = iter(spec.positionals)
    i, n = 1, len(argv)
    while i < n:
        token = argv[i]
        i += 1
        if token[:1] == "-" and token != "-":
            flag, eq, value = token.partition("=") if token[:2] == "--" else (token, "", "")
            option = spec.options.get(flag)
            if option is None:
                return None  # -h, an abbreviation, -n5, --: argparse
            dest, action, kind, choices = option
            if action in ("store_true", "store_false"):
                if eq:
                    return None
                values[dest] = action == "store_true"
            else:
                if not eq:
                    if i >= n or argv[i][:1] == "-":
                        return None  # a missing value, or a negative number: argparse decides
                    value = argv[i]
                    i += 1
                converted = _convert(value, kind, choices)
                if converted is _BAD:
                    return None
                if action == "append":
                    values[dest] = [*(values[dest] or ()), converted]
                else:
                    values[dest] = converted
            seen.add(dest)
        else:
            slot = next(positionals, None)
            if slot is None:
                return None  # an extra argument: argparse's error
            dest, _, kind, choices = slot
            converted = _convert(token, kind, choices)
            if converted is _BAD:
                return None
            values[dest] = converted
    if any(not optional for _, optional, _, _ in positionals) or any(d not in seen for d in spec.required):
        return None  # a required argument is missing: argparse's error
    return Args(**values)


_BAD = object()


def _convert(text: str, kind: Any, choices: Any) -> Any:
    if kind is not None:
        try:
            value = kind(text)
        except Exception:
            return _BAD
    else:
        value = text
    if choices is not None and value not in choices:
        return _BAD
    return value


# -- cfi ---------------------------------------------------------------------------------------------


def _cfi_problem(file: str, problem: DwarfUnwindError) -> str:
    """One line naming the file: CFI errors name only the section and offset themselves."""
    from .errors import ELFError

    text = str(problem)
    return text if isinstance(problem, ELFError) or text.startswith(file) else f"{file}: {text}"


def cmd_cfi(args: Args) -> int:
    from .arch.x86_64 import column_name
    from .cfi.budget import Budget
    from .cfi.program import row_at, row_table
    from .cfi.rules import format_cfa, format_rule
    from .elf.module import ElfFile
    from .errors import BudgetExceeded

    elf = ElfFile.open(args.file)
    sections = elf.cfi_sections()
    problems: list[DwarfUnwindError] = list(elf.errors)
    if not sections:
        if problems:  # e.g. a section header table past the end: unreadable, as a non-ELF file is
            for line in dict.fromkeys(_cfi_problem(args.file, p) for p in problems):
                _err(line)
            return 2
        _err(f"{args.file}: no .eh_frame or .debug_frame section")
        return 1
    budget = Budget(args.file)

    def said(items: list[DwarfUnwindError], prefix: str = "") -> None:
        seen: set[str] = set()
        for p in items:
            line = _cfi_problem(args.file, p)
            if line not in seen:  # a CIE shared by many FDEs fails once, and is said once
                seen.add(line)
                _err(prefix + line)

    if args.address is not None:
        fde = elf.fde_for(args.address)
        problems.extend(e for e in elf.errors if e not in problems)
        for sec in sections:
            problems.extend(e for e in sec.index_errors if e not in problems)
        try:
            row = row_at(fde, args.address, budget) if fde is not None else None
        except DwarfUnwindError as e:  # the same exit code as `cfi` for the same bad entry
            problems.append(e)
            row = None
        if row is None:
            said(problems)
            if fde is None:
                _err(f"{args.file}: no FDE covers {args.address:#x}")
            return 1
        assert fde is not None
        ra = fde.cie.return_address_register
        regs = {column_name(r, ra): format_rule(rule) for r, rule in sorted(row.regs.items())}
        if args.json:
            import json

            print(json.dumps({"file": args.file, "section": fde.section, "fde": {
                "offset": fde.offset, "pc_begin": fde.pc_begin, "pc_end": fde.pc_end,
                "signal_frame": fde.signal_frame, "return_address_register": ra},
                "row": {"loc": row.loc, "end": row.end, "cfa": format_cfa(row.cfa), "regs": regs}}))
        else:
            print(f"{fde.section} FDE at {fde.offset:#x} pc={fde.pc_begin:x}..{fde.pc_end:x}"
                  f"{' (signal frame)' if fde.signal_frame else ''}")
            print(f"row {row.loc:x}..{row.end:x}: CFA={format_cfa(row.cfa)} "
                  + " ".join(f"{k}={v}" for k, v in regs.items()))
            # The expressions of the row, disassembled (readelf -wf shows them with the instructions).
            exprs = [("CFA", row.cfa.expression)] + [(column_name(r, ra), rule.arg) for r, rule in
                                                     sorted(row.regs.items()) if isinstance(rule.arg, bytes)]
            for name, expr in exprs:
                if expr is not None:
                    from .cfi.expr import disassemble

                    try:
                        text = disassemble(expr)
                    except DwarfUnwindError as e:
                        text = f"<{e}>"
                    print(f"  {name}: {text}")
        said(problems)
        return 1 if problems else 0

    from .report import fde_json, fde_text

    # Gathered and written in large pieces: stdout may be unbuffered (PYTHONUNBUFFERED), and
    # thousands of small writes would then cost more than the decoding; pieces of ~1 MiB keep
    # memory bounded whatever the output's size.
    out: list[str] = []
    pending = 0

    def write(text: str) -> None:
        nonlocal pending
        out.append(text)
        pending += len(text)
        if pending > 1 << 20:
            flush()

    def flush() -> None:
        nonlocal pending
        sys.stdout.write("".join(out))
        out.clear()
        pending = 0

    render = fde_json if args.json else fde_text
    between = "," if args.json else ""
    exhausted: BudgetExceeded | None = None
    warnings: list[DwarfUnwindError] = []
    if args.json:
        # Section by section; each FDE is one JSON fragment (see report.fde_json).
        write(f'{{"file":{_json_string(args.file)},"sections":[')
    for i, section in enumerate(sections):
        if exhausted is not None:
            break
        errors: list[Any] = []
        if args.json:
            write(f'{"," if i else ""}{{"name":{_json_string(section.name)},"fdes":[')
        else:
            write(f"Contents of the {section.name} section:\n\n")
        separator = ""  # JSON fragments are separated by commas; text tables end with a blank line
        for fde in section.fdes(errors):
            try:
                table = row_table(fde, budget)
            except BudgetExceeded as e:
                exhausted = e  # everything before is served; the rest of the file is not decoded
                break
            except DwarfUnwindError as e:
                errors.append(e)
                continue
            # The FDE loop of write(), inlined: one call less for each of thousands of FDEs.
            text = render(fde, table)
            out.append(separator + text if separator else text)
            separator = between
            pending += len(text)
            if pending > 1 << 20:
                flush()
        if args.json:
            write("]}")
        problems.extend(section.index_errors)  # a broken .eh_frame_hdr: said, though every entry is listed
        problems.extend(errors)
        warnings.extend(section.warnings)
    if args.json:
        write("]}\n")
    sys.stdout.write("".join(out))
    said(warnings, "warning: ")
    said(problems)
    if exhausted is not None:
        _err(f"{exhausted}; the output stops there")
    return 1 if problems or exhausted is not None else 0


# -- unwind ------------------------------------------------------------------------------------------


def _open_program(args: Args) -> Program:
    from .program import Program

    if args.pid is not None:
        if args.target:
            raise SystemExit(_usage_error("give either a core/snapshot or --pid, not both"))
        return Program.from_pid(args.pid)
    if not args.target:
        raise SystemExit(_usage_error("give a core file, a snapshot, or --pid PID"))
    return Program.open(args.target, exe=args.exe, sysroot=args.sysroot)


def _usage_error(message: str) -> int:
    _err(message)
    return 2


def _download_progress(what: str, done: int, total: int | None) -> None:
    """debuginfod downloads on a terminal: one line, rewritten."""
    size = f"{done >> 10} KiB" + (f" of {total >> 10} KiB" if total else "")
    sys.stderr.write(f"\r{PROG}: fetching {what} from debuginfod: {size}\x1b[K")
    if total is not None and done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_unwind(args: Args) -> int:
    from .report import compare_lines, trace_lines, traces_json

    max_frames = args.max_frames or UNLIMITED_FRAMES
    if args.debuginfod or sys.stderr.isatty():
        from .symbolize import debuginfod

        debuginfod.configure(args.debuginfod, _download_progress if sys.stderr.isatty() else None)
    inline = args.inline or args.source
    # Names and lines come after the walk, from the module files only: a live process is not
    # kept stopped while debug info is read and names demangled.
    words = {"inline": False, "demangle": False}
    with _open_program(args) as program:
        tids = [args.thread] if args.thread is not None else None
        if args.thread is not None and all(t.tid != args.thread for t in program.threads()):
            _err(f"{program.target.name}: no thread {args.thread}")
            return 2
        fp: list[StackTrace] = []
        if args.method == "compare":
            traces = program.stack_traces(method="dwarf", max_frames=max_frames, tids=tids, **words)
            fp = program.stack_traces(method="fp", max_frames=max_frames, tids=tids, **words)
        else:
            traces = program.stack_traces(method=args.method, max_frames=max_frames, tids=tids, **words)
        if args.save:
            _save(program, traces, args.save)
    program.annotate(traces + fp, inline=inline, demangle=not args.no_demangle)
    problems = program.problems_for(traces + fp)
    marks = _verify(traces) if args.verify else []
    # Printed after the with block: a live process is detached and running again by now.
    for problem in problems:
        _err(problem)
    if args.json:
        # Thread by thread, in chunks of about 1 MB (report.traces_json): the same text as
        # json.dumps of the whole document.
        verify = [{"tid": tid, "frame": f.index, "pc": f.pc, "message": why} for tid, f, why in marks] \
            if args.verify else None
        for chunk in traces_json(traces, fp if args.method == "compare" else None, source=args.source,
                                 inline=inline, verify=verify):
            sys.stdout.write(chunk)
    else:
        out = []
        for i, t in enumerate(traces):
            out.extend(compare_lines(t, fp[i], registers=args.registers, source=args.source)
                       if args.method == "compare" else
                       trace_lines(t, registers=args.registers, source=args.source, inline=inline))
            out.append("")
        sys.stdout.write("\n".join(out))
    for tid, f, why in marks:
        _err(f"thread {tid} frame #{f.index} ({f.symbol() or hex(f.pc)}): check finds its CFI row wrong here "
             f"({why}); the frames above it are not reliable")
    if not traces or all(len(t.frames) == 0 for t in traces):
        return 2
    return 0 if all(t.complete for t in traces) and not marks else 1


def _verify(traces: list[StackTrace]) -> list[tuple[int, Any, str]]:
    """(tid, frame, reason) for frames whose CFI row ``check`` finds wrong (``unwind --verify``)."""
    from .check.verify import Verifier

    verifier = Verifier()
    return [(t.thread.tid, f, why) for t in traces for f, why in verifier.marks(t.frames)]


def _save(program: Program, traces: list[StackTrace], path: str) -> None:
    """Write a snapshot holding every byte the walk read, plus the default stack ranges."""
    # Each thread is walked again through a recording target only as far as its trace went
    # (so -n 0 and the frame budget hold): the snapshot replays exactly this walk.
    program.save_snapshot(path, traces)


# -- demo --------------------------------------------------------------------------------------------


def cmd_demo(args: Args) -> int:
    from .demo import report, run_scenarios

    lines, ok = report(run_scenarios())
    print("\n".join(lines))
    return 0 if ok else 1


# -- fuzz --------------------------------------------------------------------------------------------


def cmd_fuzz(args: Args) -> int:
    try:
        from .testing.runner import PROPERTY_NAMES, run
    except ImportError as e:  # hypothesis and construct are dependencies: a broken installation
        _err(f"fuzz cannot import its dependencies ({e}); reinstall dwarfunwind")
        return 2
    if args.property is not None and args.property not in PROPERTY_NAMES:
        _err(f"unknown property {args.property!r}; one of: {', '.join(PROPERTY_NAMES)}")
        return 2
    tty = sys.stderr.isatty()

    def progress(name: str, done: int, total: int) -> None:
        # A one-line bar on a terminal; a line per property otherwise (CI logs).
        if tty:
            width = 30
            filled = min(width, width * done // max(total, 1))
            sys.stderr.write(f"\r{name:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif done == 0:
            print(f"{name}: {total} examples", file=sys.stderr)

    summary = run(args.examples, args.seed, args.property, progress)
    if tty:
        sys.stderr.write("\n")
    print(summary.format())
    print(f"\n{len(summary.results) - len(summary.failed)}/{len(summary.results)} properties held "
          f"in {summary.duration:.1f} s (seed {summary.seed})")
    return 0 if summary.ok else 1


# -- main --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    _escape_streams()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = fast_parse(argv)
    if args is None:
        args = build_parser().parse_args(argv, namespace=Args())
    try:
        return int(COMMANDS[args.command].function()(args))
    except DwarfUnwindError as e:
        _err(str(e))
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return 0


def run() -> NoReturn:
    """The program (``python -m dwarfunwind``, the ``dwarfunwind`` script): :func:`main`, then exit.

    The interpreter's own teardown frees every object one by one (a ``perf`` run's caches and
    frames: 0-5% of a 1,000-sample run, bench/README.md). It has nothing else to do by then: files
    are closed by their ``with`` blocks and live processes detached before ``main`` returns. So
    the exit handlers run (executors, ``weakref.finalize``), the streams are flushed, and the
    process ends. With a thread still running (none of ours: a library's) it exits normally.
    """
    import os

    code = main()
    threading = sys.modules.get("threading")  # (not imported: no thread was started through it)
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: what it got is all it gets
            pass
    os._exit(code)


# -- the commands ------------------------------------------------------------------------------------
# To add a subcommand, put its code in its own module and register it here:
#     command("check", "dwarfunwind.check.cli:run", "hold CFI against the machine code",
#             arg("file", help="an ELF file"), arg("--json", action="store_true", help="..."))
# run(args) returns the exit code; args has one attribute per argument (argparse's dest). Give run
# as "module:function" so that the module is imported only when the command runs. An option for an
# existing command is one more arg(...) line in its entry. Every argument gets a help line
# (tests/test_cli_parse.py checks). The fast parser knows actions store/store_true/store_false/append, type,
# choices, default, metavar, required, dest, and positionals with nargs None or "?"; a command using
# anything else of argparse is parsed by argparse alone (correct, a few ms slower to start).

command("cfi", cmd_cfi, "decode the CFI of an ELF file into unwind rows (readelf -wF style)",
        arg("file", help="an ELF file: executable, shared library, object or separate debug file"),
        arg("--address", type=address, metavar="ADDR",
            help="print only the row governing this address (the file's own address, unrelocated)"),
        arg("--json", action="store_true", help="machine-readable output (schema in README.md)"))

command("unwind", cmd_unwind, "backtrace every thread of a core, a snapshot or a live process",
        arg("target", nargs="?", metavar="CORE|SNAPSHOT",
            help="a core file, or a snapshot written by --save (or give --pid)"),
        arg("--pid", "-p", type=thread_id, help="a live process: attached read-only, detached and left running"),
        arg("--exe", "-e", metavar="EXE", help="the executable, when the core's path to it is wrong or missing"),
        arg("--sysroot", metavar="DIR",
            help="find the core's modules under this directory (a core from another machine)"),
        arg("--method", choices=("dwarf", "fp", "compare"), default="dwarf",
            help="dwarf: CFI, with frame pointers where a frame has none (default); fp: rbp chain only; "
                 "compare: both side by side"),
        arg("--registers", action="store_true", help="print every register known in each frame"),
        arg("--source", action="store_true",
            help="source file:line of each frame and of its inlined calls, from DWARF (implies --inline)"),
        arg("--inline", action="store_true", help="show the calls inlined at each frame's pc"),
        arg("--no-demangle", action="store_true", help="show C++ and Rust names as in the symbol table"),
        arg("--debuginfod", metavar="URL",
            help="fetch missing debug files by build-id from this server (before DEBUGINFOD_URLS)"),
        arg("--json", action="store_true", help="machine-readable output (schema in README.md)"),
        arg("--max-frames", "-n", type=frame_count, default=4096, metavar="N",
            help="stop each thread after N frames (default 4096; 0: no limit, as eu-stack)"),
        arg("--thread", type=thread_id, metavar="TID", help="only this thread"),
        arg("--save", metavar="FILE", help="also write a snapshot that replays this walk"),
        arg("--verify", action="store_true",
            help="check each frame's CFI row against the machine code (docs/check.md); a frame whose row "
                 "is wrong is reported and the trace is not reliable (exit 1)"))

command("demo", cmd_demo, "the seed scenario: cross an exception frame with CFI vs frame pointers")

command("fuzz", cmd_fuzz, "run the CFI property suite (hypothesis) and summarize",
        arg("--examples", type=positive, default=100, metavar="N", help="examples per property (default 100)"),
        arg("--seed", type=seed, help="hypothesis seed, to replay a run"),
        arg("--property", metavar="NAME", help="run only this property (roundtrip, unwind, equivalent_encodings, "
                                               "readelf, gnu_as, pyelftools, robustness, budget)"))

command("check", "dwarfunwind.check.cli:run",
        "hold each FDE's rows against the machine code it describes (objtool-style)",
        arg("files", nargs="+", metavar="FILE", help="ELF executables or shared libraries"),
        arg("--json", action="store_true", help="machine-readable output (schema in docs/check.md)"),
        arg("--function", metavar="NAME", help="check only the FDE(s) starting at this symbol"),
        arg("--address", type=address, metavar="ADDR", help="check only the FDE covering this address"),
        arg("--notes", action="store_true",
            help="also print notes (not checkable from here; FUNC symbols without FDE)"),
        description="Follow every path through each FDE's code with an abstract machine (CFA, saved "
                    "registers) and report each instruction where the CFI row in force disagrees. "
                    "Exit codes: 0 clean, 1 findings, 2 unreadable input. See docs/check.md.")

from .perf.cli import register as _register_perf  # noqa: E402  (perf, batch: run functions load on use)

_register_perf(command, arg)
