/* .cfi_label: a symbol placed inside the CFI instruction stream (GNU as and LLVM MC both have it;
   gas/testsuite/gas/cfi/cfi-label.s, llvm/test/MC/ELF/cfi-label.s).  It forces an advance_loc where
   nothing else changes, and the DW_CFA_nop bytes written with .cfi_escape after each label are real
   instructions between a remember_state and its restore_state.  readelf prints a row at every advance
   even when no rule changed; the rows must all equal the CIE's. */
	.text
	.globl	f_label
	.type	f_label, @function
f_label:
	.cfi_startproc
	.cfi_remember_state
	nop
	.cfi_label cfi_label_1
	.cfi_escape 0x00
	nop
	.globl	cfi_label_2
	.cfi_label cfi_label_2
	.cfi_escape 0x00, 0x00
	nop
	.cfi_label .Lcfi_label_3
	.cfi_escape 0x00, 0x00, 0x00
	.cfi_restore_state
	ret
	.cfi_endproc
	.size	f_label, .-f_label

	/* a label between real changes, and one straight after .cfi_startproc (before any advance) */
	.globl	f_label2
	.type	f_label2, @function
f_label2:
	.cfi_startproc
	.cfi_label cfi_label_4
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_label cfi_label_5
	.cfi_offset %rbp, -16
	pop	%rbp
	.cfi_label cfi_label_6
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_label2, .-f_label2

