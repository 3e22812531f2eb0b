"""``python -m dwarfunwind check FILE... [--json] [--function NAME] [--address ADDR]``.

Registered in dwarfunwind/cli.py's command table (arguments there); the running
and the formatting of ``check`` live here. Exit codes: 0 clean, 1 findings, 2 a file
could not be read (the other files are still checked).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


class _Progress:
    """A one-line bar on stderr, shown only on a terminal and only once a run passes a second."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = time.monotonic()
        self.shown = False
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.tty or (not self.shown and time.monotonic() - self.start < 1.0):
            return
        self.shown = True
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r{self.name[-30:]:<30} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()


def run(args: Any) -> int:
    from ..errors import DwarfUnwindError
    from . import check_file

    unreadable = False
    findings = False
    docs: list[dict[str, Any]] = []
    out: list[str] = []
    for path in args.files:
        progress = _Progress(path)
        try:
            report = check_file(path, function=args.function, address=args.address, progress=progress)
        except DwarfUnwindError as e:
            progress.close()
            print(f"dwarfunwind: {e}", file=sys.stderr)
            unreadable = True
            if args.json:
                docs.append({"file": path, "error": str(e)})
            continue
        progress.close()
        for problem in report.errors:
            print(f"dwarfunwind: {problem}", file=sys.stderr)
        summary = report.summary()
        findings = findings or summary["findings"] > 0
        if args.json:
            docs.append({"file": path, "summary": summary, "errors": report.errors,
                         "findings": [f.to_dict() for f in report.findings()]})
            continue
        for f in report.findings():
            if f.is_defect or args.notes:
                out.append(f.format(path))
        out.append(f"{path}: {summary['functions']} FDEs checked, {summary['clean']} clean, "
                   f"{summary['with_findings']} with findings ({summary['findings']} findings), "
                   f"{summary['partly_uncheckable']} partly not checkable, "
                   f"{summary['instructions']} instructions")
    if args.json:
        sys.stdout.write(json.dumps({"files": docs}) + "\n")
    else:
        sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    if unreadable:
        return 2
    return 1 if findings else 0
