#!/usr/bin/env python3
"""Whole-system differential run: ``dwarfunwind cfi --json`` vs ``readelf --debug-dump=frames-interp``.

Compares every row of every FDE of every x86-64 ELF file with CFI under the
given roots (default: /usr/lib/x86_64-linux-gnu /usr/lib/debug /usr/bin).
Prints the files, FDEs and rows compared and every mismatch; exits 1 if there
is any mismatch (the target is zero), 2 if readelf is missing.

    python3 tools/cfi_differential.py [--jobs N] [--limit N] [-v] [ROOT_OR_FILE ...]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dwarfunwind.testing.oracles import FileResult, Mismatch, diff_file, iter_cfi_elves  # noqa: E402

DEFAULT_ROOTS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/debug", "/usr/bin"]


def _one(path: str) -> FileResult:
    try:
        return diff_file(path)
    except Exception as e:  # a crash of the harness on one file must not stop the run
        r = FileResult(path)
        r.mismatches.append(Mismatch(path, "-", -1, None, "harness", f"{type(e).__name__}: {e}", "-"))
        return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="*", default=DEFAULT_ROOTS, help="directories or files")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=int, default=0, help="stop after N files (0: all)")
    ap.add_argument("--max-print", type=int, default=20, help="mismatches printed per file")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per file")
    args = ap.parse_args(argv)
    if shutil.which("readelf") is None:
        print("readelf not found on PATH", file=sys.stderr)
        return 2
    files = [i.path for i in iter_cfi_elves(args.roots)]
    if args.limit:
        files = files[:args.limit]
    print(f"{len(files)} ELF files with CFI under {' '.join(args.roots)}; jobs={args.jobs}", flush=True)
    t0 = time.monotonic()
    n_files = n_fdes = n_rows = n_mm = n_skipped = n_bad_files = 0
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        for r in ex.map(_one, files, chunksize=1):
            if r.skipped:
                n_skipped += 1
                if args.verbose:
                    print(f"SKIP {r.file}: {r.skipped}", flush=True)
                continue
            n_files += 1
            n_fdes += r.fdes
            n_rows += r.rows
            if r.mismatches:
                n_bad_files += 1
                n_mm += len(r.mismatches)
                print(f"FAIL {r.file}: {len(r.mismatches)} mismatch(es) "
                      f"({r.fdes} FDEs, {r.rows} rows)", flush=True)
                for m in r.mismatches[:args.max_print]:
                    print(f"  {m}", flush=True)
            elif args.verbose:
                print(f"ok   {r.file}: {r.fdes} FDEs, {r.rows} rows", flush=True)
            if args.verbose:
                for n in r.notes[:3]:
                    print(f"  note: {n}", flush=True)
    dt = time.monotonic() - t0
    print(f"compared {n_files} files, {n_fdes} FDEs, {n_rows} rows in {dt:.1f}s; "
          f"skipped {n_skipped} files; {n_mm} mismatches in {n_bad_files} files")
    return 1 if n_mm else 0


if __name__ == "__main__":
    sys.exit(main())
