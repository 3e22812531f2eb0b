"""x86-64 register numbering (System V psABI, DWARF) and stack layouts."""

from __future__ import annotations

# DWARF register numbers, psABI figure 3.36.
RAX, RDX, RCX, RBX, RSI, RDI, RBP, RSP = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)
RA = 16  # return-address column; it holds rip in unwound frames

#: Names of the general-purpose registers in DWARF order (0..15).
GPR_NAMES: tuple[str, ...] = (
    "rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
)

#: The registers reported per frame, in the order gdb and the JSON contract use.
FRAME_REGISTERS: tuple[str, ...] = (
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip",
)

REGNO: dict[str, int] = {name: n for n, name in enumerate(GPR_NAMES)}
REGNO["rip"] = RA

#: Callee-saved registers (psABI): without a CFI rule they keep their value in the caller.
CALLEE_SAVED: frozenset[int] = frozenset({RBX, RBP, RSP, R12, R13, R14, R15})

ADDRESS_SIZE = 8


def register_name(regno: int) -> str:
    """The name readelf uses for a DWARF column: a GPR name, ``ra`` or ``rN``."""
    if 0 <= regno < 16:
        return GPR_NAMES[regno]
    if regno == RA:
        return "ra"
    return f"r{regno}"


def column_name(regno: int, ra: int = RA) -> str:
    """The name readelf gives column ``regno`` of a table whose CIE's return-address column is ``ra``.

    The return-address column is ``ra`` whatever its number; column 16 is ``rip`` when it is not
    the return-address column (``.cfi_return_column``), otherwise as :func:`register_name`.
    """
    if regno == ra:
        return "ra"
    if regno == RA:
        return "rip"
    return register_name(regno)


def llvm_register_name(regno: int) -> str:
    """The name llvm-dwarfdump uses in expressions (upper case, RIP for 16)."""
    if 0 <= regno < 16:
        return GPR_NAMES[regno].upper()
    if regno == RA:
        return "RIP"
    if 17 <= regno <= 32:
        return f"XMM{regno - 17}"
    return f"reg{regno}"


# struct pt_regs (arch/x86/include/asm/ptrace.h), 8 bytes per slot, from low address.
PT_REGS_SLOTS: tuple[str, ...] = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
    "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
)
PT_REGS_SIZE = 8 * len(PT_REGS_SLOTS)

# NT_PRSTATUS on x86-64 carries struct user_regs_struct: the pt_regs slots
# followed by fs_base gs_base ds es fs gs.
USER_REGS_SLOTS: tuple[str, ...] = PT_REGS_SLOTS + ("fs_base", "gs_base", "ds", "es", "fs", "gs")

# struct sigcontext inside ucontext_t (uc_mcontext.gregs), from the start of gregs.
SIGCONTEXT_GREGS: tuple[str, ...] = (
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip",
)
# offsetof(ucontext_t, uc_mcontext) on x86-64 glibc / kernel rt_sigframe after the return address.
UCONTEXT_MCONTEXT_OFFSET = 40
