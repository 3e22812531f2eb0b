#!/usr/bin/env python3
"""Check that two versions of dwarfunwind print byte-identical output.

For performance work that must not change behaviour: the reference is another git revision of
this repository (its ``dwarfunwind/`` is exported with ``git archive`` into a temporary
directory), or a directory of outputs saved earlier with ``--save``. Each case runs
``python -m dwarfunwind ...`` as a whole process; stdout, stderr and the exit code must match.

Cases: ``cfi`` (text and ``--json``, and ``--address``) of libc, ld.so, libstdc++ and the
python interpreter when present, plus every corpus binary; ``unwind`` (``--json``, text with
``--registers``, ``--method compare``) of every corpus core and of the bench cores.

    python3 tools/same_output.py --corpus DIR [--bench DIR] --ref main            # compare with a revision
    python3 tools/same_output.py --corpus DIR [--bench DIR] --save OUT            # save this tree's outputs
    python3 tools/same_output.py --corpus DIR [--bench DIR] --against OUT         # compare with saved outputs

``--corpus`` is a directory built by ``corpora/build.py --out DIR``; ``--bench`` one built by
``bench/make_cores.py --out DIR``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIBS = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/bin/python3.11"]


def cases(corpus: Path | None, bench: Path | None) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    files = [p for p in LIBS if os.path.exists(p)]
    if corpus is not None:
        files += sorted(str(p) for p in corpus.iterdir() if p.is_file() and not p.suffix)
    for f in files:
        name = os.path.basename(f)
        out.append((f"cfi-{name}", ["cfi", f]))
        out.append((f"cfi-json-{name}", ["cfi", f, "--json"]))
    out.append(("cfi-address-libc", ["cfi", LIBS[0], "--address", "0x29d90"]))
    out.append(("cfi-address-json-libc", ["cfi", LIBS[0], "--address", "0x29d90", "--json"]))
    cores: list[tuple[str, str, list[str]]] = []
    if corpus is not None:
        for core in sorted(corpus.glob("*.core")):
            cores.append((core.stem, str(core), ["--exe", str(core.with_suffix(""))]))
    if bench is not None:
        for core in sorted(bench.glob("*.core")):
            exe = core.with_suffix(".exe")
            exe_path = exe.read_text().strip() if exe.exists() else str(core.with_suffix(""))
            cores.append((f"bench-{core.stem}", str(core), ["--exe", exe_path, "-n", "5000"]))
    for name, core, extra in cores:
        out.append((f"unwind-json-{name}", ["unwind", core, *extra, "--json"]))
        out.append((f"unwind-regs-{name}", ["unwind", core, *extra, "--registers"]))
        out.append((f"unwind-compare-{name}", ["unwind", core, *extra, "--method", "compare", "--json"]))
    return out


def run(root: Path, args: list[str]) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(root), DWARFUNWIND_NO_CACHE="1")
    p = subprocess.run([sys.executable, "-m", "dwarfunwind", *args], capture_output=True, env=env,
                       cwd=str(root), timeout=600)
    return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "dwarfunwind"], check=True,
                             capture_output=True).stdout
    with tempfile.NamedTemporaryFile(suffix=".tar") as t:
        t.write(archive)
        t.flush()
        with tarfile.open(t.name) as tar:
            tar.extractall(into, filter="data")
    return into


def digest(result: dict[str, object]) -> dict[str, object]:
    return {"rc": result["rc"], "stdout": hashlib.sha256(result["stdout"]).hexdigest(),  # type: ignore[arg-type]
            "stderr": result["stderr"].decode("utf-8", "replace")}  # type: ignore[union-attr]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--bench", type=Path)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--ref", help="a git revision to compare with")
    mode.add_argument("--save", type=Path, help="save this tree's output digests into this directory")
    mode.add_argument("--against", type=Path, help="compare with digests saved by --save")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    todo = cases(args.corpus, args.bench)
    pool = concurrent.futures.ThreadPoolExecutor(args.jobs)
    ours = dict(zip((n for n, _ in todo), pool.map(lambda c: digest(run(REPO, c[1])), todo)))
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "digests.json").write_text(json.dumps({"cases": dict(todo), "results": ours}, indent=1))
        print(f"saved {len(ours)} cases into {args.save}")
        return 0
    if args.against:
        theirs = json.loads((args.against / "digests.json").read_text())["results"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            root = export(args.ref, Path(tmp))
            theirs = dict(zip((n for n, _ in todo), pool.map(lambda c: digest(run(root, c[1])), todo)))
    bad = 0
    for name, argv in todo:
        if name not in theirs:
            print(f"MISSING {name}: not in the reference")
            bad += 1
        elif ours[name] != theirs[name]:
            bad += 1
            print(f"DIFFER  {name}: dwarfunwind {' '.join(argv)}")
            for key in ("rc", "stdout", "stderr"):
                if ours[name][key] != theirs[name][key]:
                    print(f"    {key}: ours {str(ours[name][key])[:200]!r} vs ref {str(theirs[name][key])[:200]!r}")
    print(f"{len(todo) - bad}/{len(todo)} cases byte-identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
