/* See vea_chain.S. "vea_main" crosses every encoding and aborts in vea_probe after printing the labels'
   addresses and, per frame, libgcc's values of rbx and r12-r15 (its unwinder evaluates
   DW_OP_GNU_encoded_addr: gdb 13 does not). "vea_main bad" aborts under a truncated expression. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

extern void vea_a(void);
extern void vea_bad(void);
extern char vea_label_a[], vea_label_b[], vea_label_c[], vea_label_d[], vea_label_e[];
void *vea_slot;

static _Unwind_Reason_Code print_frame(struct _Unwind_Context *ctx, void *arg) {
  static const int regs[] = {3, 12, 13, 14, 15};
  (void)arg;
  printf("frame %#lx", (unsigned long)_Unwind_GetIP(ctx));
  for (int i = 0; i < 5; i++)
    printf(" %d=%#lx", regs[i], (unsigned long)_Unwind_GetGR(ctx, regs[i]));
  printf("\n");
  return _URC_NO_REASON;
}

void vea_probe(void) {
  _Unwind_Backtrace(print_frame, NULL);
  fflush(stdout);
  abort();
}

int main(int argc, char **argv) {
  vea_slot = vea_label_d; /* written at run time: the page is in the core */
  printf("labels %p %p %p %p %p\n", (void *)vea_label_a, (void *)vea_label_b, (void *)vea_label_c,
         (void *)vea_label_d, (void *)vea_label_e);
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "bad") == 0)
    vea_bad();
  vea_a();
  return 0;
}
