/* A signal-frame entry stub saving registers into a pt_regs-like block described with
 * DW_CFA_expression (DW_OP_breg7 N) rules, as corpora/entry.S does; in the broken build
 * the rule for rbx names r12's slot. */
#define RULE(regno, off) .cfi_escape 0x10, regno, 2, 0x77, off
	.text
	.globl	entry_stub
	.type	entry_stub, @function
entry_stub:
	.cfi_startproc
	.cfi_signal_frame
	sub	$32, %rsp
	.cfi_adjust_cfa_offset 32
	mov	%r12, 16(%rsp)
	RULE(12, 16)
	mov	%rbx, 8(%rsp)
#ifndef BROKEN
	RULE(3, 8)
#else
	RULE(3, 16)
#endif
	.globl	expect_finding
expect_finding:
	mov	%rbp, 24(%rsp)
	RULE(6, 24)
	mov	%rsp, %rdi
	call	handler
	ud2
	.cfi_endproc
	.size	entry_stub, .-entry_stub

	.globl	handler
	.type	handler, @function
handler:
	.cfi_startproc
	ret
	.cfi_endproc
	.size	handler, .-handler
	.section .note.GNU-stack, "", @progbits
