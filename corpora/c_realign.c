/* c_realign: main -> outer -> realigned -> inner -> abort().
 * `realigned` has a 64-byte aligned local and a VLA, so gcc realigns the
 * stack through a DRAP register and describes the CFA with
 * DW_CFA_def_cfa_expression (DW_OP_breg6 -8; DW_OP_deref) in the body.
 * `realigned_fa` (force_align_arg_pointer) is on the path as well. */
#include <stdlib.h>
#include <string.h>
#define NOINLINE __attribute__((noinline))
volatile int sink;
NOINLINE void inner(char *p) { sink += p[0]; abort(); }
NOINLINE void realigned(int n)
{
	char buf[64] __attribute__((aligned(64)));
	char vla[n];
	memset(buf, n, sizeof buf);
	memset(vla, 1, n);
	sink += vla[n - 1];
	inner(buf);
	sink += buf[1];
}
__attribute__((force_align_arg_pointer)) NOINLINE void realigned_fa(int n)
{
	realigned(n + 1);
	sink++;
}
NOINLINE void outer(int n) { realigned_fa(n); sink++; }
int main(int argc, char **argv) { (void)argv; outer(argc + 8); sink++; return 0; }
