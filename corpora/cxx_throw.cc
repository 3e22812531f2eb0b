// cxx_throw: main -> thrower1 -> thrower2 -> thrower3 -> throw.
// Default: caught in main; the catch block calls handle_error() -> abort().
// -DNO_CATCH: nothing catches -> std::terminate -> abort(), with the
// throwing frames still on the stack (the unwinder's phase 1 finds no
// handler, so __cxa_throw calls std::terminate without unwinding).
#include <cstdlib>
#include <stdexcept>
#define NOINLINE __attribute__((noinline))
volatile int sink;
NOINLINE void thrower3(int x) { sink += x; if (sink >= 0) throw std::runtime_error("boom"); sink++; }
NOINLINE void thrower2(int x) { thrower3(x + 1); sink++; }
NOINLINE void thrower1(int x) { thrower2(x + 1); sink++; }
NOINLINE void handle_error(const char *what) { sink += what[0]; std::abort(); }
int main(int argc, char **)
{
#ifdef NO_CATCH
	thrower1(argc);
#else
	try {
		thrower1(argc);
	} catch (const std::exception &e) {
		handle_error(e.what());
	}
#endif
	sink++;
	return 0;
}
