"""``unwind_many`` and ``batch``: many inputs on an executor give, input by input, what the CLI gives alone.

Oracle: ``python -m dwarfunwind unwind FILE --json`` / ``perf FILE --json`` run separately on each
input (themselves held against gdb and perf script in test_unwind_gdb.py and test_perf_script.py),
and the serial run for the Dask cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import missing, which

from dwarfunwind import unwind_many

PY = [sys.executable, "-m", "dwarfunwind"]


@pytest.fixture(scope="module")
def inputs(corpus, tmp_path_factory) -> list[str]:
    """Cores of the corpus, a multi-process perf.data, a missing file and a file that is neither."""
    builder, out = corpus
    d = tmp_path_factory.mktemp("batch")
    perf = which("perf")
    blob = d / "blob"
    blob.write_bytes(Path("/lib/x86_64-linux-gnu/libc.so.6").read_bytes()[: 200 << 10])
    data = d / "multi.data"
    # Three processes (the shell and two gzips): one task per process.
    r = subprocess.run([perf, "record", "-q", "-F", "999", "-e", "cpu-clock:u", "--call-graph", "dwarf,2048",
                        "-o", str(data), "--", "sh", "-c",
                        f"gzip -9 -c {blob} > /dev/null; gzip -9 -c {blob} > /dev/null; true"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        missing(f"perf cannot record here: {r.stderr.strip()[-300:]}")
    junk = d / "junk"
    junk.write_bytes(b"not a core, not a snapshot, not perf.data")
    cores = [str(builder.artifacts(n, out)["core"]) for n in ("c_threads", "c_recursion", "cxx_throw",
                                                                "c_segv_handler")]
    return [cores[0], str(data), str(d / "missing.core"), cores[1], str(junk), cores[2], cores[3]]


def alone(path: str) -> tuple[str | None, str | None]:
    """(stdout document, error line) of the CLI run on this input alone."""
    is_perf = open(path, "rb").read(8) == b"PERFILE2" if os.path.exists(path) else False
    r = subprocess.run([*PY, "perf" if is_perf else "unwind", path, "--json"], capture_output=True, text=True,
                       timeout=300)
    errors = [line.removeprefix("dwarfunwind: ") for line in r.stderr.splitlines()]
    doc = r.stdout.strip() or None
    return doc, errors[-1] if r.returncode == 2 and errors else None


def test_results_equal_each_input_alone_in_input_order(inputs):
    results = list(unwind_many(inputs, jobs=2))
    assert [r.input for r in results] == inputs
    for r in results:
        doc, error = alone(r.input)
        if doc is None:  # unreadable alone: the CLI printed one error line and no document
            assert r.error == error and r.error is not None
            assert json.loads(r.to_json()) == {"input": r.input, "error": r.error}
        else:
            assert r.to_json() == doc, r.input
            assert r.error is None
    perf = next(r for r in results if r.kind == "perf").document()
    assert len({s["pid"] for s in perf["samples"]}) >= 2  # it really was split by process
    assert [r.error is None for r in results] == [True, True, False, True, False, True, True]


def test_batch_cli_writes_one_document_per_line_and_reports_failures(inputs):
    r = subprocess.run([*PY, "batch", *inputs, "--jobs", "2", "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1  # two inputs failed
    assert "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(inputs)
    expected = [json.loads(d.to_json()) for d in unwind_many(inputs, ThreadPoolExecutor(2))]
    assert [json.loads(line) for line in lines] == expected
    assert len(r.stderr.strip().splitlines()) == 2


def test_dask_local_cluster_gives_the_serial_results(inputs):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        missing("dask distributed is not installed (pip install 'dwarfunwind[dask]')")
    serial = [r.to_json() for r in unwind_many(inputs, ThreadPoolExecutor(1))]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        results = list(unwind_many(inputs, client.get_executor()))
    assert [r.input for r in results] == inputs
    assert [r.to_json() for r in results] == serial
