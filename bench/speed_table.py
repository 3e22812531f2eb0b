#!/usr/bin/env python3
"""The README's Speed table, from the figures bench_cfi.py and bench_unwind.py wrote (``--json-out``).

    python bench/bench_cfi.py --largest --baseline REV --json-out cfi.json
    python bench/bench_unwind.py --baseline REV --json-out unwind.json
    python bench/speed_table.py cfi.json unwind.json [--update README.md]

Prints the markdown table; with ``--update`` it replaces the table between the
``<!-- speed-table -->`` and ``<!-- /speed-table -->`` markers of that file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

BEGIN, END = "<!-- speed-table -->", "<!-- /speed-table -->"
OURS_CFI = "python -m dwarfunwind cfi --json"
READELF = "readelf --debug-dump=frames-interp"
PYELF = "pyelftools get_decoded() per entry"


def _find(rows: dict, prefix: str) -> dict | None:
    return next((v for k, v in rows.items() if k.startswith(prefix)), None)


def _s(row: dict) -> str:
    return f"{row['median']:.3f} s ({row['min']:.3f}-{row['max']:.3f}; CPU {row['cpu']:.3f})"


def rows(cfi: dict, unwind: dict) -> list[str]:
    out = ["| what | dwarfunwind: median (min-max; CPU) | before | compared with | ratio (wall; CPU) | goal |",
           "|---|---|---|---|---|---|"]
    files = list(cfi["files"].items())
    (libc, r), rest = files[0], files[1:]
    ours, readelf, pyelf = r[OURS_CFI], r.get(READELF), r.get(PYELF)
    before = _find(r, "same, at")
    ratio = ours["median"] / readelf["median"]
    cratio = ours["cpu"] / readelf["cpu"]
    faster = pyelf["median"] / ours["median"] if pyelf else float("nan")
    out.append(f"| `cfi --json` of {os.path.basename(libc)} | {_s(ours)} | "
               f"{_s(before) if before else '-'} | readelf {_s(readelf)}; pyelftools {pyelf['median']:.3f} s | "
               f"{ratio:.2f}x; {cratio:.2f}x readelf; {faster:.1f}x faster than pyelftools | "
               f"<= 3x / >= 10x: {'met' if ratio <= 3 and faster >= 10 else 'not met'} |")
    for path, r in rest:
        ours, readelf = r[OURS_CFI], r.get(READELF)
        before = _find(r, "same, at")
        mem = ours["rss_mb"] / readelf["rss_mb"]
        was = f"{before['rss_mb']:.1f} MB; {_s(before)}" if before else "-"
        out.append(f"| peak RSS of `cfi --json`, {os.path.basename(path)} (largest library) | "
                   f"{ours['rss_mb']:.1f} MB; {_s(ours)} | {was} | readelf {readelf['rss_mb']:.1f} MB, "
                   f"{_s(readelf)} | {mem:.2f}x readelf's RSS | <= 3x: {'met' if mem <= 3 else 'not met'} |")
    look = cfi.get("lookups")
    if look:
        out.append(f"| row for a random libc address, file open | {look['median_us']:.1f} us median "
                   f"(p99 {look['p99_us']:.1f} us) | | | | |")
    c = unwind["c_threads"]
    ours, gdb, eu = _find(c, "python -m dwarfunwind"), _find(c, "gdb"), _find(c, "eu-stack")
    before = _find(c, "same, at")
    ratio = ours["median"] / gdb["median"]
    out.append(f"| `unwind` of a 24-frame, 4-thread core | {_s(ours)} | {_s(before) if before else '-'} | "
               f"gdb {_s(gdb)}; eu-stack {eu['median']:.4f} s | {ratio:.2f}; {ours['cpu'] / gdb['cpu']:.2f} of gdb | "
               f"<= 0.25 of gdb: {'met' if ratio <= 0.25 else 'not met'} |")
    p = unwind["python_core"]
    ours, gdb, eu = _find(p, "python -m dwarfunwind"), _find(p, "gdb"), _find(p, "eu-stack")
    before = _find(p, "same, at")
    out.append(f"| `unwind` of a 1,499-frame python3 core | {_s(ours)} | {_s(before) if before else '-'} | "
               f"eu-stack {eu['median']:.3f} s; gdb {gdb['median']:.3f} s | {ours['median'] / eu['median']:.2f} "
               f"of eu-stack | faster than eu-stack: {'met' if ours['median'] < eu['median'] else 'not met'} |")
    w = unwind["warm"]["python3 recursion"]
    base = next((v for k, v in w.items() if k != "ours"), None)
    us = w["ours"]["per_frame_us"]
    was = f"{base['per_frame_us']:.1f} us/frame" if base else "-"
    out.append(f"| warm walk of the python3 core (modules open, as a profiler; CPU time) | {us:.1f} us/frame | "
               f"{was} | | | < 8 us: {'met' if us < 8 else 'not met'} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cfi_json")
    ap.add_argument("unwind_json")
    ap.add_argument("--update", metavar="README")
    args = ap.parse_args()
    with open(args.cfi_json) as f:
        cfi = json.load(f)
    with open(args.unwind_json) as f:
        unwind = json.load(f)
    baseline = unwind.get("baseline")
    # bench_cfi.py names its baseline only in its row label ("same, at REV"); the two files may come
    # from runs against different revisions (one part re-measured after a change of its own).
    cfi_rows = next(iter(cfi["files"].values()), {})
    cfi_baseline = next((k.removeprefix("same, at ").strip() for k in cfi_rows if k.startswith("same, at")), None)
    if cfi_baseline and baseline and cfi_baseline != baseline:
        baseline = f"{cfi_baseline} (cfi rows) and {baseline} (unwind rows)"
    head = (f"Interpreter: {cfi['interpreter']}. Machine: {cfi['machine']}. Whole processes interleaved "
            f"with the tools they are compared with; \"before\" is the same command at {baseline}." if baseline else
            f"Interpreter: {cfi['interpreter']}. Machine: {cfi['machine']}.")
    text = "\n".join([head, "", *rows(cfi, unwind)])
    print(text)
    if args.update:
        with open(args.update) as f:
            readme = f.read()
        if BEGIN not in readme or END not in readme:
            print(f"{args.update}: no {BEGIN} ... {END} markers", file=sys.stderr)
            return 1
        start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
        with open(args.update, "w") as f:
            f.write(readme[:start] + "\n" + text + "\n" + readme[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
