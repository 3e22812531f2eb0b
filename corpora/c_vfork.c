/* c_vfork: main -> spawn -> vfork(); the child sends SIGQUIT to its parent and exits.
 *
 * The parent dies as it returns from the vfork system call, in glibc's __vfork after
 * `pop %rdi; mov $SYS_vfork,%eax; syscall`: its return address is in rdi, not on the
 * stack, and its caller's rsp equals its own (CFA = rsp + 0). */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#define NOINLINE __attribute__((noinline))
volatile int sink;
NOINLINE int spawn(void)
{
	pid_t child = vfork();
	if (child == 0) {
		kill(getppid(), SIGQUIT);   /* delivered when the parent leaves the system call */
		_exit(0);
	}
	int status;
	waitpid(child, &status, 0);
	return 97;                      /* not reached: SIGQUIT dumps core */
}
int main(void) { int r = spawn(); sink++; return r; }
