/* C half of sigsegv_entry.S.  -DUSE_RESTORER: install the handler with the
 * raw rt_sigaction syscall, SA_RESTORER and our own my_restore_rt;
 * otherwise ordinary sigaction (glibc's __restore_rt). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ucontext.h>
#include <sys/syscall.h>
#include "magic.h"
#include "die_here.h"

#define NOINLINE __attribute__((noinline))
extern void faulting_func(void);
extern const unsigned long faulting_insn_offset;
volatile int sink;

NOINLINE void some_func(void) { sink++; die_here(); }
NOINLINE void some_other_func(void) { some_func(); sink++; }

NOINLINE void segv_handler(int sig, siginfo_t *si, void *ctx)
{
	/* self check: the kernel saw the magic registers at the faulting insn */
	ucontext_t *uc = ctx;
	if (uc->uc_mcontext.gregs[REG_RBX] != (long)MAGIC_RBX ||
	    uc->uc_mcontext.gregs[REG_R15] != (long)MAGIC_R15 ||
	    uc->uc_mcontext.gregs[REG_RIP] != (long)((unsigned long)faulting_func + faulting_insn_offset)) {
		static const char msg[] = "unexpected SIGSEGV context\n";
		write(2, msg, sizeof msg - 1);
		_exit(97);
	}
	(void)sig; (void)si;
	some_other_func();
	sink++;
}

#ifdef USE_RESTORER
extern void my_restore_rt(void);
struct kernel_sigaction {
	void (*handler)(int, siginfo_t *, void *);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};
#define K_SA_RESTORER 0x04000000
static void install(void)
{
	struct kernel_sigaction ksa;
	memset(&ksa, 0, sizeof ksa);
	ksa.handler = segv_handler;
	ksa.flags = SA_SIGINFO | K_SA_RESTORER;
	ksa.restorer = my_restore_rt;
	if (syscall(SYS_rt_sigaction, SIGSEGV, &ksa, NULL, sizeof ksa.mask) != 0) {
		perror("rt_sigaction");
		_exit(98);
	}
}
#else
static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) != 0) {
		perror("sigaction");
		_exit(98);
	}
}
#endif

NOINLINE void caller_a(void) { faulting_func(); sink++; }
int main(void) { install(); caller_a(); sink++; return 0; }
