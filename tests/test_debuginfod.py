"""The debuginfod client against a real ``debuginfod -F DIR`` on 127.0.0.1, and against servers that fail.

The debug file is split off with ``objcopy --only-keep-debug``; the executable is stripped with
``strip --strip-all``. The oracle for lines and inline chains is addr2line -i on the unstripped file.
"""
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
from conftest import which
from test_symbolize import C_INLINE, addr2line_chain, crash, unwind


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(full exe, stripped exe, core of the stripped exe, build-id hex, server URL)."""
    d = tmp_path_factory.mktemp("debuginfod")
    (d / "p.c").write_text(C_INLINE)
    full, stripped = d / "p", d / "p.stripped"
    subprocess.run([which("gcc"), "-O2", "-g", "-o", str(full), str(d / "p.c")], check=True)
    srv = d / "srv"
    srv.mkdir()
    subprocess.run([which("objcopy"), "--only-keep-debug", str(full), str(srv / "p.debug")], check=True)
    subprocess.run([which("strip"), "--strip-all", "-o", str(stripped), str(full)], check=True)
    core = crash(d, stripped)
    subprocess.run(["cp", str(stripped), str(srv / "p")], check=True)  # served as /executable
    out = subprocess.run([which("readelf"), "-n", str(full)], capture_output=True, text=True).stdout
    bid = next(ln.split()[-1] for ln in out.splitlines() if "Build ID" in ln)
    port = _free_port()
    server = subprocess.Popen([which("debuginfod"), "-p", str(port), "-F", str(srv), "-d", str(d / "db.sqlite")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # until the scan has indexed the debug file
            try:
                with urllib.request.urlopen(f"{url}/buildid/{bid}/debuginfo", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("debuginfod did not serve the debug file within 30 s")
            time.sleep(0.2)
        yield full, stripped, core, bid, url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_stripped_executable_gets_lines_and_inline_frames(served, tmp_path):
    full, stripped, core, bid, url = served
    cache = tmp_path / "cache"
    bare = json.loads(unwind(str(core), "--exe", str(stripped), "--json", "--source",
                             env={"DEBUGINFOD_URLS": "", "DEBUGINFOD_CACHE_PATH": str(cache)}).stdout)
    assert not any(f["source"] for f in bare["threads"][0]["frames"] if f["module"] == stripped.name)
    r = unwind(str(core), "--exe", str(stripped), "--json", "--source", "--debuginfod", url,
               env={"DEBUGINFOD_URLS": "", "DEBUGINFOD_CACHE_PATH": str(cache)})
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert (cache / bid / "debuginfo").is_file()  # elfutils' cache layout
    frames = [f for f in json.loads(r.stdout)["threads"][0]["frames"] if f["module"] == stripped.name]
    assert any(f["inlined"] for f in frames)
    assert any(f["function"].startswith("physical") for f in frames)  # symbols from the debug file
    from test_symbolize import _bias

    bias = _bias(core, stripped, frames[0]["pc"])
    for f in frames:
        want = addr2line_chain(full, f["pc"] - 1 - bias)
        if not want:
            continue
        got = [(os.path.normpath(i["file"]), i["line"]) for i in f["inlined"]]
        got.append((os.path.normpath(f["source"]["file"]), f["source"]["line"]))
        assert got == want


def test_missing_executable_is_fetched(served, tmp_path):
    full, stripped, core, bid, url = served
    moved = tmp_path / "gone"
    os.rename(stripped, moved)
    try:
        r = unwind(str(core), "--json", "--inline",
                   env={"DEBUGINFOD_URLS": url, "DEBUGINFOD_CACHE_PATH": str(tmp_path / "c")})
    finally:
        os.rename(moved, stripped)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c" / bid / "executable").is_file()
    t = json.loads(r.stdout)["threads"][0]
    assert t["reliable"]
    assert any((f["function"] or "").startswith("physical") for f in t["frames"])


def _never_answers():
    """A loopback socket that accepts connections and never replies: (url, stop)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    held = []
    stop = threading.Event()

    def serve():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()

    def close():
        stop.set()
        for c in held:
            c.close()
        s.close()

    return f"http://127.0.0.1:{s.getsockname()[1]}", close


@pytest.mark.parametrize("failure", ["down", "404", "silent", "too-big"])
def test_failing_server_says_one_line_and_the_walk_completes(served, tmp_path, failure):
    full, stripped, core, bid, url = served
    close = None
    if failure == "down":
        server = f"http://127.0.0.1:{_free_port()}"
    elif failure == "404":
        server = url
        other = tmp_path / "other"  # a build-id the server does not have
        (tmp_path / "o.c").write_text(C_INLINE.replace("n > 2", "n > 1"))
        subprocess.run([which("gcc"), "-O2", "-o", str(other), str(tmp_path / "o.c")], check=True)
        subprocess.run([which("strip"), "--strip-all", str(other)], check=True)
        core = crash(tmp_path, other)
        stripped = other
    elif failure == "silent":
        server, close = _never_answers()
    else:
        server = url
    start = time.monotonic()
    try:
        r = unwind(str(core), "--exe", str(stripped), "--json", "--source",
                   env={"DEBUGINFOD_URLS": server, "DEBUGINFOD_TIMEOUT": "2", "DEBUGINFOD_MAXSIZE": "1000",
                        "DEBUGINFOD_CACHE_PATH": str(tmp_path / "cache")})
    finally:
        if close is not None:
            close()
    elapsed = time.monotonic() - start
    assert "Traceback" not in r.stderr
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    reason = {"down": "Connection refused", "404": "HTTP 404", "silent": "no answer within 2 s",
              "too-big": "over DEBUGINFOD_MAXSIZE (1000"}[failure]
    assert lines[0].startswith(f"dwarfunwind: {stripped.name}: debuginfod has no debuginfo") and reason in lines[0]
    t = json.loads(r.stdout)["threads"][0]
    assert t["stop_reason"] == "outermost"
    assert elapsed < 20
    assert not list((tmp_path / "cache").rglob("debuginfo"))  # nothing half-written left as if complete


def test_a_silent_server_costs_one_timeout_per_run_not_one_per_file(monkeypatch, tmp_path):
    """Library level: two files asked of a server that never answers; the second is not waited for."""
    from dwarfunwind.symbolize import debuginfod

    server, close = _never_answers()
    monkeypatch.setenv("DEBUGINFOD_URLS", server)
    monkeypatch.setenv("DEBUGINFOD_TIMEOUT", "1")
    monkeypatch.setenv("DEBUGINFOD_CACHE_PATH", str(tmp_path))
    monkeypatch.setattr(debuginfod, "_dead", {})
    monkeypatch.setattr(debuginfod, "_failed", set())
    start = time.monotonic()
    try:
        assert debuginfod.fetch(b"\x01" * 20, "debuginfo", "one") is None
        assert debuginfod.fetch(b"\x02" * 20, "debuginfo", "two") is None
    finally:
        close()
    elapsed = time.monotonic() - start
    said = debuginfod.problems()
    assert len(said) == 2 and "no answer within 1 s" in said[0] and "not asked again" in said[1], said
    assert elapsed < 1.9, elapsed
