/* Accepted by readelf, libgcc and gdb although the standard does not allow them: restore of a column the
   CIE never set (no rule), restore_state with nothing remembered (changes nothing; readelf says
   "Mismatched DW_CFA_restore_state"), and an advance past the FDE's end (a row that governs nothing). */
	.text
	.globl	f_odd
	.type	f_odd, @function
f_odd:
	.cfi_startproc
	.cfi_restore %rbx
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	nop
	.cfi_escape 0x0b	/* DW_CFA_restore_state, nothing remembered */
	nop
	.cfi_restore %r12
	.cfi_offset %r12, -24
	pop	%rbx
	.cfi_def_cfa_offset 8
	.cfi_escape 0x02, 0xf0	/* DW_CFA_advance_loc1 240: past the end */
	.cfi_offset %r13, -32
	ret
	.cfi_endproc
	.size	f_odd, .-f_odd
