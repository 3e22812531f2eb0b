"""``python -m dwarfunwind perf perf.data`` and ``batch FILE...``: arguments and output (CLI layer: it prints)."""

from __future__ import annotations

import sys

from ..errors import DwarfUnwindError

TYPE_CHECKING = False
if TYPE_CHECKING:  # this module is imported by every CLI run: nothing heavy at import time
    from collections.abc import Callable
    from typing import Any

    from ..cli import Args


def register(command: Callable[..., Any], arg: Callable[..., Any]) -> None:
    """Add ``perf`` and ``batch`` to the command table of dwarfunwind.cli (run functions imported on use)."""
    command("perf", "dwarfunwind.perf.cli:cmd_perf",
            "unwind the samples of `perf record --call-graph dwarf` (perf.data)",
            arg("file", help="perf.data (or - for `perf record -o -` on stdin)"),
            arg("--pid", type=int, action="append", help="only this process (repeatable)"),
            arg("--comm", action="append", help="only processes with this command name (repeatable)"),
            arg("--max-samples", type=int, metavar="N", help="stop after N samples"),
            arg("--max-frames", "-n", type=int, default=4096, metavar="N",
                help="stop each walk after N frames (default 4096; 0: no limit)"),
            arg("--sysroot", metavar="DIR", help="find the recorded modules under this directory"),
            arg("--json", action="store_true", help="one JSON document, a record per sample (docs/perf.md)"),
            arg("--folded", action="store_true", help="collapsed stacks (flamegraph.pl, speedscope, inferno)"),
            arg("--flamegraph", metavar="SVG", help="also write an interactive SVG flame graph"))
    command("batch", "dwarfunwind.perf.cli:cmd_batch",
            "unwind many cores, snapshots and perf.data files in parallel",
            arg("files", nargs="+", metavar="FILE", help="cores, snapshots, perf.data files"),
            arg("--jobs", "-j", type=int, metavar="N", help="worker processes (default: all cores)"),
            arg("--json", action="store_true",
                help="one document per line, each what `unwind --json` / `perf --json` prints for that file"),
            arg("--sysroot", metavar="DIR", help="find the inputs' modules under this directory"),
            arg("--max-frames", "-n", type=int, default=4096, metavar="N",
                help="stop each walk after N frames (default 4096; 0: no limit)"))


