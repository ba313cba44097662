/* test_sampler_memo.c — `x = memo e` end to end on a sampler without a network: the frontend gives
 * the memo expression a graph of its own and marks its call (printed " memo", parsed back, checked
 * by the verifier); the executor reuses the results while the arguments stay byte-identical.
 * The sampler below changes x only at steps i with i % 3 == 2, so with n steps the memo call of
 * y = x + 1 sees the distinct x values 0, 1, ... : ceil(n / 3) misses for n = 10 (x = 0 at i = 0..2,
 * 1 at 3..5, 2 at 6..8, 3 at 9), 6 hits, final x = 3; the memo call that reads the loop variable
 * misses every step. --no-memo runs all 20 calls with the same result. `memo` in a function is an
 * error. */
#include "check.h"
#include "frontend.h"
#include "sched_exec.h"
#include <stdlib.h>
#include <string.h>

static const char src[] =
  "sym B\n"
  "sampler m(n: i64 = 10) -> (i32[B, 4], i32[B, 4]) {\n"
  "  state x: i32[B, 4] = full([B, 4], 0, i32)\n"
  "  state acc: i32[B, 4] = full([B, 4], 0, i32)\n"
  "  loop i in 0..n {\n"
  "    y = memo x + 1\n"
  "    z = memo x * 0 + cast(i, i32)\n"
  "    acc = acc + z\n"
  "    x = where(i % 3 == 2, y, x)\n"
  "  }\n"
  "  return x, acc\n"
  "}\n";

static int count_memo(const SchedStmt *st, int n) {
  int k = 0;
  for (int i = 0; i < n; i++) k += st[i].memo + (st[i].kind == SS_LOOP ? count_memo(st[i].body, st[i].nbody) : 0);
  return k;
}

static void check_run(const Module *m, int no_memo) {
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = 2;
  DlmErr e = {0};
  const Backend *be = &backend_interp;
  BackendState *bs = be->open(m, &e);
  ParamStore *ps = pstore_new();
  Tensor *outs[2] = {0};
  SchedMemo memo = {no_memo, 0, 0, 0, 0};
  int ok = bs && sched_run_memo(m, m->scheds[0], be, bs, ps, NULL, 0, symval, &memo, outs, &e);
  CHECK_MSG(ok, "%s", e.msg);
  if (ok) {
    CHECK(outs[0]->numel == 8 && tensor_get(outs[0], 0) == 3 && tensor_get(outs[0], 7) == 3);
    CHECK(tensor_get(outs[1], 0) == 45 && tensor_get(outs[1], 7) == 45);   /* 0 + 1 + ... + 9 */
    CHECK(memo.steps == 10 && memo.nfe == 0);   /* no function reads parameters */
    if (no_memo) CHECK(memo.misses == 20 && memo.hits == 0);
    else CHECK_MSG(memo.misses == 4 + 10 && memo.hits == 6, "misses %lld hits %lld", (long long)memo.misses, (long long)memo.hits);
  }
  tensor_free(outs[0]);
  tensor_free(outs[1]);
  pstore_free(ps);
  if (bs) be->close(bs);
}

static void check_ir_text(const Module *m) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ir_print(m, f);
  fclose(f);
  CHECK(strstr(text, " memo") != NULL);
  DlmErr e = {0};
  Module *back = ir_parse(text, "memo.ir", &e);
  CHECK_MSG(back != NULL, "%s", e.msg);
  if (back) {
    CHECK(count_memo(back->scheds[0]->body, back->scheds[0]->nbody) == 2);
    char *again = NULL;
    size_t n2 = 0;
    FILE *g = open_memstream(&again, &n2);
    ir_print(back, g);
    fclose(g);
    CHECK(n2 == len && !memcmp(again, text, len));
    free(again);
    /* memo on a loop is rejected */
    Sched *s = back->scheds[0];
    for (int i = 0; i < s->nbody; i++)
      if (s->body[i].kind == SS_LOOP) s->body[i].memo = 1;
    DlmErr ve = {0};
    CHECK(!ir_verify_sched(back, s, &ve) && strstr(ve.msg, "memo"));
    ir_module_free(back);
  }
  free(text);
}

int main(void) {
  Module *m = dsl_compile_string("memo.dsl", src, sizeof src - 1, NULL, 0, stderr);
  CHECK(m != NULL);
  if (m) {
    CHECK(count_memo(m->scheds[0]->body, m->scheds[0]->nbody) == 2);
    check_run(m, 0);
    check_run(m, 1);
    check_ir_text(m);
    ir_module_free(m);
  }
  static const char bad[] = "fn f(x: f32[4]) -> f32[4] {\n  y = memo x + 1\n  return y\n}\n";
  char *msg = NULL;
  size_t n = 0;
  FILE *diag = open_memstream(&msg, &n);
  Module *b = dsl_compile_string("bad.dsl", bad, sizeof bad - 1, NULL, 0, diag);
  fclose(diag);
  CHECK(b == NULL && strstr(msg, "bad.dsl:2") && strstr(msg, "'memo' is only allowed in a sampler"));
  ir_module_free(b);
  free(msg);
  return check_summary("test_sampler_memo");
}
