"""An interactive SVG flame graph from folded stacks (after Brendan Gregg's flamegraph.pl).

Hovering a frame shows its function, samples and share of the total (in the
status line and as the frame's tooltip); clicking a frame zooms to it, clicking
the bottom frame (``all``) or "Reset zoom" zooms out. The SVG is self-contained
(inline script, no external resources) and opens in any browser.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from xml.sax.saxutils import escape

WIDTH = 1200
FRAME_HEIGHT = 16
PAD_TOP = 40
PAD_BOTTOM = 30
SIDE = 10
CHAR_WIDTH = 7.0  # of the 12px monospace font, for truncating names to their box
#: Frames narrower than this many pixels are left out (flamegraph.pl's --minwidth).
MIN_WIDTH = 0.1
#: Deeper stacks are cut here (a corrupt profile must not make a gigantic SVG).
MAX_DEPTH = 1024


class _Node:
    __slots__ = ("name", "count", "children")

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.children: dict[str, _Node] = {}


def _tree(folded: Mapping[str, int]) -> _Node:
    root = _Node("all")
    for stack, n in folded.items():
        if n <= 0:
            continue
        root.count += n
        node = root
        for name in stack.split(";")[:MAX_DEPTH]:
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = _Node(name)
            child.count += n
            node = child
    return root


def _color(name: str) -> str:
    """A warm colour from the name's hash: stable across runs, as flamegraph.pl's 'hot' palette."""
    h = zlib.crc32(name.encode())
    r = 205 + h % 50
    g = (h >> 8) % 230
    b = (h >> 16) % 55
    return f"rgb({r},{g},{b})"


def _label(name: str, width: float) -> str:
    chars = int(width / CHAR_WIDTH)
    if chars < 3:
        return ""
    return name if len(name) <= chars else name[: chars - 2] + ".."


def render(folded: Mapping[str, int], *, title: str = "Flame Graph", count_name: str = "samples") -> str:
    """The SVG document (text) for ``folded``: ``"a;b;c" -> count``."""
    root = _tree(folded)
    total = max(root.count, 1)
    scale = (WIDTH - 2 * SIDE) / total
    rects: list[tuple[int, int, int, str, int]] = []  # (x in samples, depth, width in samples, name, count)
    max_depth = 0
    # Depth-first with an explicit stack: no recursion limit on deep stacks.
    todo: list[tuple[_Node, int, int]] = [(root, 0, 0)]
    while todo:
        node, x, depth = todo.pop()
        if node.count * scale < MIN_WIDTH:
            continue
        rects.append((x, depth, node.count, node.name, node.count))
        max_depth = max(max_depth, depth)
        cx = x
        for name in sorted(node.children):
            child = node.children[name]
            todo.append((child, cx, depth + 1))
            cx += child.count
    height = PAD_TOP + (max_depth + 1) * FRAME_HEIGHT + PAD_BOTTOM
    out = [
        '<?xml version="1.0" standalone="no"?>',
        f'<svg version="1.1" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" data-total="{root.count}" data-count-name="{escape(count_name)}">',
        "<style>text{font-family:monospace;font-size:12px;fill:#000}"
        " .f rect{stroke:#fff;stroke-width:0.5;cursor:pointer} .f:hover rect{stroke:#000}"
        " #title{font-size:17px;text-anchor:middle} #reset{cursor:pointer;fill:#00f}</style>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#f8f8f0"/>',
        f'<text id="title" x="{WIDTH / 2}" y="24">{escape(title)}</text>',
        f'<text id="reset" x="{SIDE}" y="24" style="display:none">Reset zoom</text>',
        f'<text id="details" x="{SIDE}" y="{height - 10}"> </text>',
        '<g id="frames">',
    ]
    for x, depth, w, name, count in sorted(rects, key=lambda r: (r[1], r[0])):
        px = SIDE + x * scale
        pw = w * scale
        y = height - PAD_BOTTOM - (depth + 1) * FRAME_HEIGHT
        pct = 100.0 * count / total
        label = escape(name)
        out.append(
            f'<g class="f" data-x="{x}" data-w="{w}" data-d="{depth}" data-name="{escape(name, {chr(34): "&quot;"})}">'
            f"<title>{label} ({count} {escape(count_name)}, {pct:.2f}%)</title>"
            f'<rect x="{px:.2f}" y="{y}" width="{pw:.2f}" height="{FRAME_HEIGHT - 1}" fill="{_color(name)}"/>'
            f'<text x="{px + 3:.2f}" y="{y + FRAME_HEIGHT - 4}">{escape(_label(name, pw - 6))}</text></g>'
        )
    out.append("</g>")
    out.append(f"<script><![CDATA[{_SCRIPT % {'side': SIDE, 'width': WIDTH, 'cw': CHAR_WIDTH}}]]></script>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


_SCRIPT = """
(function () {
  // The SVG may be a document of its own or inlined in an HTML page.
  var me = document.currentScript, svg = (me && me.ownerSVGElement) || document.documentElement;
  var total = +svg.getAttribute('data-total'), unit = svg.getAttribute('data-count-name');
  var frames = Array.prototype.slice.call(svg.querySelectorAll('g.f'));
  var details = svg.querySelector('#details'), reset = svg.querySelector('#reset');
  var SIDE = %(side)d, W = %(width)d - 2 * SIDE, CW = %(cw)f;
  function label(name, w) {
    var n = Math.floor(w / CW);
    if (n < 3) return '';
    return name.length <= n ? name : name.slice(0, n - 2) + '..';
  }
  function zoom(g) {
    var x0 = +g.getAttribute('data-x'), w0 = +g.getAttribute('data-w'), d0 = +g.getAttribute('data-d');
    frames.forEach(function (f) {
      var x = +f.getAttribute('data-x'), w = +f.getAttribute('data-w'), d = +f.getAttribute('data-d');
      var rect = f.querySelector('rect'), text = f.querySelector('text');
      var inside = x >= x0 && x + w <= x0 + w0, below = d < d0 && x <= x0 && x + w >= x0 + w0;
      if (!inside && !below) { f.style.display = 'none'; return; }
      f.style.display = '';
      var nx = below ? 0 : (x - x0) / w0 * W, nw = below ? W : w / w0 * W;
      rect.setAttribute('x', (SIDE + nx).toFixed(2));
      rect.setAttribute('width', nw.toFixed(2));
      f.style.opacity = below ? 0.6 : 1;
      text.setAttribute('x', (SIDE + nx + 3).toFixed(2));
      text.textContent = label(f.getAttribute('data-name'), nw - 6);
    });
    reset.style.display = d0 > 0 ? '' : 'none';
  }
  frames.forEach(function (f) {
    var w = +f.getAttribute('data-w');
    f.addEventListener('mouseover', function () {
      details.textContent = 'Function: ' + f.getAttribute('data-name') + ' (' + w + ' ' + unit + ', ' +
        (100 * w / total).toFixed(2) + '%%)';
    });
    f.addEventListener('mouseout', function () { details.textContent = ' '; });
    f.addEventListener('click', function () { zoom(f); });
  });
  reset.addEventListener('click', function () { zoom(frames[0]); });
})();
"""
