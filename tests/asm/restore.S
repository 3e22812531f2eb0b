/* DW_CFA_restore (column < 64), DW_CFA_restore_extended (column >= 64, and via .cfi_escape),
   restoring a column that the CIE never defined (-> undefined) */
	.text
	.globl	f_restore
	.type	f_restore, @function
f_restore:
	.cfi_startproc
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	nop
	.cfi_offset %rip, -24
	nop
	.cfi_offset 80, -32
	nop
	.cfi_restore %rip
	nop
	.cfi_restore 80
	nop
	.cfi_restore %rbx
	nop
	.cfi_offset %rbx, -16
	nop
	.cfi_escape 0x06, 0x03	/* DW_CFA_restore_extended rbx */
	nop
	.cfi_offset %rip, -40
	nop
	.cfi_escape 0x06, 0x10	/* DW_CFA_restore_extended rip */
	pop	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_restore, .-f_restore
