/* DW_CFA_GNU_negative_offset_extended (0x2f): offset = -(ULEB) * data_align
   (llvm-dwarfdump 14 cannot decode this opcode; readelf can) */
	.text
	.globl	f_negoff
	.type	f_negoff, @function
f_negoff:
	.cfi_startproc
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_escape 0x2f, 0x03, 0x02	/* rbx, 2 -> saved at CFA+16 */
	nop
	.cfi_escape 0x2f, 0x06, 0x05	/* rbp, 5 -> saved at CFA+40 (operand < 0x40: readelf reads it as SLEB) */
	pop	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_negoff, .-f_negoff
