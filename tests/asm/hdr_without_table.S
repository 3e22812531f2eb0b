/* An .eh_frame_hdr without a search table.  A personality pointer in an absolute 2-byte encoding (udata2
   0x02, sdata2 0x0a, and indirect 0x82, 0x8a; llvm/test/MC/ELF/cfi.s writes them) to an absolute symbol is
   resolved by the assembler, so the field has no relocation; GNU ld then cannot edit the CIE, says "error in
   ...(.eh_frame); no .eh_frame_hdr table will be created" and writes a header whose fde_count and table
   encodings are DW_EH_PE_omit.  The LSB (10.6.2) allows that: there is no table, and a consumer finds FDEs by
   scanning .eh_frame (libgcc's unwind-dw2-fde-dip.c falls back to a linear search).  The rows are the
   ordinary ones; test_cfi_asm.py also checks that the header really has no table (readelf's hex dump), that
   our CLI reads the file without complaint, and that address lookups still find every row. */
	.set	hw_pers16, 0x1234
	.text
	.globl	f_hw02
	.type	f_hw02, @function
f_hw02:
	.cfi_startproc
	.cfi_personality 0x02, hw_pers16
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	pop	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_hw02, .-f_hw02

	.globl	f_hw0a
	.type	f_hw0a, @function
f_hw0a:
	.cfi_startproc
	.cfi_personality 0x0a, hw_pers16
	.cfi_lsda 0x0a, hw_pers16
	nop
	.cfi_def_cfa_offset 24
	ret
	.cfi_endproc
	.size	f_hw0a, .-f_hw0a

	.globl	f_hw82
	.type	f_hw82, @function
f_hw82:
	.cfi_startproc
	.cfi_personality 0x82, hw_pers16
	nop
	.cfi_def_cfa %rbp, 16
	nop
	.cfi_offset %rbp, -16
	ret
	.cfi_endproc
	.size	f_hw82, .-f_hw82

	.globl	f_hw8a
	.type	f_hw8a, @function
f_hw8a:
	.cfi_startproc
	.cfi_personality 0x8a, hw_pers16
	.cfi_lsda 0x02, hw_pers16
	nop
	.cfi_undefined %rip
	ret
	.cfi_endproc
	.size	f_hw8a, .-f_hw8a

	/* and FDEs without a personality around them, for lookups that must skip the others */
	.globl	f_hw_plain
	.type	f_hw_plain, @function
f_hw_plain:
	.cfi_startproc
	sub	$24, %rsp
	.cfi_adjust_cfa_offset 24
	add	$24, %rsp
	.cfi_adjust_cfa_offset -24
	ret
	.cfi_endproc
	.size	f_hw_plain, .-f_hw_plain
