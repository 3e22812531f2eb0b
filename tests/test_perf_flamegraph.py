"""The SVG flame graph, rendered by a real browser (headless Chromium).

Oracles: Chromium's rendering (a screenshot that is not blank) and its DOM after the SVG's own
script ran (hover text, zoom); the folded stacks the SVG is drawn from (test_perf_script.py holds
those against perf script).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import pytest
from conftest import missing, which

from dwarfunwind.perf.flamegraph import render

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-dev-shm-usage"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        try:
            return which(name)
        except pytest.skip.Exception:
            continue
    missing("chromium not found on PATH")
    raise AssertionError  # unreachable


def png_pixels(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and the (r, g, b) pixels of a PNG (8-bit, colour types 2 and 6), row by row."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = bpp = 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos : pos + 4], "big")
        kind, body = raw[pos + 4 : pos + 8], raw[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            assert body[8] == 8 and body[9] in (2, 6), "8-bit RGB/RGBA expected"
            bpp = 3 if body[9] == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    data = zlib.decompress(idat)
    stride = width * bpp
    pixels: list[tuple[int, int, int]] = []
    prev = bytearray(stride)
    for y in range(height):
        f = data[y * (stride + 1)]
        line = bytearray(data[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels.extend((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp))
        prev = line
    return width, height, pixels


@pytest.fixture(scope="module")
def folded(tmp_path_factory) -> Counter:
    """Folded stacks of a real recording: python3 running test_perf_script.py's workload (a bushy tree)."""
    from test_perf_script import PYTHON_WORKLOAD, record

    d = tmp_path_factory.mktemp("flame")
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    data = record(d / "py.data", [python, "-c", PYTHON_WORKLOAD])
    r = subprocess.run([sys.executable, "-m", "dwarfunwind", "perf", str(data), "--folded"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    counts: Counter = Counter()
    for line in r.stdout.splitlines():
        stack, n = line.rsplit(" ", 1)
        counts[stack] += int(n)
    return counts


def widest(folded: Counter) -> tuple[str, int]:
    """The widest frame below the root (name, samples), computed from the folded stacks themselves."""
    width: Counter = Counter()
    for stack, n in folded.items():
        names = stack.split(";")
        for depth in range(len(names)):
            width[tuple(names[: depth + 1])] += n
    # Deepest among the widest: the function, not only the comm (every stack starts with it).
    path, n = max(width.items(), key=lambda kv: (kv[1], len(kv[0])))
    return path[-1], n


def test_screenshot_shows_the_flame_graph(folded, tmp_path):
    svg = tmp_path / "flame.svg"
    svg.write_text(render(folded, title="python3"))
    name, _ = widest(folded)
    assert f">{html.escape(name)}</text>" in svg.read_text()  # the widest frame's label is whole
    shot = tmp_path / "shot.png"
    m = re.search(r'<svg [^>]*height="(\d+)"', svg.read_text())
    assert m
    h = int(m.group(1))
    r = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--screenshot={shot}", f"--window-size=1200,{h}",
                        svg.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-500:]
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1200, h)
    # Not blank: several colours, and a good share of warm flame pixels (red high, blue low).
    assert len(set(pixels)) > 20
    warm = sum(1 for r_, _, b in pixels if r_ > 200 and b < 80)
    assert warm > 0.1 * len(pixels), warm


def test_hover_and_click_zoom_in_the_browser(folded, tmp_path):
    """The SVG's script, run by Chromium: hover says function, samples and %; a click zooms to the frame."""
    total = sum(folded.values())
    name, count = widest(folded)
    doc = render(folded, title="python3").split("\n", 1)[1]  # inline in HTML: no XML declaration
    page = tmp_path / "page.html"
    page.write_text(f"""<!DOCTYPE html><html><body>{doc}<pre id="out"></pre><script>
var out = {{}};
var frames = Array.prototype.slice.call(document.querySelectorAll('g.f'));
var target = frames.filter(function (f) {{ return f.getAttribute('data-name') === {json.dumps(name)}; }})
                   .sort(function (a, b) {{ return b.getAttribute('data-w') - a.getAttribute('data-w'); }})[0];
target.dispatchEvent(new MouseEvent('mouseover'));
out.hover = document.getElementById('details').textContent;
// The widest frame with a neighbour at its depth: zooming to it must hide the neighbour.
var perDepth = {{}};
frames.forEach(function (f) {{ var d = f.getAttribute('data-d'); perDepth[d] = (perDepth[d] || 0) + 1; }});
var deep = frames.filter(function (f) {{ return perDepth[f.getAttribute('data-d')] > 1; }})
                 .sort(function (a, b) {{ return b.getAttribute('data-w') - a.getAttribute('data-w'); }})[0];
deep.dispatchEvent(new MouseEvent('click'));
out.zoomed = deep.getAttribute('data-name');
out.zoomed_width = +deep.querySelector('rect').getAttribute('width');
out.hidden = frames.filter(function (f) {{ return f.style.display === 'none'; }}).length;
frames[0].dispatchEvent(new MouseEvent('click'));
out.after_reset_hidden = frames.filter(function (f) {{ return f.style.display === 'none'; }}).length;
document.getElementById('out').textContent = JSON.stringify(out);
</script></body></html>""")
    r = subprocess.run([chromium(), *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                       timeout=120)
    m = re.search(r'<pre id="out">(.*?)</pre>', r.stdout, re.S)
    assert m and m.group(1), r.stderr[-500:]
    out = json.loads(html.unescape(m.group(1)))
    assert out["hover"] == f"Function: {name} ({count} samples, {100 * count / total:.2f}%)"
    assert abs(out["zoomed_width"] - 1180) < 0.01  # the clicked frame now spans the whole graph
    assert out["hidden"] > 0 and out["after_reset_hidden"] == 0, out


def test_render_is_bounded_and_escaped():
    """Names are XML-escaped; a pathological depth is cut, not recursed into."""
    deep = ";".join(f"f{i}" for i in range(5000))
    svg = render(Counter({"a<b>&c;x": 3, deep: 1}))
    assert "a&lt;b&gt;&amp;c" in svg and "<b>" not in svg
    assert svg.count('class="f"') < 1100
