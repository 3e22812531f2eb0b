/* CPU-bound deep recursion for perf recordings (tests/test_perf_script.py, tests/test_perf_callchain.py,
 * bench/bench_perf.py): main -> rec(DEPTH) -> ... -> rec(0) -> work(WORK), again and again until
 * argv[1] seconds of CPU time (default 0.3) have passed. Built with -DDEPTH=N -DWORK=N; with
 * -DSIGPROF_HANDLER a SIGPROF every 3 ms recurses from a signal handler too (walks that cross
 * __restore_rt). */
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#ifndef DEPTH
#define DEPTH 40
#endif
#ifndef WORK
#define WORK 20000
#endif

volatile unsigned long sink;

__attribute__((noipa)) unsigned long work(unsigned long n) {
    unsigned long s = 0;
    for (unsigned long i = 0; i < n; i++) s += (i * i) ^ (s >> 3);
    return s;
}

__attribute__((noipa)) unsigned long rec(int d, unsigned long n) {
    if (d == 0) return work(n);
    unsigned long r = rec(d - 1, n);
    sink += r;
    return r ^ (unsigned long)d;
}

#ifdef SIGPROF_HANDLER
static void handler(int sig) { (void)sig; sink += rec(5, 1000000); }
#endif

int main(int argc, char **argv) {
    double seconds = argc > 1 ? strtod(argv[1], 0) : 0.3;
#ifdef SIGPROF_HANDLER
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigaction(SIGPROF, &sa, 0);
    struct itimerval it = {{0, 3000}, {0, 3000}};
    setitimer(ITIMER_PROF, &it, 0);
#endif
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do {
        sink += rec(DEPTH, WORK);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    return 0;
}
