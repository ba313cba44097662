/* kvcache_eval.c — the facts the KV-cache planner proves about a function called in a cached loop:
 * which argument positions each value reads, and, by running small argument-free (or b-only)
 * subgraphs in the reference interpreter for every block index b, that a `where` condition selects
 * exactly the rows of block b, that an index vector is b*bs + j, and that an attention mask never
 * lets a query see a key of a later block. The evaluation is exhaustive over the compiled sizes
 * (every b, every query and key), so it is a proof for this module, whatever the mask expression. */
#include "kvcache.h"
#include "interp.h"
#include <stdlib.h>
#include <string.h>

int kv_func_init(KvFunc *kf, KvCtx *c, const Func *F, const SchedStmt *call) {
  memset(kf, 0, sizeof *kf);
  kf->c = c;
  kf->F = F;
  kf->call = call;
  size_t n = (size_t)(F->nnodes ? F->nnodes : 1);
  kf->deps = arena_alloc(c->m->arena, n * sizeof *kf->deps);
  kf->pred = arena_alloc(c->m->arena, n);
  kf->ridx = arena_alloc(c->m->arena, n);
  kf->maskok = arena_alloc(c->m->arena, n);
  for (int i = 0; i < F->nnodes; i++) {
    const Node *nd = &F->nodes[i];
    if (nd->op == OP_ARG) {
      int64_t pos = nd->attr.i[0];
      kf->deps[i] = 1ull << (pos < 63 ? pos : 63);
    }
    for (int j = 0; j < nd->nin; j++) kf->deps[i] |= kf->deps[nd->in[j]];
  }
  for (int a = 0; a < call->nargs; a++) {
    uint64_t bit = 1ull << (a < 63 ? a : 63);
    int v = call->args[a];
    if (v == c->xvar) kf->xbits |= bit;
    else if (v == c->bvar) kf->bbits |= bit, kf->varbits |= bit;
    else if (v < (int)(sizeof c->written / sizeof *c->written) && c->written[v]) kf->varbits |= bit;
  }
  return 1;
}

/* The subgraph computing F's node n, copied into a scratch module whose arguments are the b
 * positions it reads. */
typedef struct { Module *sm; Func *g; } Cone;

static int cone_build(const KvFunc *kf, int n, Cone *cn) {
  const Module *m = kf->c->m;
  const Func *F = kf->F;
  DlmErr e = {0};
  cn->sm = ir_module_new("kvcache-eval");
  for (int s = 0; s < m->nsyms; s++) ir_sym(cn->sm, m->syms[s]);
  cn->g = ir_func_new(cn->sm, "cone");
  char *live = calloc((size_t)n + 1, 1);
  int *map = calloc((size_t)n + 1, sizeof *map);
  int ok = live && map;
  if (ok) live[n] = 1;
  for (int i = n; ok && i >= 0; i--)
    if (live[i])
      for (int j = 0; j < F->nodes[i].nin; j++) live[F->nodes[i].in[j]] = 1;
  for (int i = 0; ok && i <= n; i++) {
    if (!live[i]) continue;
    const Node *nd = &F->nodes[i];
    if (nd->op == OP_PARAM) { ok = 0; break; }
    if (nd->op == OP_ARG) { ok = (map[i] = ir_arg(cn->sm, cn->g, nd->attr.s, nd->type, nd->loc)) >= 0; continue; }
    int in[16];
    for (int j = 0; j < nd->nin && j < 16; j++) in[j] = map[nd->in[j]];
    ok = (map[i] = ir_emit(cn->sm, cn->g, nd->op, &nd->type, nd->nin, in, &nd->attr, nd->loc, &e)) >= 0;
  }
  if (ok) ir_set_outputs(cn->sm, cn->g, 1, &map[n], NULL);
  free(live);
  free(map);
  if (!ok) ir_module_free(cn->sm);
  return ok;
}

/* Runs the cone with every argument = bval and every symbol = 2; the result or NULL. */
static Tensor *cone_run(const Cone *cn, int64_t bval) {
  Tensor *args[64] = {0}, *out = NULL;
  int64_t presym[DLM_MAX_SYMS];
  for (int s = 0; s < DLM_MAX_SYMS; s++) presym[s] = 2;
  int ok = cn->g->nargs <= 64;
  for (int i = 0; ok && i < cn->g->nnodes; i++) {
    const Node *nd = &cn->g->nodes[i];
    if (nd->op != OP_ARG) continue;
    if (nd->type.rank != 0 || !(args[nd->attr.i[0]] = tensor_new(nd->type.dtype, 0, NULL))) { ok = 0; break; }
    tensor_set(args[nd->attr.i[0]], 0, (double)bval);
  }
  DlmErr e = {0};
  if (ok && !interp_run_syms(cn->sm, cn->g, NULL, args, &out, DT_F64, presym, &e)) out = NULL;
  for (int i = 0; i < 64; i++) tensor_free(args[i]);
  return out;
}

static int reads_only_b(const KvFunc *kf, int n) { return (kf->deps[n] & ~kf->bbits) == 0; }

static int64_t dim_const_or(Dim d, int64_t other) { return dim_is_const(d) ? d.k : other; }

