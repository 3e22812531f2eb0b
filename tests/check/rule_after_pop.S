/* A register rule left in place after the pop that restored it; the slot is then reused. */
	.text
	.globl	f
	.type	f, @function
f:
	.cfi_startproc
	push	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset rbx, -16
	mov	%rdi, %rbx
	lea	1(%rbx), %rax
	pop	%rbx
	.cfi_adjust_cfa_offset -8
#ifndef BROKEN
	.cfi_restore rbx
#endif
	push	%rax
	.cfi_adjust_cfa_offset 8
	.globl	expect_finding
expect_finding:
	pop	%rax
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	f, .-f
	.section .note.GNU-stack, "", @progbits
