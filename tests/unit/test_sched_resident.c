/* test_sched_resident.c — resident loop state (SchedDev, Backend.dev) against the host path:
 *  1. MDLM's ancestral sampler (tiny model, random weights, B 2, 6 steps, top_p 1 and 0.9) on the
 *     cpu backend: the tokens are bit-identical with and without resident values; the resident
 *     loop transfers nothing (the transfer counter the backend keeps, read before and after each
 *     top-level loop), while the host path moves every argument and result of every call made in
 *     the loop (counted here from the schedule's statements: with memo off, each iteration calls
 *     every statement of the body once); the network evaluations agree with memo off.
 *  2. A sampler with a `break if` in an inner and in an outer loop, on the interpreter: the
 *     results are those of a plain C simulation of the same loops, for the host path and the
 *     resident path with the break flag read every 1, 2, 3 or 100 iterations (frozen iterations
 *     change nothing); inside the loops only the flag reads transfer (0 when the flag is never
 *     read before the loops end).
 *  3. Mode 2 on a backend without values is refused with a clear message.
 *  4. BD3-LM's block sampler (tiny, block 8: a KV-cache plan, `break if` in the inner loop and a
 *     stop condition in the outer one) on the interpreter: with the cache and without, the tokens
 *     of the resident path (flag read every 1 or 3 iterations) are those of the host path. */
#include "check.h"
#include "frontend.h"
#include "kv_fixture.h"
#include "passes.h"
#include "rt_fixture.h"
#include "sched_break_src.h"
#include "sched_exec.h"
#include <stdlib.h>
#include <string.h>

static const Sched *find_sched(const Module *m, const char *name) {
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, name)) return m->scheds[i];
  return NULL;
}

static const SchedStmt *find_loop(const SchedStmt *b, int n) {
  for (int i = 0; i < n; i++)
    if (b[i].kind == SS_LOOP) return &b[i];
  return NULL;
}

/* arguments + results of the calls directly in a loop body, with the nested loops run `inner` times */
static int64_t body_moves(const Module *m, const SchedStmt *b, int n, int64_t inner) {
  int64_t k = 0;
  for (int i = 0; i < n; i++) {
    if (b[i].kind == SS_CALL) k += m->funcs[b[i].func]->nargs + m->funcs[b[i].func]->nout;
    if (b[i].kind == SS_LOOP) k += inner * body_moves(m, b[i].body, b[i].nbody, inner);
  }
  return k;
}

static void check_mdlm(void) {
  Module *m = rt_tiny_module();
  CHECK(m != NULL);
  if (!m) return;
  const Backend *be = backend_find("cpu");
  DlmErr e = {0};
  BackendState *bs = be->open(m, &e);
  ParamStore *ps = pstore_init(m, 3);
  const Sched *s = find_sched(m, "ancestral");
  CHECK(bs && ps && s);
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = 2;
  const char *tops[2] = {"1.0", "0.9"};
  for (int t = 0; bs && ps && s && t < 2; t++) {
    SchedKnob knobs[2] = {{"steps", "6"}, {"top_p", tops[t]}};
    Tensor *host[1] = {0}, *res[1] = {0};
    SchedMemo mh = {1, 0, 0, 0, 0}, mr = {0, 0, 0, 0, 0};
    SchedDev dh = {1, 0, 0, 0, 0, 0, 0}, dr = {2, 0, 0, 0, 0, 0, 0};
    int ok1 = sched_run_dev(m, s, be, bs, ps, knobs, 2, symval, &mh, NULL, &dh, host, &e);
    CHECK_MSG(ok1, "host path: %s", e.msg);
    int ok2 = sched_run_dev(m, s, be, bs, ps, knobs, 2, symval, &mr, NULL, &dr, res, &e);
    CHECK_MSG(ok2, "resident path: %s", e.msg);
    if (ok1 && ok2) {
      CHECK(host[0]->dtype == DT_I32 && res[0]->dtype == DT_I32 && tensor_same_shape(host[0], res[0]));
      CHECK_MSG(!memcmp(host[0]->data, res[0]->data, (size_t)host[0]->numel * 4), "top_p %s: tokens differ", tops[t]);
      CHECK(!dh.resident && dr.resident);
      CHECK_MSG(dr.loop_transfers == 0, "top_p %s: %lld transfers inside the resident loop", tops[t], (long long)dr.loop_transfers);
      CHECK(dr.steady_transfers == 0);
      const SchedStmt *loop = find_loop(s->body, s->nbody);
      int64_t nucleus = t == 1;
      int64_t want = loop ? 6 * body_moves(m, loop->body, loop->nbody, nucleus) : -1;
      CHECK_MSG(dh.loop_transfers == want && want > 0, "top_p %s: host loop moved %lld tensors, expected %lld", tops[t],
                (long long)dh.loop_transfers, (long long)want);
      CHECK(dr.transfers > 0 && dr.transfers < dh.transfers);
      CHECK(mh.nfe == mr.nfe && mr.nfe >= 6 && mr.hits == 0);
    }
    tensor_free(host[0]);
    tensor_free(res[0]);
  }
  pstore_free(ps);
  if (bs) be->close(bs);
  ir_module_free(m);
}

