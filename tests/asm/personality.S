/* .cfi_personality / .cfi_lsda with several pointer encodings ('zPLR' augmentations):
   0x9b indirect|pcrel|sdata4, 0x1b pcrel|sdata4, 0x03 udata4, 0x00 absptr, 0x0c sdata8,
   0x04 udata8, 0x1c pcrel|sdata8, 0x12 pcrel|udata2 (lsda), 0x0b sdata4 */
	.text
	.globl	pers
	.type	pers, @function
pers:
	ret
	.size	pers, .-pers

	.section .rodata
	.align 8
lsda1:	.quad 0
lsda2:	.quad 0
	.section .data
	.align 8
	.globl	DW.ref.pers
DW.ref.pers:
	.quad	pers
	.text

	.globl	f_p9b
	.type	f_p9b, @function
f_p9b:
	.cfi_startproc
	.cfi_personality 0x9b, DW.ref.pers
	.cfi_lsda 0x1b, lsda1
	push	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	pop	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_p9b, .-f_p9b

	.globl	f_p03
	.type	f_p03, @function
f_p03:
	.cfi_startproc
	.cfi_personality 0x03, pers
	.cfi_lsda 0x03, lsda2
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	ret
	.cfi_endproc
	.size	f_p03, .-f_p03

	.globl	f_p00
	.type	f_p00, @function
f_p00:
	.cfi_startproc
	.cfi_personality 0x00, pers
	.cfi_lsda 0x00, lsda1
	push	%r12
	.cfi_def_cfa_offset 16
	.cfi_offset %r12, -16
	ret
	.cfi_endproc
	.size	f_p00, .-f_p00

	.globl	f_p0c
	.type	f_p0c, @function
f_p0c:
	.cfi_startproc
	.cfi_personality 0x0c, pers
	.cfi_lsda 0x04, lsda2
	nop
	.cfi_def_cfa_offset 32
	ret
	.cfi_endproc
	.size	f_p0c, .-f_p0c

	.globl	f_p1c
	.type	f_p1c, @function
f_p1c:
	.cfi_startproc
	.cfi_personality 0x1c, pers
	.cfi_lsda 0x1b, lsda2
	nop
	.cfi_def_cfa_offset 24
	ret
	.cfi_endproc
	.size	f_p1c, .-f_p1c

	.globl	f_p0b
	.type	f_p0b, @function
f_p0b:
	.cfi_startproc
	.cfi_personality 0x0b, pers
	nop
	.cfi_def_cfa_offset 40
	ret
	.cfi_endproc
	.size	f_p0b, .-f_p0b

	/* lsda only (augmentation "zLR") */
	.globl	f_lsda_only
	.type	f_lsda_only, @function
f_lsda_only:
	.cfi_startproc
	.cfi_lsda 0x1b, lsda1
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	f_lsda_only, .-f_lsda_only
