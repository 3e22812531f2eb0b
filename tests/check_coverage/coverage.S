/* Coverage findings by construction (see tests/test_check_coverage.py). */
	.text
	/* A FUNC symbol with code and no FDE: a note. */
	.globl	no_fde
	.type	no_fde, @function
no_fde:
	ret
	.size	no_fde, .-no_fde

	/* An FDE that ends in the middle of an instruction (movabs is 10 bytes). */
	.globl	ends_mid
	.type	ends_mid, @function
ends_mid:
	.cfi_startproc
	nop
	.byte	0x48, 0xb8, 1, 2, 3
	.cfi_endproc
	.byte	4, 5, 6, 7, 8
	ret
	.size	ends_mid, .-ends_mid

	/* An FDE that starts in the middle of an instruction of its symbol. */
	.globl	starts_mid
	.type	starts_mid, @function
starts_mid:
	.byte	0x48, 0xb8, 1, 2, 3
	.cfi_startproc
	.byte	4, 5, 6, 7, 8
	ret
	.cfi_endproc
	.size	starts_mid, .-starts_mid

	/* A clean one, for the .eh_frame_hdr test to corrupt. */
	.globl	fine
	.type	fine, @function
fine:
	.cfi_startproc
	ret
	.cfi_endproc
	.size	fine, .-fine
	.section .note.GNU-stack, "", @progbits
