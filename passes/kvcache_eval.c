/* kvcache_eval.c — the facts the KV-cache planner proves about a function called in a cached loop:
 * which argument positions each value reads, and, by running small argument-free (or b-only)
 * subgraphs in the reference interpreter for every block index b, that a `where` condition selects
 * exactly the rows of block b, that an index vector is b*bs + j, and that an attention mask never
 * lets a query see a key of a later block. The evaluation is exhaustive over the compiled sizes
 * (every b, every query and key), so it is a proof for this module, whatever the mask expression.
 * A dynamic row window (r >= lo && r < hi with lo, hi run-time scalars) is recognised by its form
 * instead: every (lo, hi) pair cannot be enumerated, and the form is exact. */
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

/* n without the casts to i32, i64, f32 or f64 that keep the integers 0..2^24 exact. */
static int uncast(const Func *F, int n) {
  for (;;) {
    const Node *nd = &F->nodes[n];
    DType t = nd->type.dtype;
    if (nd->op != OP_CAST || (t != DT_I32 && t != DT_I64 && t != DT_F32 && t != DT_F64)) return n;
    n = nd->in[0];
  }
}

/* The axis (from the last) along which node n is the row index 0..L-1 (an iota of size L on that
 * axis and 1 on every other), or -1. */
static int row_iota_axis(const KvFunc *kf, int n) {
  const Node *nd = &kf->F->nodes[uncast(kf->F, n)];
  if (nd->op != OP_IOTA || !dtype_is_int(nd->type.dtype) || kf->c->L > (1 << 24)) return -1;
  int a = (int)nd->attr.i[0];
  for (int d = 0; d < nd->type.rank; d++)
    if (!dim_is_const(nd->type.dims[d]) || nd->type.dims[d].k != (d == a ? kf->c->L : 1)) return -1;
  return nd->type.rank - 1 - a;
}

/* The schedule variable passed for scalar integer argument node n (through casts), or -1. */
static int scalar_arg_var(const KvFunc *kf, int n) {
  const Node *nd = &kf->F->nodes[uncast(kf->F, n)];
  if (nd->op != OP_ARG || nd->type.rank != 0 || !dtype_is_int(nd->type.dtype)) return -1;
  int64_t pos = nd->attr.i[0];
  return pos >= 0 && pos < kf->call->nargs ? kf->call->args[pos] : -1;
}

/* Collects the conjuncts of n of the forms r >= v / v <= r (lower) and r < v / v > r (upper):
 * var[] the bound's variable, ax[] r's axis from the last, lower[] 1 for a lower bound. */
static void window_bounds(const KvFunc *kf, int n, int *var, int *ax, int *lower, int *k, int cap) {
  const Node *nd = &kf->F->nodes[n];
  if (nd->op == OP_AND) {
    window_bounds(kf, nd->in[0], var, ax, lower, k, cap);
    window_bounds(kf, nd->in[1], var, ax, lower, k, cap);
    return;
  }
  if (*k >= cap || (nd->op != OP_GE && nd->op != OP_LE && nd->op != OP_LT && nd->op != OP_GT)) return;
  int r = nd->op == OP_GE || nd->op == OP_LT ? nd->in[0] : nd->in[1];
  int v = nd->op == OP_GE || nd->op == OP_LT ? nd->in[1] : nd->in[0];
  int a = row_iota_axis(kf, r), sv = scalar_arg_var(kf, v);
  if (a < 0 || sv < 0) return;
  var[*k] = sv;
  ax[*k] = a;
  lower[*k] = nd->op == OP_GE || nd->op == OP_LE;
  ++*k;
}

int kv_find_window(KvFunc *kf, int n, int *raxis) {
  KvCtx *c = kf->c;
  if (kf->F->nodes[n].type.dtype != DT_BOOL) return 0;
  int var[16], ax[16], lower[16], k = 0;
  window_bounds(kf, n, var, ax, lower, &k, 16);
  for (int i = 0; i < k; i++)
    for (int j = 0; j < k; j++) {
      if (!lower[i] || lower[j] || ax[i] != ax[j] || var[i] == var[j]) continue;
      if (c->lovar >= 0 && (var[i] != c->lovar || var[j] != c->hivar)) continue;
      c->lovar = var[i];
      c->hivar = var[j];
      *raxis = ax[i];
      return 1;
    }
  return 0;
}

int kv_is_rows_index(KvFunc *kf, int n) {
  KvCtx *c = kf->c;
  const Type *t = &kf->F->nodes[n].type;
  if (kf->ridx[n]) return kf->ridx[n] > 0;
  kf->ridx[n] = -1;
  if (!c->bs || c->win || !reads_only_b(kf, n) || !dtype_is_int(t->dtype) || t->rank != 1 || dim_const_or(t->dims[0], -1) != c->bs)
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
