/* test_rt_sched.c — the schedule executor on a small sampler with nested loops, a break that
 * leaves only the inner loop, knobs, and a state initialized from no arguments (the batch B comes
 * from the caller's symbol values). Every element of x grows by 10 i + 1 per inner step; the inner
 * loop stops once the sum over x reaches `cap`. Expected values worked out by hand:
 *   defaults (n 5, cap 100, inner 3), B 2 (8 elements): 3 + 11 + 21 + 31 + 41 = 107;
 *   cap 1000: 3 + 33 + 63 = 99 (sum 792), then one step of 31 (sum 1040: break), one of 41 = 171;
 *   n 0: 0. Runs on the interpreter and, when built, the cpu backend. */
#include "check.h"
#include "frontend.h"
#include "passes.h"
#include "sched_exec.h"
#include <string.h>

static const char src[] =
  "sym B\n"
  "sampler count(n: i64 = 5, cap: i64 = 100, inner: i64 = 3) -> i32[B, 4] {\n"
  "  state x: i32[B, 4] = full([B, 4], 0, i32)\n"
  "  loop i in 0..n {\n"
  "    loop j in 0..inner {\n"
  "      x = x + cast(i, i32) * 10 + 1\n"
  "      break if sum(sum(x, axis = 1), axis = 0) >= cast(cap, i32)\n"
  "    }\n"
  "  }\n"
  "  return x\n"
  "}\n";

/* Runs the sampler with B = b; returns the common value of x's elements, or -1. */
static int64_t run(const Backend *be, const Module *m, int64_t b, const SchedKnob *k, int nk, char *err) {
  const Sched *s = m->scheds[0];
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = b;
  DlmErr e = {0};
  BackendState *bs = be->open(m, &e);
  Tensor *out = NULL;
  ParamStore *ps = pstore_new();
  int ok = bs && sched_run(m, s, be, bs, ps, k, nk, symval, &out, &e);
  snprintf(err, 512, "%s", e.msg);
  int64_t v = -1;
  if (ok && out->rank == 2 && out->shape[0] == b && out->shape[1] == 4) {
    v = (int64_t)tensor_get(out, 0);
    for (int64_t i = 1; i < out->numel; i++)
      if ((int64_t)tensor_get(out, i) != v) v = -2;
  }
  tensor_free(out);
  pstore_free(ps);
  if (bs) be->close(bs);
  return v;
}

static void check_backend(const Backend *be, const Module *m) {
  char err[512];
  CHECK_MSG(run(be, m, 2, NULL, 0, err) == 107, "%s: %s", be->name, err);
  SchedKnob cap[1] = {{"cap", "1000"}};
  CHECK_MSG(run(be, m, 2, cap, 1, err) == 171, "%s: %s", be->name, err);
  SchedKnob zero[1] = {{"n", "0"}};
  CHECK_MSG(run(be, m, 3, zero, 1, err) == 0, "%s: %s", be->name, err);
  /* B = 1: 4 elements, so i = 1 takes two steps (sums 56, then 100: break) */
  CHECK_MSG(run(be, m, 1, NULL, 0, err) == 3 + 11 + 11 + 21 + 31 + 41, "%s: %s", be->name, err);
  SchedKnob bad[1] = {{"nosuch", "1"}};
  CHECK(run(be, m, 2, bad, 1, err) == -1 && strstr(err, "no knob 'nosuch'") && strstr(err, "cap"));
  SchedKnob notint[1] = {{"n", "2.5"}};
  CHECK(run(be, m, 2, notint, 1, err) == -1 && strstr(err, "not an integer"));
  CHECK(run(be, m, 0, NULL, 0, err) == -1 && err[0]);
}

int main(void) {
  Module *m = dsl_compile_string("sched_test.dsl", src, strlen(src), NULL, 0, stderr);
  CHECK(m != NULL && m->nscheds == 1);
  if (!m) return check_summary("test_rt_sched");
  DlmErr e = {0};
  PassOptions po = {0};
  CHECK(pass_pipeline_run(m, &po, &e));
  check_backend(&backend_interp, m);
  const Backend *cpu = backend_find("cpu");
  if (cpu) check_backend(cpu, m);
  ir_module_free(m);
  return check_summary("test_rt_sched");
}
