/* FDEs with nothing in them (llvm/test/MC/ELF/cfi-large-model.s and eh-frame-large-fde-encoding.s use
   an empty .cfi_startproc/.cfi_endproc; gas/testsuite/gas/cfi/cfi-common-9.d expects an FDE of nops only):
   zero-length FDEs at the same address as the next function, one between two real ones, and a
   one-byte FDE whose only instructions are nops.  readelf prints no row for an FDE without
   instructions: its row is the CIE's, which is what ours must be.  GNU ld drops the zero-length FDEs
   when it links (there is no code for them), so they are checked in the object; the others in both. */
	.text
	.globl	f_zero1
	.type	f_zero1, @function
f_zero1:
	.cfi_startproc
	.cfi_endproc
	.globl	f_after_zero
	.type	f_after_zero, @function
f_after_zero:
	.cfi_startproc
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	pop	%rbp
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	f_after_zero, .-f_after_zero

	.globl	f_zero2
	.type	f_zero2, @function
f_zero2:
	.cfi_startproc simple
	.cfi_def_cfa %rsp, 16
	.cfi_endproc

	.globl	f_nops
	.type	f_nops, @function
f_nops:
	.cfi_startproc
	.cfi_escape 0x00, 0x00, 0x00
	ret
	.cfi_endproc
	.size	f_nops, .-f_nops

	.globl	f_zero3
	.type	f_zero3, @function
f_zero3:
	.cfi_startproc
	.cfi_undefined %rip
	.cfi_endproc
