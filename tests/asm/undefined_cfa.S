/* .cfi_startproc simple with no def_cfa: the CFA is undefined ("u"; readelf shows its zeroed state, rax+0)
   until def_cfa_register defines it; def_cfa_offset before that only records the offset, as in libgcc. */
	.text
	.globl	f_undefined_cfa
	.type	f_undefined_cfa, @function
f_undefined_cfa:
	.cfi_startproc simple
	nop
	.cfi_def_cfa_offset 16
	nop
	.cfi_def_cfa_register %rbp
	nop
	.cfi_offset %rip, -8
	ret
	.cfi_endproc
	.size	f_undefined_cfa, .-f_undefined_cfa
