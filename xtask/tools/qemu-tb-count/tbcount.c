/* Counts executed instructions per translated block and vCPU, for comparing where two QEMU
 * runs spend their instructions (docs/linux.md, "Where Bulkhead's extra instructions go").
 *
 * QEMU plugin (API version 2, as QEMU 10 accepts); the few declarations it needs are written
 * here so that no QEMU or GLib headers are needed:
 *   gcc -O2 -shared -fPIC -fvisibility=hidden -o libtbcount.so tbcount.c
 *   qemu-system-aarch64 ... -plugin ./libtbcount.so,stop=0xADDR,out=counts.txt
 * Arguments: stop= the address whose first execution ends the count (and writes the file),
 * total= or a number of instructions that does, out= the file (`vcpu address count` lines).
 * Without either the file is written when QEMU exits. A block cut short by an exception
 * still counts whole, so counts are slightly high, equally on both sides. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct { const char *target_name; struct { int min, cur; } version; bool system_emulation;
  union { struct { int smp_vcpus; int max_vcpus; } system; }; } qemu_info_t;
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb)(unsigned int, void *);
typedef void (*id_udata_cb)(qemu_plugin_id_t, void *);
extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
extern void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *, udata_cb, int, void *);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
extern uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, id_udata_cb, void *);
__attribute__((visibility("default"))) int qemu_plugin_version = 2;

struct blk { uint64_t vaddr; uint64_t n; uint64_t count[8]; struct blk *next; };
static struct blk *head;
static uint64_t stop_addr = ~0ull, stop_total = ~0ull, total;
static int stopped;
static const char *out = "/tmp/tbcount.txt";

static void dump(void) {
  FILE *f = fopen(out, "w");
  if (!f) return;
  fprintf(f, "# total %llu\n", (unsigned long long)total);
  for (struct blk *b = head; b; b = b->next)
    for (int v = 0; v < 8; v++)
      if (b->count[v]) fprintf(f, "%d %llx %llu\n", v, (unsigned long long)b->vaddr, (unsigned long long)(b->count[v]));
  fclose(f);
}
static void exec_cb(unsigned int vcpu, void *u) {
  struct blk *b = u;
  if (stopped) return;
  if (b->vaddr == stop_addr) { stopped = 1; dump(); return; }
  b->count[vcpu & 7] += b->n;
  total += b->n;
  if (total >= stop_total) { stopped = 1; dump(); }
}
static void trans_cb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  struct blk *b = calloc(1, sizeof *b);
  b->vaddr = qemu_plugin_tb_vaddr(tb); b->n = qemu_plugin_tb_n_insns(tb);
  b->next = head; head = b;
  qemu_plugin_register_vcpu_tb_exec_cb(tb, exec_cb, 0, b);
}
static void at_exit(qemu_plugin_id_t id, void *u) { if (!stopped) dump(); }
__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (!strncmp(argv[i], "stop=", 5)) stop_addr = strtoull(argv[i] + 5, 0, 0);
    else if (!strncmp(argv[i], "total=", 6)) stop_total = strtoull(argv[i] + 6, 0, 0);
    else if (!strncmp(argv[i], "out=", 4)) out = argv[i] + 4;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, trans_cb);
  qemu_plugin_register_atexit_cb(id, at_exit, 0);
  return 0;
}
