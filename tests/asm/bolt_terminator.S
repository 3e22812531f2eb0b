/* Entries after a zero terminator in .eh_frame (as post-link tools such as BOLT leave them), and
   FDE pointers in encoding 0x08 ("signed absptr", which LLVM's tests write): readelf lists and decodes all. */
	.text
	.globl zf1
zf1:	nop
	ret
zf2:	nop
	ret
	.section .eh_frame,"a",@unwind
cie1:	.long 2f-1f
1:	.long 0
	.byte 1
	.asciz "zR"
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.uleb128 1
	.byte 0x08       /* FDE encoding: signed absptr (LLVM's tests write such) */
	.byte 0x0c, 7, 8 /* def_cfa rsp 8 */
	.byte 0x90, 1    /* offset ra cfa-8 */
	.balign 8
2:
fde1:	.long 4f-3f
3:	.long 3b-cie1
	.quad zf1
	.quad 2
	.uleb128 0
	.byte 0x41, 0x0e, 16
	.balign 8
4:
	.long 0             /* a zero terminator in the middle (BOLT) */
cie2:	.long 6f-5f
5:	.long 0
	.byte 1
	.asciz "zR"
	.uleb128 1
	.sleb128 -8
	.uleb128 16
	.uleb128 1
	.byte 0x1b
	.byte 0x0c, 7, 8
	.byte 0x90, 1
	.balign 4
6:
fde2:	.long 8f-7f
7:	.long 7b-cie2
	.long zf2-.
	.long 2
	.uleb128 0
	.byte 0x41, 0x0e, 32
	.balign 4
8:
	.long 0
