/* die_here(): raise SIGABRT with a raw tgkill issued from the caller's own frame.
 *
 * abort() would put glibc's raise/abort frames on top of the stack, and glibc
 * is built without frame pointers: a frame-pointer walk would stop in frame 0
 * and never reach the handler chain this corpus is about.  Inlined, the fatal
 * signal arrives with some_func itself as frame 0, whose rbp chain is intact. */
#ifndef DIE_HERE_H
#define DIE_HERE_H
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline __attribute__((always_inline)) void die_here(void)
{
	long pid = syscall(SYS_getpid), tid = syscall(SYS_gettid), ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_tgkill), "D"(pid), "S"(tid), "d"((long)SIGABRT)
			 : "rcx", "r11", "memory");
	abort(); /* not reached: SIGABRT's default action dumps core */
}
#endif
