/* After elfutils tests/testfilecfaloop.S (run-cfaloop.sh): a hand-written version-3 CIE ("zR", udata4 FDE
   pointers) and an FDE that marks every column 0..16 DW_CFA_same_value, the return-address column and rsp
   included, then sets the CFA to rsp+0.  Taken literally that frame is its own caller (same pc, same rsp:
   eu-stack stops with "Unwind not monotonous"); for the rows it is simply same_value everywhere.  Also
   written: the same in the CIE's initial instructions for a second FDE, so that "s" comes from the CIE. */
	.text
	.globl	f_loop
	.type	f_loop, @function
f_loop:
	movq	$0, -8(%rsp)
	ret
	.size	f_loop, .-f_loop
	.globl	f_loop2
	.type	f_loop2, @function
f_loop2:
	nop
	ret
	.size	f_loop2, .-f_loop2

	.section .eh_frame,"a",@unwind
sv_cie1:
	.long	2f-1f
1:	.long	0
	.byte	3
	.asciz	"zR"
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.uleb128 1
	.byte	0x03
	.byte	0x0c, 7, 8
	.byte	0x90, 1
	.balign	8, 0
2:
	.long	4f-3f
3:	.long	3b-sv_cie1
	.long	f_loop
	.long	10
	.uleb128 0
	.irp r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
	.byte	0x08, \r	/* DW_CFA_same_value r */
	.endr
	.byte	0x0c, 7, 0	/* def_cfa rsp+0 */
	.byte	0x48		/* advance_loc 8 */
	.byte	0x0e, 8		/* and back to a sane frame at the ret */
	.byte	0x90, 1
	.balign	8, 0
4:
sv_cie2:
	.long	6f-5f
5:	.long	0
	.byte	3
	.asciz	"zR"
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.uleb128 1
	.byte	0x03
	.byte	0x0c, 7, 0
	.irp r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
	.byte	0x08, \r
	.endr
	.balign	8, 0
6:
	.long	8f-7f
7:	.long	7b-sv_cie2
	.long	f_loop2
	.long	2
	.uleb128 0
	.byte	0x41
	.byte	0x0e, 8
	.byte	0x90, 1
	.byte	0xc3		/* restore rbx: back to the CIE's same_value */
	.balign	8, 0
8:
