/*
 * Real-kernel counterpart of the seed scenario (entry.S):
 *
 *   main -> caller_a -> faulting_func --SIGSEGV--> [kernel signal frame]
 *        -> segv_handler -> some_other_func -> some_func -> abort()
 *
 * faulting_func loads the magic values (magic.h) into every GPR except rsp
 * and then does a NULL load with an absolute address (`movq 0x0, %rax`:
 * no register is used for the address, and rax is never written because
 * the load faults), so the kernel's sigcontext holds all the magic values.
 *
 * my_restore_rt is our own signal restorer, installed by the SA_RESTORER
 * build (sigsegv_restorer) through the raw rt_sigaction syscall.  Its CFI
 * is a byte-for-byte copy of glibc 2.36's __restore_rt CFI (see
 * `readelf --debug-dump=frames libc.so.6`): signal-frame CIE, the CFA and
 * every register described with DW_CFA_def_cfa_expression /
 * DW_CFA_expression rules relative to rsp, which points at the kernel's
 * struct ucontext (uc_mcontext = struct sigcontext at offset 40) when the
 * handler returns into the restorer.
 */
#include "magic.h"

	.text

	.globl	faulting_func
	.type	faulting_func, @function
	.p2align 4
faulting_func:
	.cfi_startproc
	FAULTING_FUNC_PROLOGUE_AND_LOAD_MAGIC
.Lfaulting_insn:
	movq	0x0, %rax		/* NULL load: SIGSEGV, all GPRs still magic */
	ud2
	.cfi_endproc
	.size	faulting_func, .-faulting_func

/*
 * struct sigcontext offsets from rsp at my_restore_rt (= &ucontext):
 *   r8 40  r9 48  r10 56  r11 64  r12 72  r13 80  r14 88  r15 96
 *   rdi 104  rsi 112  rbp 120  rbx 128  rdx 136  rax 144  rcx 152
 *   rsp 160  rip 168
 * CFA = *(rsp + 160) (the interrupted rsp), exactly like glibc.
 *
 * `.cfi_startproc simple` so the CIE has no initial instructions (glibc's
 * CIE for __restore_rt has none either).
 *
 * Why the nop before the label: the signal handler "returns" to
 * my_restore_rt, so my_restore_rt is the return address stored in the
 * handler's frame.  An unwinder that does not know that this frame is a
 * signal frame (before it has looked up the FDE, or one that ignores the
 * 'S' augmentation) looks up return_address - 1 = my_restore_rt - 1.  The
 * FDE therefore starts one byte early, at the nop, so that lookup still
 * finds this FDE (and its 'S' flag) instead of the preceding function or
 * nothing.
 */
	.p2align 4
	.cfi_startproc simple
	.cfi_signal_frame
	/* DW_CFA_def_cfa_expression: DW_OP_breg7 160; DW_OP_deref */
	.cfi_escape 0x0f, 4, 0x77, 0xa0, 0x01, 0x06
	/* DW_CFA_expression: reg, len, DW_OP_breg7 off */
	.cfi_escape 0x10,  8, 2, 0x77, 40		/* r8  */
	.cfi_escape 0x10,  9, 2, 0x77, 48		/* r9  */
	.cfi_escape 0x10, 10, 2, 0x77, 56		/* r10 */
	.cfi_escape 0x10, 11, 3, 0x77, 0xc0, 0x00	/* r11 64 */
	.cfi_escape 0x10, 12, 3, 0x77, 0xc8, 0x00	/* r12 72 */
	.cfi_escape 0x10, 13, 3, 0x77, 0xd0, 0x00	/* r13 80 */
	.cfi_escape 0x10, 14, 3, 0x77, 0xd8, 0x00	/* r14 88 */
	.cfi_escape 0x10, 15, 3, 0x77, 0xe0, 0x00	/* r15 96 */
	.cfi_escape 0x10,  5, 3, 0x77, 0xe8, 0x00	/* rdi 104 */
	.cfi_escape 0x10,  4, 3, 0x77, 0xf0, 0x00	/* rsi 112 */
	.cfi_escape 0x10,  6, 3, 0x77, 0xf8, 0x00	/* rbp 120 */
	.cfi_escape 0x10,  3, 3, 0x77, 0x80, 0x01	/* rbx 128 */
	.cfi_escape 0x10,  1, 3, 0x77, 0x88, 0x01	/* rdx 136 */
	.cfi_escape 0x10,  0, 3, 0x77, 0x90, 0x01	/* rax 144 */
	.cfi_escape 0x10,  2, 3, 0x77, 0x98, 0x01	/* rcx 152 */
	.cfi_escape 0x10,  7, 3, 0x77, 0xa0, 0x01	/* rsp 160 */
	.cfi_escape 0x10, 16, 3, 0x77, 0xa8, 0x01	/* rip 168 */
	nop
	.globl	my_restore_rt
	.type	my_restore_rt, @function
my_restore_rt:
	movl	$15, %eax		/* __NR_rt_sigreturn */
	syscall
	.cfi_endproc
	.size	my_restore_rt, .-my_restore_rt

	.section .rodata
	.globl	faulting_insn_offset
	.type	faulting_insn_offset, @object
	.p2align 3
faulting_insn_offset:
	.quad	.Lfaulting_insn - faulting_func
	.size	faulting_insn_offset, 8

	.section .note.GNU-stack, "", @progbits
