/* C half of the seed scenario (entry.S).  Built with -fno-omit-frame-pointer
 * so a frame-pointer unwinder can walk do_page_fault/some_*_func. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "magic.h"
#include "die_here.h"
#include "pt_regs.h"

#define NOINLINE __attribute__((noinline))
extern void faulting_func(void);
extern const unsigned long faulting_insn_offset;
volatile int sink;

/* Self check: the stub must have saved the magic values and the trap frame.
 * On mismatch exit with status 97 (no core) so the build notices. */
static void check_regs(const struct pt_regs *r)
{
	unsigned long want_ip = (unsigned long)faulting_func + faulting_insn_offset;
	int bad = 0;
#define CHK(f, v) if (r->f != (unsigned long)(v)) { fprintf(stderr, "pt_regs.%s = %#lx, want %#lx\n", #f, r->f, (unsigned long)(v)); bad = 1; }
	CHK(ax, MAGIC_RAX) CHK(dx, MAGIC_RDX) CHK(cx, MAGIC_RCX) CHK(bx, MAGIC_RBX)
	CHK(si, MAGIC_RSI) CHK(di, MAGIC_RDI) CHK(bp, MAGIC_RBP) CHK(r8, MAGIC_R8)
	CHK(r9, MAGIC_R9) CHK(r10, MAGIC_R10) CHK(r11, MAGIC_R11) CHK(r12, MAGIC_R12)
	CHK(r13, MAGIC_R13) CHK(r14, MAGIC_R14) CHK(r15, MAGIC_R15)
	CHK(ip, want_ip) CHK(orig_ax, -1L)
	if (*(unsigned long *)(r->sp - 8) != want_ip + 5) { fprintf(stderr, "bad sp\n"); bad = 1; }
	if (bad) _exit(97);
}

NOINLINE void some_func(void) { sink++; die_here(); }
NOINLINE void some_other_func(void) { some_func(); sink++; }
NOINLINE void do_page_fault(struct pt_regs *regs)
{
	check_regs(regs);
	some_other_func();
	sink++;
}
NOINLINE void caller_a(void) { faulting_func(); sink++; }
int main(void) { caller_a(); sink++; return 0; }
