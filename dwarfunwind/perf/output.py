"""Unwound samples as ``perf script``-shaped text, as the ``perf --json`` contract, and as folded stacks."""

from __future__ import annotations

from collections import Counter

from .session import UnwoundSample

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and json cost start-up; json (and report) are imported only for --json
    from collections.abc import Iterable
    from typing import Any

    from ..unwind.frame import Frame, StackTrace


def frame_line(f: Frame) -> str:
    """A frame's line in ``perf script``'s output."""
    addr = f.lookup_pc
    if f.function is not None and f.offset is not None:
        off = f.offset - (f.pc - addr)
        sym = f"{f.function}+{off:#x}" if off else f.function
    else:
        sym = "[unknown]"
    where = f.module.path if f.module is not None else "[unknown]"
    return f"\t{addr:>16x} {sym} ({where})"


#: At most this many texts are remembered.
MAX_LINES = 1 << 16


def sample_text(u: UnwoundSample, known: dict[object, str] | None = None) -> str:
    """One sample in the shape of ``perf script``'s default output (absolute addresses).

    ``known`` remembers text already written, across the samples of one file: a
    profile's samples share their callers' frames, the very same objects (perf/memo.py).
    """
    s = u.sample
    if known is None:
        known = {}
    elif len(known) > MAX_LINES:
        known.clear()
    # Who ran: the same few threads in every sample.
    who = known.get((u.comm, s.pid, s.tid))
    if who is None:
        who = known[u.comm, s.pid, s.tid] = f"{u.comm or ':' + str(s.pid)} {s.pid:>6}/{s.tid:<6} "
    ns = s.time  # seconds.microseconds, as perf script prints the time
    when = f"{ns // 1_000_000_000}.{ns % 1_000_000_000 // 1000:06d}" if ns is not None else "-"
    head = f"{who}{when}: {s.period if s.period is not None else '':>10} {s.attr.name}: "
    if u.kernel:  # above the user frames, as perf script prints them
        head += "".join([kernel_line(pc, name, off) for pc, name, off in u.kernel])
    tr = u.trace
    frames = tr.frames
    if not frames:
        stop = _stop_line(tr) if not u.kernel else ""  # a kernel thread's sample: its kernel frames say it all
        return f"{head}\n{stop}\n\n" if stop else f"{head}\n\n"
    # The sample's own frame is a new object in every sample, but at a pc seen before, mostly: its
    # line is remembered by what it shows.
    f = frames[0]
    at = (f.pc, f.module, f.function, f.offset)
    first = known.get(at)
    if first is None:
        first = known[at] = frame_line(f)
    # The callers' lines and the stop, by the first caller: a frame object is at index 1 only in
    # its own walk's trace and in the traces that took that walk's tail from the memo.
    key = (frames[1] if len(frames) > 1 else None, len(frames), tr.stop_reason, tr.stop_detail)
    rest = known.get(key)
    if rest is None:
        lines = [""]
        for f in frames[1:]:
            line = known.get(f)
            if line is None:
                line = known[f] = frame_line(f)
            lines.append(line)
        stop = _stop_line(tr)
        if stop:
            lines.append(stop)
        rest = known[key] = "\n".join(lines)
    return f"{head}\n{first}{rest}\n\n"


def kernel_line(pc: int, name: str | None, offset: int) -> str:
    """A kernel frame's line in ``perf script``'s output."""
    sym = (f"{name}+{offset:#x}" if offset else name) if name is not None else "[unknown]"
    return f"\n\t{pc:>16x} {sym} ([kernel.kallsyms])"


def _stop_line(tr: StackTrace) -> str:
    if tr.stop_reason.value in ("outermost", "stack-copy-end", "perf-callchain"):
        return ""
    detail = f" ({tr.stop_detail})" if tr.stop_detail else ""
    return f"\t[stop: {tr.stop_reason.describe()}{detail}]"


def sample_to_dict(u: UnwoundSample, *, source: bool = False) -> dict[str, Any]:
    """One record of the ``perf --json`` contract (docs/perf.md)."""
    from ..report import frame_to_dict

    s, tr = u.sample, u.trace
    return {
        "time": s.time, "pid": s.pid, "tid": s.tid, "cpu": s.cpu, "period": s.period, "comm": u.comm,
        "event": s.attr.name,
        "frames": [frame_to_dict(f, source=source) for f in tr.frames],
        "stop_reason": tr.stop_reason.value, "stop_detail": tr.stop_detail, "reliable": tr.reliable,
        "kernel_frames": _kernel_dicts(u),
    }


