/* kv_fixture.h — shared by the KV-cache tests (test_kvcache.c, test_kvcache_window.c): compiling a
 * DSL file with defines and text edits through the pass pipeline, finding the cache loop and its
 * plan, the print/parse round trip of a planned module, and random parameters large enough that
 * the attention matters (a wrong cached row changes the tokens). */
#ifndef DLM_KV_FIXTURE_H
#define DLM_KV_FIXTURE_H
#include "check.h"
#include "fileio_test.h"
#include "frontend.h"
#include "interp.h"
#include "passes.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Compiles path with the defines, with each repl[2i] in its text replaced by repl[2i+1] (the first
 * occurrence; NULL if one is missing), and runs the passes. */
static inline Module *kv_compile_edit(const char *path, const DslDefine *defs, int ndefs, const char *const *repl, int nrepl) {
  size_t len;
  char *src = test_read_file(path, &len);
  for (int r = 0; src && r < nrepl; r++) {
    char *at = strstr(src, repl[2 * r]);
    if (!at) { free(src); return NULL; }
    size_t nf = strlen(repl[2 * r]), nt = strlen(repl[2 * r + 1]);
    char *g = malloc(len - nf + nt + 1);
    memcpy(g, src, (size_t)(at - src));
    memcpy(g + (at - src), repl[2 * r + 1], nt);
    strcpy(g + (at - src) + nt, at + nf);
    free(src);
    src = g;
    len = strlen(src);
  }
  if (!src) return NULL;
  Module *m = dsl_compile_string(path, src, len, defs, ndefs, stderr);
  free(src);
  DlmErr e = {0};
  PassOptions po = {0};
  if (m && !pass_pipeline_run(m, &po, &e)) {
    fprintf(stderr, "passes: %s\n", e.msg);
    ir_module_free(m);
    return NULL;
  }
  return m;
}

static inline const SchedStmt *kv_cache_loop(const SchedStmt *st, int n) {
  for (int i = 0; i < n; i++) {
    if (st[i].kind != SS_LOOP) continue;
    if (st[i].cache_policy) return &st[i];
    const SchedStmt *in = kv_cache_loop(st[i].body, st[i].nbody);
    if (in) return in;
  }
  return NULL;
}

/* The plan of the first cache loop of sampler s (NULL: the first sampler). */
static inline const SchedPlan *kv_plan_of(const Module *m, const Sched *s) {
  if (!s) s = m->scheds[0];
  const SchedStmt *l = kv_cache_loop(s->body, s->nbody);
  return l ? l->plan : NULL;
}

/* print(parse(print(m))) == print(m), and the plan of sampler `sched` keeps its buffers. */
static inline void kv_check_roundtrip(const Module *m, int sched) {
  char *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  FILE *f = open_memstream(&a, &na);
  ir_print(m, f);
  fclose(f);
  DlmErr e = {0};
  Module *back = ir_parse(a, "kv.ir", &e);
  CHECK_MSG(back != NULL, "%s", e.msg);
  if (back) {
    f = open_memstream(&b, &nb);
    ir_print(back, f);
    fclose(f);
    CHECK(na == nb && !memcmp(a, b, na));
    const SchedPlan *p = kv_plan_of(back, back->scheds[sched]), *q = kv_plan_of(m, m->scheds[sched]);
    CHECK(p && q && p->nbufs == q->nbufs && p->nbody == q->nbody);
    ir_module_free(back);
  }
  free(a);
  free(b);
}

/* Every parameter drawn from N(0, sd^2) (the declared zeros would make the attention irrelevant). */
static inline ParamStore *kv_random_params(const Module *m, double sd) {
  ParamStore *ps = pstore_init(m, 7);
  uint64_t st = 12345;
  for (int i = 0; i < m->nparams; i++) {
    Tensor *t = pstore_get(ps, m->params[i].name);
    for (int64_t j = 0; t && j < t->numel; j++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      double u1 = ((double)(st >> 11) + 0.5) / 9007199254740992.0;
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      double u2 = (double)(st >> 11) / 9007199254740992.0;
      tensor_set(t, j, sd * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
  }
  return ps;
}
#endif
