/* c_threads: 3 worker threads parked in distinct call chains:
 *   reader_thread -> reader_chain -> read(pipe)          (blocks forever)
 *   sleeper_thread -> sleeper_chain -> nanosleep(1000 s)
 *   barrier_thread -> barrier_chain -> pthread_barrier_wait (count 2, alone)
 * Once all of them are parked (state 'S' in /proc/self/task/TID/stat), the
 * crashing thread aborts:
 *   default:            main -> crash_main_chain -> abort()
 *   -DCRASH_IN_WORKER:  a 4th thread crasher_thread -> crash_worker_chain
 *                       -> abort(), while main is parked in pthread_join.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#define NOINLINE __attribute__((noinline))
volatile int sink;
static int pipefd[2];
static pthread_barrier_t barrier;
static volatile pid_t tids[5];          /* 0 main, 1..3 workers, 4 crasher */

static void record(int i) { tids[i] = (pid_t)syscall(SYS_gettid); }

NOINLINE void reader_chain(void) { char c; sink += (int)read(pipefd[0], &c, 1); sink++; }
NOINLINE void *reader_thread(void *a) { (void)a; record(1); reader_chain(); sink++; return NULL; }
NOINLINE void sleeper_chain(void)
{
	struct timespec ts = { 1000, 0 };
	nanosleep(&ts, NULL);
	sink++;
}
NOINLINE void *sleeper_thread(void *a) { (void)a; record(2); sleeper_chain(); sink++; return NULL; }
NOINLINE void barrier_chain(void) { pthread_barrier_wait(&barrier); sink++; }
NOINLINE void *barrier_thread(void *a) { (void)a; record(3); barrier_chain(); sink++; return NULL; }

static int parked(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void wait_parked(int first, int last)
{
	for (int tries = 0; tries < 5000; tries++) {   /* <= ~5 s */
		int ok = 1;
		for (int i = first; i <= last; i++)
			if (!tids[i] || !parked(tids[i]))
				ok = 0;
		if (ok) {
			usleep(20000);      /* settle: deep inside the syscall */
			return;
		}
		usleep(1000);
	}
	/* give up waiting but still crash: never hang */
}

NOINLINE void crash_main_chain(void) { sink++; abort(); }
NOINLINE void crash_worker_chain(void) { sink++; abort(); }
#ifdef CRASH_IN_WORKER
NOINLINE void *crasher_thread(void *a)
{
	(void)a;
	record(4);
	wait_parked(0, 3);
	crash_worker_chain();
	sink++;
	return NULL;
}
#endif

int main(void)
{
	pthread_t t[4];
	record(0);
	if (pipe(pipefd) != 0)
		return 98;
	pthread_barrier_init(&barrier, NULL, 2);
	pthread_create(&t[0], NULL, reader_thread, NULL);
	pthread_create(&t[1], NULL, sleeper_thread, NULL);
	pthread_create(&t[2], NULL, barrier_thread, NULL);
#ifdef CRASH_IN_WORKER
	pthread_create(&t[3], NULL, crasher_thread, NULL);
	pthread_join(t[3], NULL);
#else
	wait_parked(1, 3);
	crash_main_chain();
#endif
	sink++;
	return 0;
}
