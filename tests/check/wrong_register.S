/* The save of rbx described as a save of r12. */
	.text
	.globl	f
	.type	f, @function
f:
	.cfi_startproc
	push	%rbx
	.cfi_adjust_cfa_offset 8
#ifndef BROKEN
	.cfi_offset rbx, -16
#else
	.cfi_offset r12, -16
#endif
	.globl	expect_finding
expect_finding:
	lea	1(%rdi), %rax
	pop	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbx
	.cfi_restore r12
	ret
	.cfi_endproc
	.size	f, .-f
	.section .note.GNU-stack, "", @progbits