/* the same loops on scalars (every element of x and acc is equal; B 2 gives 8 elements) */
static void simulate(int n, int lim, int stop, int *xo, int *acco) {
  int x = 0, acc = 0;
  for (int i = 0; i < n; i++) {
    x += i;
    for (int j = 0; j < 3; j++) {
      acc += x + j;
      if (acc > lim) break;
      acc += 1;
    }
    if (x > stop) break;
    x += 1;
  }
  *xo = x;
  *acco = acc;
}

static void check_breaks(void) {
  int64_t symval[DLM_MAX_SYMS] = {0};
  Module *m = sched_break_module(symval);
  if (!m) return;
  DlmErr e = {0};
  const Backend *be = &backend_interp;
  BackendState *bs = be->open(m, &e);
  const char *lims[3] = {"40", "1000", "5"};
  const int every[5] = {0, 1, 2, 3, 100};
  for (int l = 0; bs && l < 3; l++) {
    int wx, wacc;
    simulate(10, atoi(lims[l]), 20, &wx, &wacc);
    for (int k = 0; k < 5; k++) {
      SchedKnob knobs[1] = {{"lim", lims[l]}};
      SchedDev d = {k == 0 ? 1 : 2, every[k], 0, 0, 0, 0, 0};
      Tensor *outs[2] = {0};
      int ok = sched_run_dev(m, m->scheds[0], be, bs, NULL, knobs, 1, symval, NULL, NULL, &d, outs, &e);
      CHECK_MSG(ok, "lim %s every %d: %s", lims[l], every[k], e.msg);
      if (!ok) continue;
      CHECK_MSG(outs[0]->numel == 8 && tensor_get(outs[0], 0) == wx && tensor_get(outs[0], 7) == wx && tensor_get(outs[1], 0) == wacc &&
                tensor_get(outs[1], 7) == wacc,
                "lim %s every %d: x %g acc %g, expected %d %d", lims[l], every[k], tensor_get(outs[0], 0), tensor_get(outs[1], 0), wx, wacc);
      if (k > 0) {
        CHECK_MSG(d.loop_transfers == d.flag_reads,
                  "every %d: %lld transfers in the loops (%lld after the first iteration), %lld flag reads", every[k],
                  (long long)d.loop_transfers, (long long)d.steady_transfers, (long long)d.flag_reads);
        if (every[k] == 100) CHECK(d.flag_reads == 0);
        if (every[k] == 1) CHECK(d.flag_reads > 0);
      }
      tensor_free(outs[0]);
      tensor_free(outs[1]);
    }
  }
  /* 3. a backend without resident values */
  Backend plain = *be;
  plain.dev = NULL;
  SchedDev d = {2, 0, 0, 0, 0, 0, 0};
  Tensor *outs[2] = {0};
  CHECK(!sched_run_dev(m, m->scheds[0], &plain, bs, NULL, NULL, 0, symval, NULL, NULL, &d, outs, &e) &&
        strstr(e.msg, "keeps no values between calls"));
  if (bs) be->close(bs);
  ir_module_free(m);
}

static void check_bd3lm(void) {
  static const DslDefine defs[] = {{"block", "8"}, {"vocab", "32"}, {"seq_len", "32"}, {"layers", "2"}, {"dim", "16"}, {"heads", "2"}, {"cond_dim", "8"}};
  Module *m = kv_compile_edit("models/bd3lm.dsl", defs, 7, NULL, 0);
  CHECK(m != NULL);
  if (!m) return;
  ParamStore *ps = kv_random_params(m, 0.5);
  DlmErr e = {0};
  BackendState *bs = backend_interp.open(m, &e);
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = 2;
  for (int no_cache = 0; bs && no_cache < 2; no_cache++) {
    Tensor *want[1] = {0};
    SchedCache c = {no_cache, 0, 0, 0};
    SchedDev dh = {1, 0, 0, 0, 0, 0, 0};
    int ok = sched_run_dev(m, m->scheds[0], &backend_interp, bs, ps, NULL, 0, symval, NULL, &c, &dh, want, &e);
    CHECK_MSG(ok, "bd3lm host path: %s", e.msg);
    CHECK(no_cache || c.cached_loops > 0);
    for (int every = 1; ok && every <= 3; every += 2) {
      Tensor *got[1] = {0};
      SchedCache c2 = {no_cache, 0, 0, 0};
      SchedDev dr = {2, every, 0, 0, 0, 0, 0};
      int ok2 = sched_run_dev(m, m->scheds[0], &backend_interp, bs, ps, NULL, 0, symval, NULL, &c2, &dr, got, &e);
      CHECK_MSG(ok2, "bd3lm resident (every %d): %s", every, e.msg);
      CHECK_MSG(ok2 && got[0]->numel == want[0]->numel && !memcmp(got[0]->data, want[0]->data, (size_t)want[0]->numel * 4),
                "bd3lm %s, flag every %d: resident tokens differ", no_cache ? "without cache" : "cached", every);
      CHECK(dr.flag_reads > 0 && dr.loop_transfers == dr.flag_reads);
      tensor_free(got[0]);
    }
    tensor_free(want[0]);
  }
  if (bs) backend_interp.close(bs);
  pstore_free(ps);
  ir_module_free(m);
}

int main(void) {
  check_breaks();
  check_bd3lm();
  if (backend_find("cpu")) check_mdlm();
  return check_summary("test_sched_resident");
}