def _kernel_dicts(u: UnwoundSample) -> list[dict[str, Any]]:
    return [{"pc": pc, "function": name, "offset": off if name is not None else None} for pc, name, off in u.kernel]


def document_head(path: str) -> str:
    """The start of the ``perf --json`` document; samples follow, then :func:`document_tail`."""
    import json

    return f'{{"file":{json.dumps(path)},"samples":['


def document_tail(problems: list[str], error: str | None) -> str:
    """The end of the ``perf --json`` document: problems (sorted, each once) and the error that ended it."""
    import json

    return f'],"problems":{json.dumps(sorted(set(problems)))},"error":{json.dumps(error)}}}'


_encoder: Any = None


def _compact(value: object) -> str:
    """``json.dumps(value, separators=(",", ":"))``, with one encoder for all calls (dumps makes one
    per call when given separators)."""
    global _encoder
    if _encoder is None:
        import json

        _encoder = json.JSONEncoder(separators=(",", ":"))
    return _encoder.encode(value)


def sample_json(u: UnwoundSample, known: dict[object, str] | None = None) -> str:
    """One sample record as compact JSON text, as it appears in the document.

    ``known`` remembers the callers' frames as JSON across the samples of one file, by the first
    caller, as :func:`sample_text` does; the record is the text ``json.dumps`` makes of
    :func:`sample_to_dict`, put together from its parts.
    """
    frames = u.trace.frames
    if known is None or len(frames) < 2:
        return _compact(sample_to_dict(u))
    from ..report import frame_to_dict

    key = (frames[1], len(frames))
    callers = known.get(key)
    if callers is None:
        if len(known) > MAX_LINES:
            known.clear()
        callers = known[key] = "".join(["," + _compact(frame_to_dict(f)) for f in frames[1:]])
    s, tr = u.sample, u.trace
    head = _compact({"time": s.time, "pid": s.pid, "tid": s.tid, "cpu": s.cpu, "period": s.period,
                     "comm": u.comm, "event": s.attr.name})
    tail = _compact({"stop_reason": tr.stop_reason.value, "stop_detail": tr.stop_detail, "reliable": tr.reliable,
                     "kernel_frames": _kernel_dicts(u)})
    return f'{head[:-1]},"frames":[{_compact(frame_to_dict(frames[0]))}{callers}],{tail[1:]}'


def frame_name(frame: Frame) -> str:
    """A frame's name in folded stacks: the function, else ``[module]``, else ``[unknown]``."""
    if frame.function is not None:
        return frame.function
    if frame.module is not None:
        return f"[{frame.module.name}]"
    return "[unknown]"


def fold(samples: Iterable[UnwoundSample], counts: Counter[str] | None = None) -> Counter[str]:
    """Brendan Gregg's collapsed stacks: ``comm;outermost;...;innermost`` -> number of samples."""
    counts = Counter() if counts is None else counts
    for u in samples:
        add_folded(u, counts)
    return counts


def add_folded(u: UnwoundSample, counts: Counter[str], known: dict[object, str] | None = None) -> None:
    """Count ``u``'s stack in ``counts``. ``known`` remembers the callers' part across the samples of
    one file, by the first caller, as :func:`sample_text` does."""
    frames = u.trace.frames
    head = (u.comm or str(u.sample.pid)).replace(";", ":")
    if len(frames) < 2 or known is None or u.kernel:
        names = [frame_name(f).replace(";", ":") for f in reversed(frames)]
        # Kernel frames above the user ones (the leaf end), as stackcollapse-perf.pl puts them.
        names += [(name or "[unknown]").replace(";", ":") for _, name, _ in reversed(u.kernel)]
        counts[";".join([head, *names])] += 1
        return
    key = (frames[1], len(frames))
    callers = known.get(key)
    if callers is None:
        if len(known) > MAX_LINES:
            known.clear()
        callers = known[key] = ";".join([frame_name(f).replace(";", ":") for f in reversed(frames[1:])])
    counts[f"{head};{callers};{frame_name(frames[0]).replace(';', ':')}"] += 1


def folded_text(counts: Counter[str]) -> str:
    """The lines flamegraph.pl, inferno, speedscope and the Firefox Profiler read (sorted, stable)."""
    return "".join(f"{stack} {n}\n" for stack, n in sorted(counts.items()))
