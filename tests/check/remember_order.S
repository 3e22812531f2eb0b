/* remember_state/restore_state: the restore placed before the early return instead of after it. */
	.text
	.globl	f
	.type	f, @function
f:
	.cfi_startproc
	push	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset rbx, -16
	mov	%rdi, %rbx
	test	%edi, %edi
	je	1f
	.cfi_remember_state
	pop	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbx
#ifdef BROKEN
	.cfi_restore_state
#endif
	.globl	expect_finding
expect_finding:
	ret
1:
#ifndef BROKEN
	.cfi_restore_state
#endif
	lea	2(%rbx), %rax
	pop	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbx
	ret
	.cfi_endproc
	.size	f, .-f
	.section .note.GNU-stack, "", @progbits