int kv_is_block_pred(KvFunc *kf, int n) {
  KvCtx *c = kf->c;
  const Type *t = &kf->F->nodes[n].type;
  if (kf->pred[n]) return kf->pred[n] > 0;
  kf->pred[n] = -1;
  if (!reads_only_b(kf, n) || !(kf->deps[n] & kf->bbits) || t->dtype != DT_BOOL || t->rank < 1 ||
      dim_const_or(t->dims[t->rank - 1], -1) != c->L)
    return 0;
  Cone cn;
  if (!cone_build(kf, n, &cn)) return 0;
  int64_t bs = c->bs;
  int ok = 1;
  if (!bs) {
    Tensor *v = cone_run(&cn, 0);
    ok = v != NULL;
    while (ok && bs < c->L && tensor_get(v, bs) != 0) bs++;
    ok = ok && bs > 0 && c->L % bs == 0;
    tensor_free(v);
  }
  for (int64_t b = 0; ok && b < c->L / bs; b++) {
    Tensor *v = cone_run(&cn, b);
    ok = v != NULL;
    for (int64_t i = 0; ok && i < v->numel; i++) ok = (tensor_get(v, i) != 0) == ((i % c->L) / bs == b);
    tensor_free(v);
  }
  ir_module_free(cn.sm);
  if (ok) c->bs = bs;
  kf->pred[n] = ok ? 1 : -1;
  return ok;
}

int kv_find_block_pred(KvFunc *kf, int n) {
  const Node *nd = &kf->F->nodes[n];
  if (kv_is_block_pred(kf, n)) return n;
  if (nd->op != OP_AND) return -1;
  int r = kv_find_block_pred(kf, nd->in[0]);
  return r >= 0 ? r : kv_find_block_pred(kf, nd->in[1]);
}

int kv_is_rows_index(KvFunc *kf, int n) {
  KvCtx *c = kf->c;
  const Type *t = &kf->F->nodes[n].type;
  if (kf->ridx[n]) return kf->ridx[n] > 0;
  kf->ridx[n] = -1;
  if (!c->bs || !reads_only_b(kf, n) || !dtype_is_int(t->dtype) || t->rank != 1 || dim_const_or(t->dims[0], -1) != c->bs)
    return 0;
  Cone cn;
  if (!cone_build(kf, n, &cn)) return 0;
  int ok = 1;
  for (int64_t b = 0; ok && b < c->L / c->bs; b++) {
    Tensor *v = cone_run(&cn, b);
    ok = v != NULL;
    for (int64_t j = 0; ok && j < c->bs; j++) ok = (int64_t)tensor_get(v, j) == b * c->bs + j;
    tensor_free(v);
  }
  ir_module_free(cn.sm);
  kf->ridx[n] = ok ? 1 : -1;
  return ok;
}

int kv_mask_block_causal(KvFunc *kf, int attn, int n) {
  KvCtx *c = kf->c;
  const Type *t = &kf->F->nodes[n].type;
  if (kf->maskok[n]) return kf->maskok[n] > 0;
  kf->maskok[n] = -1;
  if (kf->deps[n]) {
    snprintf(c->why, sizeof c->why, "the mask of attention %%%d in @%s depends on the function's arguments: it cannot be proved block-causal",
             attn, kf->F->name);
    return 0;
  }
  if (t->rank < 2 || dim_const_or(t->dims[t->rank - 2], -1) != c->L || dim_const_or(t->dims[t->rank - 1], -1) != c->L) {
    snprintf(c->why, sizeof c->why, "the mask of attention %%%d in @%s is not a [%lld, %lld] mask over the sequence", attn,
             kf->F->name, (long long)c->L, (long long)c->L);
    return 0;
  }
  Cone cn;
  if (!cone_build(kf, n, &cn)) {
    snprintf(c->why, sizeof c->why, "the mask of attention %%%d in @%s reads parameters", attn, kf->F->name);
    return 0;
  }
  Tensor *v = cone_run(&cn, 0);
  ir_module_free(cn.sm);
  int ok = v != NULL;
  if (!ok) snprintf(c->why, sizeof c->why, "the mask of attention %%%d in @%s could not be evaluated", attn, kf->F->name);
  int64_t LL = c->L * c->L;
  for (int64_t i = 0; ok && i < v->numel; i++) {
    int64_t q = (i % LL) / c->L, k = i % c->L;
    if (tensor_get(v, i) == 0) continue;
    if (k / c->bs > q / c->bs) {
      snprintf(c->why, sizeof c->why,
               "attention %%%d in @%s: query row %lld attends key row %lld of a later block (blocks of %lld rows): the mask is "
               "bidirectional across blocks, so the keys of finished blocks change while a later block is decoded and no "
               "exact cache exists",
               attn, kf->F->name, (long long)q, (long long)k, (long long)c->bs);
      ok = 0;
    }
    int64_t reach = q / c->bs - k / c->bs + 1;
    if (ok && reach > c->window) c->window = reach;
  }
  tensor_free(v);
  kf->maskok[n] = ok ? 1 : -1;
  return ok;
}
