/* .cfi_return_column: the CIE's return_address_register names the return-address column; readelf calls
   that column "ra" and column 16 "rip". */
	.text
	.globl	f_return_column
	.type	f_return_column, @function
f_return_column:
	.cfi_startproc
	.cfi_return_column 0
	.cfi_offset %rax, -8
	nop
	.cfi_undefined %rip
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	pop	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_return_column, .-f_return_column
