/* .cfi_val_encoded_addr REG, ENCODING, LABEL (GNU as only): DW_CFA_val_expression whose expression is
   DW_OP_addr (encoding 0, absptr) or DW_OP_GNU_encoded_addr (0xf1) followed by the encoding byte and a
   pointer in that encoding (here pcrel|sdata4 and udata4), relocated by the linker.  readelf shows "vexp"
   for the column.  llvm-dwarfdump 14 cannot decode DW_OP_GNU_encoded_addr ("<decoding error>"): the
   expression text is compared with readelf's instead (tests/test_cfi_expr.py). */
	.text
	.globl	f_vea
	.type	f_vea, @function
f_vea:
	.cfi_startproc
	.cfi_val_encoded_addr %rbx, 0x1b, vea_target
	nop
	.cfi_val_encoded_addr %rbp, 0, vea_target
	nop
	.cfi_val_encoded_addr %rip, 0x03, vea_target
	nop
	.cfi_restore %rbx
	.cfi_restore %rip
	ret
	.cfi_endproc
	.size	f_vea, .-f_vea
vea_target:
	ret
