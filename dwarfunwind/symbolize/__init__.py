"""Words on frames: demangled names, inline chains with file and line, debug files from debuginfod.

Everything here is loaded on demand: a plain ``unwind`` of C code imports none
of it beyond :func:`annotate`, and ``symbolic`` (the SymCache) only with
``--source`` / ``--inline``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: typing costs start-up on the plain unwind path
    from collections.abc import Iterable

    from ..unwind.frame import Frame, StackTrace


def annotate(traces: Iterable[StackTrace], *, inline: bool = False, demangle: bool = True) -> None:
    """Fill in each frame's inline chain (``inline``) and demangle every name, in one batch.

    ``frame.linkage_name`` keeps the symbol's own name; ``frame.function`` gets the
    demangled one (or the raw one when ``demangle`` is False); inline frames likewise.
    """
    annotate_frames([f for t in traces for f in t.frames], inline=inline, demangle=demangle)


def annotate_frames(frames: list[Frame], *, inline: bool = False, demangle: bool = True) -> None:
    """:func:`annotate` for a list of frames."""
    from ..unwind.frame import InlineFrame

    if inline:
        for f in frames:
            if f.inlined is None:
                chain = f.module.source_chain(f.lookup_pc) if f.module is not None else []
                f.inlined = [InlineFrame(loc.linkage_name, loc.linkage_name, loc.file, loc.line)
                             for loc in chain[:-1]]
    if not demangle:
        for f in frames:
            f.function = f.linkage_name
            for i in f.inlined or ():
                i.function = i.linkage_name
        return
    names = {f.linkage_name for f in frames if f.linkage_name}
    names.update(i.linkage_name for f in frames for i in f.inlined or ())
    if not any(n.startswith(("_Z", "_R")) for n in names):
        return  # C only: no child process, not even the module
    from .demangle import demangle_all

    shown = demangle_all(names)
    for f in frames:
        if f.linkage_name:
            f.function = shown.get(f.linkage_name, f.linkage_name)
        for i in f.inlined or ():
            i.function = shown.get(i.linkage_name, i.linkage_name)
