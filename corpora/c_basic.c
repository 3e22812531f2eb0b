/* c_basic: main -> level1 -> level2 -> level3 -> abort(). */
#include <stdlib.h>
#define NOINLINE __attribute__((noinline))
volatile int sink;
NOINLINE void level3(int x) { sink += x; abort(); }
NOINLINE void level2(int x) { level3(x + 1); sink++; }   /* sink++: no tail call */
NOINLINE void level1(int x) { level2(x * 2); sink++; }
int main(int argc, char **argv) { (void)argv; level1(argc); sink++; return 0; }
