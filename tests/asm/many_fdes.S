/* Many FDEs: 3000 small functions, each with its own FDE (GNU as's CIE shared by all), code lengths and
   rules varying with the index, plus a 4000-byte hole without CFI in the middle.  The linked executable's
   .eh_frame_hdr search table has 3000 entries; test_cfi_asm.py looks up the first and last byte of every
   row through it and compares with readelf's rows, and addresses in the hole must find nothing. */
	.text
	.set	mf_i, 0
	.rept	3000
	.cfi_startproc
	.skip	1 + mf_i % 5, 0x90
	push	%rbx
	.cfi_def_cfa_offset 16 + 8 * (mf_i % 7)
	.cfi_offset %rbx, -16
	.skip	1 + mf_i % 3, 0x90
	pop	%rbx
	.cfi_def_cfa_offset 8
	.cfi_restore %rbx
	ret
	.cfi_endproc
	.if	mf_i == 1500
	.skip	4000, 0xcc
	.endif
	.set	mf_i, mf_i + 1
	.endr
