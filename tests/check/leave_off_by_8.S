/* The CFA after leave off by 8. */
	.text
	.globl	f
	.type	f, @function
f:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register rbp
	sub	$32, %rsp
	mov	%rdi, -8(%rbp)
	mov	-8(%rbp), %rax
	leave
#ifndef BROKEN
	.cfi_def_cfa rsp, 8
#else
	.cfi_def_cfa rsp, 16
#endif
	.globl	expect_finding
expect_finding:
	ret
	.cfi_endproc
	.size	f, .-f
	.section .note.GNU-stack, "", @progbits
