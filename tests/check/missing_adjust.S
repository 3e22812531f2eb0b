/* A push without its .cfi_adjust_cfa_offset. */
	.text
	.globl	f
	.type	f, @function
f:
	.cfi_startproc
	push	%rbx
#ifndef BROKEN
	.cfi_adjust_cfa_offset 8
#endif
	.cfi_offset rbx, -16
	.globl	expect_finding
expect_finding:
	mov	%rdi, %rbx
	lea	1(%rbx), %rax
	pop	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbx
	ret
	.cfi_endproc
	.size	f, .-f
	.section .note.GNU-stack, "", @progbits
