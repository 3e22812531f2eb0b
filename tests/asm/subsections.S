/* Two FDEs open at once: the second one's code lives in .subsection 3 (placed after subsection 0),
   and the directives of the two alternate (after gas/testsuite/gas/cfi/cfi-common-5.s).  gas keeps
   one CFI state per frag chain, so each FDE must see only its own instructions: the outer FDE's
   remember/restore around the inner one's adjust, the inner one's def_cfa and adjust.  Plus, from
   cfi-common-2/3/4: remember_state and restore_state with no advance between them, and in two FDEs
   in a row (readelf keeps one remembered-state stack per section; each FDE here empties its own). */
	.text
	.globl	f_outer
	.type	f_outer, @function
f_outer:
	.cfi_startproc
	push	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset %rbx, -16

	.subsection 3
	.globl	f_inner
	.type	f_inner, @function
f_inner:
	.cfi_startproc simple
	.cfi_def_cfa %rsp, 8
	.cfi_offset %rip, -8
	push	%rbp
	.cfi_def_cfa %rsp, 16
	.cfi_offset %rbp, -16
	.previous

	nop
	.cfi_remember_state

	.subsection 3
	mov	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	sub	$16, %rsp
	.cfi_adjust_cfa_offset -16	/* CFA is rbp-based: adjust moves the offset anyway (rbp+0) */
	.previous

	pop	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	ret
	.cfi_restore_state
	nop

	.subsection 3
	leave
	.cfi_def_cfa %rsp, 8
	.cfi_restore %rbp
	ret
	.cfi_endproc
	.size	f_inner, .-f_inner
	.previous

	pop	%rbx
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	f_outer, .-f_outer

	/* cfi-common-3/4: remember and restore at one address, twice in a row */
	.globl	f_rr1
	.type	f_rr1, @function
f_rr1:
	.cfi_startproc simple
	.cfi_def_cfa %rsp, 8
	.cfi_remember_state
	.cfi_restore_state
	nop
	.cfi_remember_state
	.cfi_def_cfa_offset 0
	.cfi_restore_state
	ret
	.cfi_endproc
	.size	f_rr1, .-f_rr1

	.globl	f_rr2
	.type	f_rr2, @function
f_rr2:
	.cfi_startproc
	.cfi_remember_state
	.cfi_restore_state
	nop
	.cfi_def_cfa %rax, 16		/* cfi-common-2 */
	nop
	.cfi_remember_state
	nop
	.cfi_def_cfa_offset 0
	nop
	.cfi_restore_state
	nop
	.cfi_def_cfa_offset 0
	ret
	.cfi_endproc
	.size	f_rr2, .-f_rr2
