# gdb script: single-step through the page_fault entry stub of an entry_*
# binary (live process) and check, at EVERY instruction, that gdb's
# DWARF unwind of the stub's caller yields faulting_func at the faulting
# instruction with all magic register values and the exact interrupted sp.
# Usage: gdb -batch -nx -x corpora/gdb_check_entry_stepping.py BINARY
# Prints "OK <n> instructions checked" or "FAIL ..." lines; exit status 1 on failure.
import gdb

MAGIC = {
    "rax": 0xC0DE101010101010, "rdx": 0xC0DE111111111111, "rcx": 0xC0DE121212121212,
    "rbx": 0xC0DE131313131313, "rsi": 0xC0DE141414141414, "rdi": 0xC0DE151515151515,
    "rbp": 0xC0DE161616161616, "r8": 0xC0DE181818181818, "r9": 0xC0DE191919191919,
    "r10": 0xC0DE1A1A1A1A1A1A, "r11": 0xC0DE1B1B1B1B1B1B, "r12": 0xC0DE1C1C1C1C1C1C,
    "r13": 0xC0DE1D1D1D1D1D1D, "r14": 0xC0DE1E1E1E1E1E1E, "r15": 0xC0DE1F1F1F1F1F1F,
}
M64 = (1 << 64) - 1
gdb.execute("set confirm off")
gdb.execute("set pagination off")
gdb.execute("set debuginfod enabled off")
gdb.execute("break *page_fault")
gdb.execute("run")
entry_sp = int(gdb.parse_and_eval("$rsp")) & M64
want_sp = entry_sp + 8
want_ip = (int(gdb.parse_and_eval("*(unsigned long *)$rsp")) - 5) & M64
fails = []
n = 0
while True:
    f = gdb.newest_frame()
    pc = f.pc()
    insn = gdb.execute("x/i $pc", to_string=True)
    if f.name() != "page_fault":
        break
    caller = f.older()
    got = {r: int(caller.read_register(r)) & M64 for r in list(MAGIC) + ["rsp", "rip"]}
    bad = [r for r in MAGIC if got[r] != MAGIC[r]]
    if got["rsp"] != want_sp:
        bad.append("rsp=%#x want %#x" % (got["rsp"], want_sp))
    if got["rip"] != want_ip:
        bad.append("rip=%#x want %#x" % (got["rip"], want_ip))
    if caller.name() != "faulting_func":
        bad.append("caller=%s" % caller.name())
    if bad:
        fails.append("at %s: %s" % (insn.strip(), ", ".join(bad)))
    n += 1
    gdb.execute("stepi", to_string=True)
for line in fails:
    print("FAIL", line)
print("OK %d instructions checked" % n if not fails else "FAILED %d/%d" % (len(fails), n))
gdb.execute("kill")
if fails:
    gdb.execute("quit 1")
