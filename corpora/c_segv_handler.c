/* c_segv_handler: main -> outer -> leaf (NULL load) --SIGSEGV-->
 * [glibc __restore_rt signal frame] -> handler -> handler_helper -> abort().
 * -DALTSTACK: the handler runs on a sigaltstack (SA_ONSTACK). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define NOINLINE __attribute__((noinline))
volatile int sink;
int *volatile null_ptr;                 /* volatile: gcc cannot see the NULL */

NOINLINE void handler_helper(int sig) { sink += sig; abort(); }
NOINLINE void handler(int sig, siginfo_t *si, void *ctx)
{
	(void)si; (void)ctx;
	handler_helper(sig);
	sink++;
}
NOINLINE int leaf(void) { return *null_ptr; }
NOINLINE void outer(void) { sink += leaf(); sink++; }

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
#ifdef ALTSTACK
	static char altstack[65536] __attribute__((aligned(16)));
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) != 0)
		_exit(98);
	sa.sa_flags |= SA_ONSTACK;
#endif
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) != 0)
		_exit(98);
	outer();
	sink++;
	return 0;
}
