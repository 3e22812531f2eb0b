/* struct pt_regs layout (x86-64 Linux kernel), shared by the .S stubs and C. */
#ifndef CORPORA_PT_REGS_H
#define CORPORA_PT_REGS_H

/* byte offsets inside the block, low to high address */
#define PTREGS_R15       0
#define PTREGS_R14       8
#define PTREGS_R13      16
#define PTREGS_R12      24
#define PTREGS_RBP      32
#define PTREGS_RBX      40
#define PTREGS_R11      48
#define PTREGS_R10      56
#define PTREGS_R9       64
#define PTREGS_R8       72
#define PTREGS_RAX      80
#define PTREGS_RCX      88
#define PTREGS_RDX      96
#define PTREGS_RSI     104
#define PTREGS_RDI     112
#define PTREGS_ORIG_RAX 120
#define PTREGS_RIP     128
#define PTREGS_CS      136
#define PTREGS_EFLAGS  144
#define PTREGS_RSP     152
#define PTREGS_SS      160
#define PTREGS_SIZE    168

#ifndef __ASSEMBLER__
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
_Static_assert(sizeof(struct pt_regs) == PTREGS_SIZE, "pt_regs size");
#endif

#endif
