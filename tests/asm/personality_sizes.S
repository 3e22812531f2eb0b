/* Personality and LSDA pointer encodings beyond personality.S, after llvm/test/MC/ELF/cfi.s (one FDE per
   encoding): pcrel udata2/sdata2 (0x12, 0x1a), pcrel udata4/udata8 (0x13, 0x14), "signed absptr" (0x08),
   and the indirect (0x80 |) forms 0x80, 0x83, 0x84, 0x88, 0x8c, 0x90, 0x92, 0x93, 0x94, 0x98, 0x9a, 0x9c.
   Every FDE has its own CIE, so the augmentation data has a different size each time; the rows must not
   notice.  2-byte pcrel fields must not overflow at link time: their targets are a .rodata label (before
   .eh_frame) for sdata2 and a .data label (after it) for udata2.  The absolute 2-byte personality
   encodings (0x02, 0x0a, 0x82, 0x8a) are in hdr_without_table.S, because GNU ld stops editing .eh_frame
   when it meets them.  GNU as refuses the LEB128 forms (0x01, 0x09), the reserved size codes and the
   textrel/datarel/funcrel/aligned applications, so they are not here. */
	.section .rodata
ps_before:
	.quad	0
	.data
ps_after:
	.quad	0
	.text
	.globl	ps_pers
	.type	ps_pers, @function
ps_pers:
	ret
	.size	ps_pers, .-ps_pers

	.globl	f_ps12
	.type	f_ps12, @function
f_ps12:
	.cfi_startproc
	.cfi_personality 0x12, ps_after
	.cfi_lsda 0x13, ps_after
	nop
	.cfi_def_cfa_offset 32
	ret
	.cfi_endproc
	.size	f_ps12, .-f_ps12

	.globl	f_ps13
	.type	f_ps13, @function
f_ps13:
	.cfi_startproc
	.cfi_personality 0x13, ps_after
	.cfi_lsda 0x12, ps_after
	nop
	.cfi_def_cfa_offset 40
	ret
	.cfi_endproc
	.size	f_ps13, .-f_ps13

	.globl	f_ps14
	.type	f_ps14, @function
f_ps14:
	.cfi_startproc
	.cfi_personality 0x14, ps_pers
	.cfi_lsda 0x14, ps_pers
	nop
	.cfi_def_cfa_offset 48
	ret
	.cfi_endproc
	.size	f_ps14, .-f_ps14

	.globl	f_ps1a
	.type	f_ps1a, @function
f_ps1a:
	.cfi_startproc
	.cfi_personality 0x1a, ps_before
	.cfi_lsda 0x1a, ps_before
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	f_ps1a, .-f_ps1a

	.globl	f_ps08
	.type	f_ps08, @function
f_ps08:
	.cfi_startproc
	.cfi_personality 0x08, ps_pers
	nop
	.cfi_def_cfa_offset 24
	ret
	.cfi_endproc
	.size	f_ps08, .-f_ps08

	.globl	f_ps80
	.type	f_ps80, @function
f_ps80:
	.cfi_startproc
	.cfi_personality 0x80, ps_pers
	nop
	.cfi_def_cfa_offset 32
	ret
	.cfi_endproc
	.size	f_ps80, .-f_ps80

	.globl	f_ps83
	.type	f_ps83, @function
f_ps83:
	.cfi_startproc
	.cfi_personality 0x83, ps_pers
	nop
	.cfi_def_cfa_offset 48
	ret
	.cfi_endproc
	.size	f_ps83, .-f_ps83

	.globl	f_ps84
	.type	f_ps84, @function
f_ps84:
	.cfi_startproc
	.cfi_personality 0x84, ps_pers
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	f_ps84, .-f_ps84

	.globl	f_ps8c
	.type	f_ps8c, @function
f_ps8c:
	.cfi_startproc
	.cfi_personality 0x8c, ps_pers
	nop
	.cfi_def_cfa_offset 32
	ret
	.cfi_endproc
	.size	f_ps8c, .-f_ps8c

	.globl	f_ps88
	.type	f_ps88, @function
f_ps88:
	.cfi_startproc
	.cfi_personality 0x88, ps_pers
	nop
	.cfi_def_cfa_offset 40
	ret
	.cfi_endproc
	.size	f_ps88, .-f_ps88

	.globl	f_ps90
	.type	f_ps90, @function
f_ps90:
	.cfi_startproc
	.cfi_personality 0x90, ps_pers
	nop
	.cfi_def_cfa_offset 48
	ret
	.cfi_endproc
	.size	f_ps90, .-f_ps90

	.globl	f_ps92
	.type	f_ps92, @function
f_ps92:
	.cfi_startproc
	.cfi_personality 0x92, ps_after
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	f_ps92, .-f_ps92

	.globl	f_ps93
	.type	f_ps93, @function
f_ps93:
	.cfi_startproc
	.cfi_personality 0x93, ps_after
	nop
	.cfi_def_cfa_offset 24
	ret
	.cfi_endproc
	.size	f_ps93, .-f_ps93

	.globl	f_ps94
	.type	f_ps94, @function
f_ps94:
	.cfi_startproc
	.cfi_personality 0x94, ps_pers
	nop
	.cfi_def_cfa_offset 32
	ret
	.cfi_endproc
	.size	f_ps94, .-f_ps94

	.globl	f_ps9a
	.type	f_ps9a, @function
f_ps9a:
	.cfi_startproc
	.cfi_personality 0x9a, ps_before
	nop
	.cfi_def_cfa_offset 40
	ret
	.cfi_endproc
	.size	f_ps9a, .-f_ps9a

	.globl	f_ps9c
	.type	f_ps9c, @function
f_ps9c:
	.cfi_startproc
	.cfi_personality 0x9c, ps_pers
	nop
	.cfi_def_cfa_offset 48
	ret
	.cfi_endproc
	.size	f_ps9c, .-f_ps9c

	.globl	f_ps98
	.type	f_ps98, @function
f_ps98:
	.cfi_startproc
	.cfi_personality 0x98, ps_pers
	nop
	.cfi_def_cfa_offset 16
	ret
	.cfi_endproc
	.size	f_ps98, .-f_ps98

	.globl	f_ps0b
	.type	f_ps0b, @function
f_ps0b:
	.cfi_startproc
	.cfi_personality 0x0b, ps_pers
	nop
	.cfi_def_cfa_offset 24
	ret
	.cfi_endproc
	.size	f_ps0b, .-f_ps0b
