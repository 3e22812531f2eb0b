/* A saved register's slot overwritten while its rule still points there. */
	.text
	.globl	f
	.type	f, @function
f:
	.cfi_startproc
	push	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset rbx, -16
	sub	$16, %rsp
	.cfi_adjust_cfa_offset 16
	mov	%rdi, %rbx
#ifndef BROKEN
	mov	%rax, 8(%rsp)		/* a local */
#else
	mov	%rax, 16(%rsp)		/* the saved rbx */
#endif
	.globl	expect_finding
expect_finding:
	lea	1(%rbx), %rax
	add	$16, %rsp
	.cfi_adjust_cfa_offset -16
	pop	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbx
	ret
	.cfi_endproc
	.size	f, .-f
	.section .note.GNU-stack, "", @progbits
