/* sched_break_src.h — a DSL sampler with `break if` in nested loops and its compiled module, shared by the tests of the
 * resident loop path (test_sched_resident on the CPU backend, test_cuda_models on a GPU). Every
 * element of x and acc stays equal, so the loops can be simulated on scalars. */
#ifndef DLM_SCHED_BREAK_SRC_H
#define DLM_SCHED_BREAK_SRC_H

#include "check.h"
#include "frontend.h"
#include "passes.h"
#include <string.h>

static const char sched_break_src[] =
  "sym B\n"
  "sampler brk(n: i64 = 10, lim: i32 = 40, stop: i32 = 20) -> (i32[B, 4], i32[B, 4]) {\n"
  "  state x: i32[B, 4] = full([B, 4], 0, i32)\n"
  "  state acc: i32[B, 4] = full([B, 4], 0, i32)\n"
  "  loop i in 0..n {\n"
  "    x = x + cast(i, i32)\n"
  "    loop j in 0..3 {\n"
  "      acc = acc + x + cast(j, i32)\n"
  "      break if sum(sum(acc, axis = 1), axis = 0) > lim * 8\n"
  "      acc = acc + 1\n"
  "    }\n"
  "    break if sum(sum(x, axis = 1), axis = 0) > stop * 8\n"
  "    x = x + 1\n"
  "  }\n"
  "  return x, acc\n"
  "}\n";

/* sched_break_src compiled and through the pass pipeline, with B = 2 in symval; NULL (after a
 * failed CHECK) if it does not compile */
static Module *sched_break_module(int64_t *symval) {
  Module *m = dsl_compile_string("brk.dsl", sched_break_src, strlen(sched_break_src), NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return NULL;
  DlmErr e = {0};
  PassOptions po = {0};
  CHECK_MSG(pass_pipeline_run(m, &po, &e), "brk.dsl: %s", e.msg);
  symval[ir_sym_find(m, "B")] = 2;
  return m;
}

#endif
