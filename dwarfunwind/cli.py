"""Command line: ``python -m dwarfunwind {cfi,unwind,demo,fuzz} ...``.

The only module that prints. Errors from the package arrive as
DwarfUnwindError and are printed on one line each; nothing else escapes as a
traceback except a genuine bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from .errors import DwarfUnwindError

if TYPE_CHECKING:  # imported lazily at run time: each subcommand loads only what it needs
    from .program import Program
    from .unwind.frame import StackTrace


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _err(message: str) -> None:
    print(f"dwarfunwind: {message}", file=sys.stderr)


# -- cfi ---------------------------------------------------------------------------------------------


def cmd_cfi(args: argparse.Namespace) -> int:
    from .arch.x86_64 import register_name
    from .cfi.program import row_at, row_table
    from .cfi.rules import format_cfa, format_rule
    from .elf.module import ElfFile

    elf = ElfFile.open(args.file)
    sections = elf.cfi_sections()
    problems: list[DwarfUnwindError] = list(elf.errors)
    if not sections and not problems:
        _err(f"{args.file}: no .eh_frame or .debug_frame section")
        return 1

    if args.address is not None:
        fde = elf.fde_for(args.address)
        problems.extend(e for e in elf.errors if e not in problems)
        if fde is None:
            for p in problems:
                _err(str(p))
            _err(f"{args.file}: no FDE covers {args.address:#x}")
            return 1
        row = row_at(fde, args.address)
        regs = {register_name(r): format_rule(rule) for r, rule in sorted(row.regs.items())}
        if args.json:
            print(json.dumps({"file": args.file, "section": fde.section, "fde": {
                "offset": fde.offset, "pc_begin": fde.pc_begin, "pc_end": fde.pc_end,
                "signal_frame": fde.signal_frame},
                "row": {"loc": row.loc, "end": row.end, "cfa": format_cfa(row.cfa), "regs": regs}}))
        else:
            print(f"{fde.section} FDE at {fde.offset:#x} pc={fde.pc_begin:x}..{fde.pc_end:x}"
                  f"{' (signal frame)' if fde.signal_frame else ''}")
            print(f"row {row.loc:x}..{row.end:x}: CFA={format_cfa(row.cfa)} "
                  + " ".join(f"{k}={v}" for k, v in regs.items()))
        return 0

    from .report import fde_json, fde_text

    # Gathered and written once: stdout may be unbuffered (PYTHONUNBUFFERED), and thousands of
    # small writes would then cost more than the decoding.
    out: list[str] = []
    write = out.append
    if args.json:
        # Section by section; each FDE is one JSON fragment (see report.fde_json).
        write(f'{{"file":{json.dumps(args.file)},"sections":[')
    for i, section in enumerate(sections):
        errors: list[Any] = []
        if args.json:
            write(f'{"," if i else ""}{{"name":{json.dumps(section.name)},"fdes":[')
        else:
            write(f"Contents of the {section.name} section:\n\n")
        first = True
        for fde in section.fdes(errors):
            try:
                table = row_table(fde)
            except DwarfUnwindError as e:
                errors.append(e)
                continue
            if args.json:
                write(fde_json(fde, table) if first else "," + fde_json(fde, table))
                first = False
            else:
                write(fde_text(fde, table))
        if args.json:
            write("]}")
        problems.extend(errors)
    if args.json:
        write("]}\n")
    sys.stdout.write("".join(out))
    for p in problems:
        _err(str(p))
    return 1 if problems else 0


# -- unwind ------------------------------------------------------------------------------------------


def _open_program(args: argparse.Namespace) -> Program:
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


def cmd_unwind(args: argparse.Namespace) -> int:
    from .report import compare_lines, trace_lines, trace_to_dict

    with _open_program(args) as program:
        tids = [args.thread] if args.thread is not None else None
        if args.thread is not None and all(t.tid != args.thread for t in program.threads()):
            _err(f"{program.target.name}: no thread {args.thread}")
            return 2
        if args.method == "compare":
            dwarf = program.stack_traces(method="dwarf", max_frames=args.max_frames, tids=tids)
            fp = program.stack_traces(method="fp", max_frames=args.max_frames, tids=tids)
            traces = dwarf
        else:
            traces = program.stack_traces(method=args.method, max_frames=args.max_frames, tids=tids)
        if args.save:
            _save(program, traces, args.save)
        problems = program.problems
    # Printed after the with block: a live process is detached and running again by now.
    for problem in problems:
        _err(problem)
    if args.json:
        doc: dict[str, Any] = {"threads": [trace_to_dict(t, source=args.source) for t in traces]}
        if args.method == "compare":
            doc["fp_threads"] = [trace_to_dict(t, source=args.source) for t in fp]
        print(json.dumps(doc))
    else:
        out = []
        for i, t in enumerate(traces):
            out.extend(compare_lines(t, fp[i]) if args.method == "compare" else
                       trace_lines(t, registers=args.registers, source=args.source))
            out.append("")
        sys.stdout.write("\n".join(out))
    if not traces or all(len(t.frames) == 0 for t in traces):
        return 2
    return 0 if all(t.complete for t in traces) else 1


def _save(program: Program, traces: list[StackTrace], path: str) -> None:
    """Write a snapshot holding every byte the walk read, plus the default stack ranges."""
    from .targets.recording import RecordingTarget
    from .targets.snapshot import save_snapshot
    from .unwind.engine import Unwinder

    # Walk again through a recording target so the snapshot replays exactly this walk.
    recorder = RecordingTarget(program.target)
    unwinder = Unwinder(recorder, program.modules)
    for t in traces:
        unwinder.unwind_thread(t.thread, method=t.method)
        unwinder.unwind_thread(t.thread, method="fp")
    for m in program.modules.modules:
        if m.path == "[vdso]":
            recorder.read_memory(m.start, m.end - m.start)
    save_snapshot(program.target, path, recorder.ranges())


# -- demo --------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import report, run_scenarios

    lines, ok = report(run_scenarios())
    print("\n".join(lines))
    return 0 if ok else 1


# -- fuzz --------------------------------------------------------------------------------------------


def cmd_fuzz(args: argparse.Namespace) -> int:
    try:
        from .testing.runner import PROPERTY_NAMES, run
    except ImportError as e:  # hypothesis and construct come with the "test" extra
        _err(f"fuzz needs the test extra (pip install 'dwarfunwind[test]'): {e}")
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dwarfunwind", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("cfi", help="decode the CFI of an ELF file into unwind rows (readelf -wF style)")
    c.add_argument("file")
    c.add_argument("--address", type=_int, help="print only the row governing this address (unrelocated)")
    c.add_argument("--json", action="store_true", help="machine-readable output (see README for the schema)")
    c.set_defaults(func=cmd_cfi)

    u = sub.add_parser("unwind", help="backtrace every thread of a core, a snapshot or a live process")
    u.add_argument("target", nargs="?", help="core file or snapshot")
    u.add_argument("--pid", "-p", type=int, help="attach to a live process (read-only; it keeps running)")
    u.add_argument("--exe", "-e", help="the executable, when the core's path to it is wrong or missing")
    u.add_argument("--sysroot", help="find the core's modules under this directory (a core from another machine)")
    u.add_argument("--method", choices=("dwarf", "fp", "compare"), default="dwarf",
                   help="dwarf: CFI, with frame pointers where a frame has none (default); fp: rbp chain only; "
                        "compare: both side by side")
    u.add_argument("--registers", action="store_true", help="print every register known in each frame")
    u.add_argument("--source", action="store_true", help="source file:line of each frame, from DWARF line tables")
    u.add_argument("--json", action="store_true", help="machine-readable output (see README for the schema)")
    u.add_argument("--max-frames", "-n", type=int, default=4096, help="stop each thread after N frames (4096)")
    u.add_argument("--thread", type=int, metavar="TID", help="only this thread")
    u.add_argument("--save", metavar="FILE", help="also write a snapshot that replays this walk")
    u.set_defaults(func=cmd_unwind)

    d = sub.add_parser("demo", help="the seed scenario: cross an exception frame with CFI vs frame pointers")
    d.set_defaults(func=cmd_demo)

    f = sub.add_parser("fuzz", help="run the CFI property suite (hypothesis) and summarize")
    f.add_argument("--examples", type=int, default=100, help="examples per property (100)")
    f.add_argument("--seed", type=int, help="hypothesis seed, to replay a run")
    f.add_argument("--property", help="run only this property (roundtrip, unwind, equivalent_encodings, "
                                      "readelf, gnu_as, pyelftools, robustness)")
    f.set_defaults(func=cmd_fuzz)

    from .perf.cli import add_batch_parser
    from .perf.cli import add_parser as add_perf_parser

    add_perf_parser(sub)
    add_batch_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except DwarfUnwindError as e:
        _err(str(e))
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return 0
