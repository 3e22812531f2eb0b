/* c_recursion: main -> recurse x DEPTH -> abort(). */
#include <stdlib.h>
#ifndef DEPTH
#define DEPTH 500
#endif
#define NOINLINE __attribute__((noinline))
volatile int sink;
NOINLINE void recurse(int n)
{
	volatile char pad[16];          /* a little stack per frame */
	pad[0] = (char)n;
	if (n == 0)
		abort();
	recurse(n - 1);
	sink += pad[0];                 /* no tail call */
}
int main(void) { recurse(DEPTH - 1); sink++; return 0; }
