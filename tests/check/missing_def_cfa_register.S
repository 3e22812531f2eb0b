/* mov %rsp,%rbp without .cfi_def_cfa_register: wrong from the next rsp change on. */
	.text
	.globl	f
	.type	f, @function
f:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset rbp, -16
	mov	%rsp, %rbp
#ifndef BROKEN
	.cfi_def_cfa_register rbp
#endif
	sub	$32, %rsp
	.globl	expect_finding
expect_finding:
	mov	%rdi, -8(%rbp)
	mov	-8(%rbp), %rax
	leave
	.cfi_def_cfa rsp, 8
	ret
	.cfi_endproc
	.size	f, .-f
	.section .note.GNU-stack, "", @progbits
