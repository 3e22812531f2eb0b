/* (Built with -DGOOD: correct CFI.) A function whose CFI misses the .cfi_adjust_cfa_offset of a push, then calls abort():
 * a DWARF walk from abort() takes the saved rbx for broken_stub's return address. */
	.text
	.globl	broken_stub
	.type	broken_stub, @function
broken_stub:
	.cfi_startproc
	push	%rbx
#ifdef GOOD
	.cfi_adjust_cfa_offset 8
#endif
	.cfi_offset rbx, -16		/* without GOOD, the .cfi_adjust_cfa_offset 8 is missing */
	mov	$0x1234, %rbx		/* a value that cannot be a return address */
	call	abort@PLT
	ud2
	.cfi_endproc
	.size	broken_stub, .-broken_stub
	.section .note.GNU-stack, "", @progbits