class _Progress:
    """A one-line bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.on = sys.stderr.isatty() and total > 0
        self.total = total
        self.last = -1
        self.drawn = 0  # the sample count last drawn

    def update(self, done: int, samples: int) -> None:
        if not self.on:
            return
        pct = min(100, 100 * done // self.total)
        if pct > self.last:  # samples come in time order, not file order: never step back
            self.last = pct
            self._draw(pct, samples)

    def _draw(self, pct: int, samples: int) -> None:
        self.drawn = samples
        bar = "#" * (pct * 30 // 100)
        sys.stderr.write(f"\rperf: [{bar:<30}] {pct:3d}% {samples} samples")
        sys.stderr.flush()

    def end(self, samples: int) -> None:
        if self.on and self.last >= 0:
            # The final count, once: a round's samples are sorted by time, so the file offset (the
            # bar) may reach its last percent long before the last sample of the round.
            if samples != self.drawn:
                self._draw(self.last, samples)
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def cmd_perf(args: Args) -> int:
    from collections import Counter

    from .output import add_folded, document_head, document_tail, folded_text, sample_json, sample_text
    from .reader import PerfData
    from .session import PerfUnwinder

    if args.max_samples is not None and args.max_samples < 0 or args.max_frames < 0:
        print("dwarfunwind: --max-samples and --max-frames must be >= 0", file=sys.stderr)
        return 2
    if args.json and args.folded:
        print("dwarfunwind: give --json or --folded, not both", file=sys.stderr)
        return 2
    data = PerfData.open(args.file)
    unwinder = PerfUnwinder(data, pids=args.pid, comms=args.comm, max_frames=args.max_frames or sys.maxsize,
                            sysroot=args.sysroot)
    progress = _Progress(data._data_end - data._data_start)
    error: str | None = None
    count = 0
    folded: Counter[str] = Counter()
    want_folded = args.folded or args.flamegraph
    write = sys.stdout.write
    if args.json:
        write(document_head(args.file))

    try:
        if args.max_samples != 0:
            buf: list[str] = []
            size = 0
            lines: dict[object, str] = {}
            stacks: dict[object, str] = {}  # (folded stacks' callers: a dict of their own)
            records: dict[object, str] = {}  # (and JSON records' callers)
            # Looked up once, not per sample.
            limit, json_out, text_out = args.max_samples, args.json, not args.json and not args.folded
            update, start = progress.update if progress.on else None, data._data_start
            for u in unwinder.samples():
                count += 1
                if want_folded:
                    add_folded(u, folded, stacks)
                if json_out or text_out:
                    if json_out:
                        text = ("," if count > 1 else "") + sample_json(u, records)
                    else:
                        text = sample_text(u, lines)
                    buf.append(text)
                    size += len(text)
                    # Written in batches (stdout may be unbuffered) of about 64 KiB: much larger strings
                    # are fresh memory from the system each time (malloc maps them): page faults, zeroing.
                    if size >= 1 << 16:
                        write("".join(buf))
                        buf.clear()
                        size = 0
                if update is not None:
                    update(u.sample.offset - start, count)
                if limit is not None and count >= limit:
                    break
            write("".join(buf))
    except DwarfUnwindError as e:
        error = str(e)
    finally:
        progress.end(count)
    problems = unwinder.problems
    if args.json:
        write(document_tail(problems, error) + "\n")
    elif args.folded:
        write(folded_text(folded))
    sys.stdout.flush()
    if args.flamegraph:
        from .flamegraph import render

        title = f"{args.file}: {count} samples" + (f" ({' '.join(data.cmdline)})" if data.cmdline else "")
        try:
            with open(args.flamegraph, "w") as f:
                f.write(render(folded, title=title))
        except OSError as e:
            problems.append(f"{args.flamegraph}: {e.strerror or e}")
            error = error or f"{args.flamegraph}: could not write the flame graph"
    for p in problems:
        print(f"dwarfunwind: {p}", file=sys.stderr)
    unwinder.close()
    data.close()
    if error is not None:
        print(f"dwarfunwind: {error}", file=sys.stderr)
        return 1 if count else 2
    return 0


# -- batch ---------------------------------------------------------------------------------------------


def _summary(result: object) -> list[str]:
    doc = result.document()  # type: ignore[attr-defined]
    if "threads" in doc:
        lines = []
        for t in doc["threads"]:
            top = next((f["function"] for f in t["frames"] if f["function"]), "??")
            lines.append(f"  thread {t['tid']}: {len(t['frames'])} frames (top: {top}), stop: {t['stop_reason']}"
                         f"{'; reliable' if t['reliable'] else ''}")
        return lines
    samples = doc.get("samples", [])
    frames = sum(len(s["frames"]) for s in samples)
    return [f"  {len(samples)} samples, {frames} frames, {len({s['pid'] for s in samples})} processes"]


def cmd_batch(args: Args) -> int:
    from ..batch import unwind_many

    if args.jobs is not None and args.jobs < 1 or args.max_frames < 0:
        print("dwarfunwind: --jobs must be >= 1 and --max-frames >= 0", file=sys.stderr)
        return 2
    failed = 0
    for result in unwind_many(args.files, jobs=args.jobs, sysroot=args.sysroot, max_frames=args.max_frames):
        if result.error is not None:
            failed += 1
            print(f"dwarfunwind: {result.error}", file=sys.stderr)
        if args.json:
            sys.stdout.write(result.to_json() + "\n")
        else:
            sys.stdout.write("\n".join([f"== {result.input}: {'error' if result.error else 'ok'}",
                                         *(_summary(result) if result.error is None or result.kind == "perf"
                                           else [])]) + "\n")
        sys.stdout.flush()
    return 1 if failed else 0
