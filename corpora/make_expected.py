#!/usr/bin/env python3
"""Regenerate corpora/expected/*.json for the seed programs and cross-check
them with the gdb oracles of a build:

    python3 corpora/build.py --out DIR --only entry_nomarker entry_marker \
        entry_nomarker_pie entry_marker_pie sigsegv_glibc sigsegv_restorer
    python3 corpora/make_expected.py DIR

The expected frame sequences below are written down from the design of the
programs (not copied from gdb); this script fails if gdb's view of a core
disagrees with them, and records what gdb showed ("gdb_agrees", "gdb_full").
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("corpora_build", HERE / "build.py")
B = importlib.util.module_from_spec(spec)
spec.loader.exec_module(B)

SEEDS = {
    "entry_nomarker": ("page_fault", "do_page_fault"),
    "entry_marker": ("page_fault", "do_page_fault"),
    "entry_nomarker_pie": ("page_fault", "do_page_fault"),
    "entry_marker_pie": ("page_fault", "do_page_fault"),
    "sigsegv_glibc": ("__restore_rt", "segv_handler"),
    "sigsegv_restorer": ("my_restore_rt", "segv_handler"),
}
CALLEE_SAVED = ["rbx", "rbp", "r12", "r13", "r14", "r15"]
FAULTING_INSN_OFFSET = 160   # 6 pushes (10 bytes) + 15 movabs (150 bytes)


def sym_addr(binary, name):
    out = subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise KeyError(name)


def expected_for(name, sigframe, handler):
    frames = [
        {"function": "some_func", "type": "NORMAL"},
        {"function": "some_other_func", "type": "NORMAL"},
        {"function": handler, "type": "NORMAL"},
        {"function": sigframe, "type": "SIGTRAMP",
         "note": "signal frame (.cfi_signal_frame / 'S' augmentation): the caller's pc is used "
                 "as-is (no -1) for the FDE lookup"},
        {"function": "faulting_func", "type": "NORMAL", "interrupted": True,
         "pc": {"symbol": "faulting_func", "offset": FAULTING_INSN_OFFSET},
         "registers": {r: v for r, v in B.MAGIC.items()}},
        {"function": "caller_a", "type": "NORMAL",
         "note": "callee-saved registers (rbx rbp r12-r15) are restored from faulting_func's "
                 "pushes and are NOT magic; rsp = rsp(faulting_func) + 56"},
        {"function": "main", "type": "NORMAL"},
    ]
    seed = "entry" if name.startswith("entry") else "sigsegv"
    inv = [
        "frames listed are a contiguous run of the crashing thread's physical frames, "
        "starting at frame 0 (some_func raises SIGABRT itself: corpora/die_here.h)",
        "faulting_func: every GPR except rsp holds its magic value (expected/magic.json)",
        "faulting_func: pc == faulting_func + %d exactly" % FAULTING_INSN_OFFSET,
        "caller_a: rsp == faulting_func's rsp + 56; rbx rbp r12-r15 not magic",
    ]
    if seed == "entry":
        inv.append("faulting_func: rsp == pt_regs.sp == page_fault's CFA; the 8 bytes at rsp-8 "
                   "hold pc + 5 (the return address of `call page_fault`)")
    else:
        inv.append("faulting_func: rsp/rip come from the kernel's sigcontext (uc_mcontext) on the stack")
    if name.startswith("entry_marker"):
        inv.append("frame-pointer view: [rbp] chain from do_page_fault reaches a record whose return "
                   "address is pt_regs+1 and whose next slot is the pt_regs pointer")
    return {"program": name, "scenario": seed, "frames": frames, "invariants": inv,
            "faulting_insn_offset": FAULTING_INSN_OFFSET}


def main(outdir):
    outdir = Path(outdir)
    ok = True
    for name, (sigframe, handler) in SEEDS.items():
        exp = expected_for(name, sigframe, handler)
        art = B.artifacts(name, outdir)
        oracle = json.loads(art["oracle"].read_text())
        crash = oracle["threads"][0]["frames"]
        names = [B._frame_names(f) for f in crash]
        start = next(i for i, n in enumerate(names) if "some_func" in n)
        problems = []
        for k, ef in enumerate(exp["frames"]):
            gf = crash[start + k]
            if ef["function"] not in B._frame_names(gf):
                problems.append(f"frame {k}: gdb {gf['function']!r} != {ef['function']!r}")
            if gf["type"] != ef["type"]:
                problems.append(f"frame {k}: gdb type {gf['type']} != {ef['type']}")
        ff = crash[start + 4]
        ca = crash[start + 5]
        base = sym_addr(str(art["binary"]), "faulting_func")
        if oracle["binary"] and ff["pc"] - base != FAULTING_INSN_OFFSET and not name.endswith("_pie"):
            problems.append(f"faulting pc offset {ff['pc'] - base}")
        for r, v in B.MAGIC.items():
            if ff["registers"][r] != v:
                problems.append(f"faulting_func {r} = {ff['registers'][r]!r}")
        if ca["registers"]["rsp"] != ff["registers"]["rsp"] + 56:
            problems.append("caller_a rsp != faulting_func rsp + 56")
        if any(ca["registers"][r] == B.MAGIC[r] for r in CALLEE_SAVED):
            problems.append("caller_a callee-saved register is magic")
        exp["gdb_agrees"] = not problems
        exp["gdb_problems"] = problems
        exp["gdb_full"] = [{"function": f["function"], "symbol": f["symbol"], "type": f["type"]}
                           for f in crash]
        (B.EXPECTED / f"{name}.json").write_text(json.dumps(exp, indent=1) + "\n")
        print(name, "gdb agrees" if not problems else f"DISAGREES: {problems}")
        ok &= not problems
    magic = {"formula": "0xC0DE000000000000 | (0x10 + dwarf_regno) * 0x010101010101",
             "registers": {r: {"value": "%#018x" % v, "int": v,
                               "dwarf_regno": [k for k, n in B._DWARF_NAMES.items() if n == r][0]}
                           for r, v in B.MAGIC.items()},
             "not_loaded": ["rsp"]}
    (B.EXPECTED / "magic.json").write_text(json.dumps(magic, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
