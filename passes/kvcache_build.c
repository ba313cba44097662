/* kvcache_build.c — rebuilding a function called in a cached loop so that it computes only the rows
 * of the current block (see kvcache.h for the vocabulary).
 *
 * Two demands drive the rebuild. full(n) is F's value n: copied op by op, except a `where` over x's
 * shape whose condition has a proved block-b conjunct (outside block b it is its else-branch, so it
 * becomes where(pred, place(rows(n)), else)), and a `gather` by a proved index b*bs + j (that is
 * rows(table) itself). rows(n, a) is rows [b*bs, b*bs+bs) of n along axis a: row-local ops (elementwise,
 * matmul by a matrix without the row axis, reductions/normalizations/layout over other axes, consts,
 * and iotas offset by b*bs, so that masks and position tables shrink too) are applied to the rows
 * of their inputs; attention on the query rows is the cached attention (keys
 * and values = the cache buffer with the current block's rows merged in); anything else is computed
 * on all rows and its rows taken. Such a value that reads x is "tainted": it is exact here (it is F's
 * own computation), but keys and values must not be tainted, since a cached row would then depend on
 * rows that change later; that, and keys reading a value that changes inside the loop, fail the plan. */
#include "kvcache.h"
#include <stdlib.h>
#include <string.h>

#define MAX_GARGS 256

typedef struct {
  KvFunc *kf;
  KvCtx *c;
  Module *m;
  const Func *F;
  Func *G;
  int *full, *rows, *rowax, *merged;
  char *taint;
  int argvar[MAX_GARGS]; int nargs;
  int bnode, idx_rows, idx_place, first, last;
  int ncached;
  uint64_t fullargs;    /* F argument positions read in full (not only through their rows) */
  int taking;           /* 1 while rows() takes the rows of an argument */
  int failed;           /* 1: the plan fails (c->why), 2: internal error (*e) */
  DlmErr *e;
} Build;

static int dim_is(Dim d, int64_t k) { return dim_is_const(d) && d.k == k; }

static int emit(Build *b, OpKind op, const Type *given, int nin, const int *in, const Attrs *a, SrcLoc loc) {
  if (b->failed) return -1;
  for (int i = 0; i < nin; i++)
    if (in[i] < 0) return -1;
  Attrs none = attrs_none();
  int id = ir_emit(b->m, b->G, op, given, nin, in, a ? a : &none, loc, b->e);
  if (id < 0) b->failed = 2;
  return id;
}

static void fail(Build *b, const char *msg) {
  if (b->failed) return;
  snprintf(b->c->why, sizeof b->c->why, "%s", msg);
  b->failed = 1;
}

static int g_arg(Build *b, int var, const char *name, Type t) {
  if (b->failed) return -1;
  if (b->nargs == MAX_GARGS) { fail(b, "too many arguments in a rebuilt function"); return -1; }
  b->argvar[b->nargs++] = var;
  return ir_arg(b->m, b->G, name, t, b->c->loop->loc);
}

static int bnode(Build *b) {
  if (b->bnode < 0) b->bnode = g_arg(b, b->c->bvar, "b", b->c->s->vars[b->c->bvar].type);
  return b->bnode;
}

static int cst(Build *b, double v) {
  Attrs a = attrs_none();
  a.f[0] = v;
  Type t = type_scalar(DT_I64);
  return emit(b, OP_CONST, &t, 0, NULL, &a, b->c->loop->loc);
}

/* iota over axis 0 of i64[n, 1, ..., 1] (rank r). */
static int iota0(Build *b, int64_t n, int r) {
  Type t = {DT_I64, r, {{0, 0}}};
  for (int i = 0; i < r; i++) t.dims[i] = dim_const(i ? 1 : n);
  Attrs a = attrs_none();
  a.i[0] = 0;
  a.ni = 1;
  return emit(b, OP_IOTA, &t, 0, NULL, &a, b->c->loop->loc);
}

static int bin(Build *b, OpKind op, int x, int y) {
  int in[2] = {x, y};
  return emit(b, op, NULL, 2, in, NULL, b->c->loop->loc);
}

/* The number of rows computed: bs, or the window's W. */
static Dim rowdim(const Build *b) { return b->c->win ? b->c->wdim : dim_const(b->c->bs); }

static int reduce_max(Build *b, int x) {
  Attrs a = attrs_none();
  a.ni = 2;   /* axis 0, keepdim 0 */
  return emit(b, OP_RMAX, NULL, 1, &x, &a, b->c->loop->loc);
}

static int neg(Build *b, int x) { return emit(b, OP_NEG, NULL, 1, &x, NULL, b->c->loop->loc); }

/* The window's rows lo, lo+1, ..., hi-1 (i64[W], the window statement's result). */
static int wnode(Build *b) {
  if (b->idx_rows < 0) {
    Type t = {DT_I64, 1, {b->c->wdim}};
    b->idx_rows = g_arg(b, b->c->wvar, "kv.rows", t);
  }
  return b->idx_rows;
}

/* The first row computed (b*bs, or the window's lo) and, for a window, its last row (hi - 1). */
static int first_row(Build *b) {
  if (b->first < 0)
    b->first = b->c->win ? neg(b, reduce_max(b, neg(b, wnode(b)))) : bin(b, OP_MUL, bnode(b), cst(b, (double)b->c->bs));
  return b->first;
}

static int last_row(Build *b) {
  if (b->last < 0) b->last = reduce_max(b, wnode(b));
  return b->last;
}

/* i64[bs]: b*bs + j clamped to the rows (for a window, its rows); i64[L]: i - first clamped to the
 * computed rows. */
static int idx_rows(Build *b) {
  if (b->c->win) return wnode(b);
  if (b->idx_rows < 0) {
    int v = bin(b, OP_ADD, iota0(b, b->c->bs, 1), first_row(b));
    b->idx_rows = bin(b, OP_MAXIMUM, bin(b, OP_MINIMUM, v, cst(b, (double)(b->c->L - 1))), cst(b, 0));
  }
  return b->idx_rows;
}

static int idx_place(Build *b) {
  if (b->idx_place < 0) {
    int v = bin(b, OP_SUB, iota0(b, b->c->L, 1), first_row(b));
    int top = b->c->win ? bin(b, OP_SUB, last_row(b), first_row(b)) : cst(b, (double)(b->c->bs - 1));
    b->idx_place = bin(b, OP_MAXIMUM, bin(b, OP_MINIMUM, v, top), cst(b, 0));
  }
  return b->idx_place;
}

/* bool[L, 1, ..., 1] (rank r): true on the computed rows. */
static int rows_pred(Build *b, int r) {
  int i = iota0(b, b->c->L, r);
  if (b->c->win) return bin(b, OP_AND, bin(b, OP_GE, i, first_row(b)), bin(b, OP_LE, i, last_row(b)));
  return bin(b, OP_EQ, bin(b, OP_DIV, i, cst(b, (double)b->c->bs)), bnode(b));
}

static int transpose(Build *b, int x, const int64_t *perm, int r) {
  Attrs a = attrs_none();
  for (int i = 0; i < r; i++) a.i[i] = perm[i];
  a.ni = r;
  return emit(b, OP_TRANSPOSE, NULL, 1, &x, &a, b->c->loop->loc);
}

/* Gathers axis a of G value x by idx (axis a moved to the front and back). */
static int gather_axis(Build *b, int x, int a, int idx) {
  if (x < 0 || b->failed) return -1;
  int r = b->G->nodes[x].type.rank;
  int64_t to[DLM_MAX_RANK], back[DLM_MAX_RANK];
  to[0] = a;
  for (int j = 0, k = 1; j < r; j++)
    if (j != a) to[k++] = j;
  for (int j = 0; j < r; j++) back[j] = j < a ? j + 1 : j == a ? 0 : j;
  int t = a ? transpose(b, x, to, r) : x;
  int in[2] = {t, idx};
  int g = emit(b, OP_GATHER, NULL, 2, in, NULL, b->c->loop->loc);
  return a ? transpose(b, g, back, r) : g;
}

static int take_rows(Build *b, int x, int a) { return gather_axis(b, x, a, idx_rows(b)); }
static int place_rows(Build *b, int x, int a) { return gather_axis(b, x, a, idx_place(b)); }

static int full(Build *b, int n);
static int rows(Build *b, int n, int a);

/* Input j of elementwise node n, aligned with output axis a: its rows, or itself when broadcast. */
static int rows_in(Build *b, int n, int j, int a, char *taint) {
  const Node *nd = &b->F->nodes[n];
  int in = nd->in[j];
  const Type *t = &b->F->nodes[in].type;
  int ai = a - (nd->type.rank - t->rank);
  if (ai < 0 || !dim_is(t->dims[ai], b->c->L)) return full(b, in);
  int id = rows(b, in, ai);
  *taint |= b->taint[in];
  return id;
}

/* The cache buffer of F value k (keys or values of attention attn), as a G argument. */
static int cache_arg(Build *b, int k, int attn) {
  KvCtx *c = b->c;
  int fi = ir_func_index(b->m, b->F->name), i;
  for (i = 0; i < c->nbufs; i++)
    if (c->bufs[i].func == fi && c->bufs[i].fnode == k) break;
  if (i == c->nbufs) {
    if (c->nbufs == KV_MAX_BUFS) { fail(b, "too many cache buffers"); return -1; }
    const char *name = arena_printf(b->m->arena, "kv.%s.%d", b->F->name, k);
    int v = ir_sched_var(b->m, c->s, name, SV_CACHE, b->F->nodes[k].type, 0, c->loop->loc);
    c->bufs[c->nbufs++] = (KvBuf){fi, k, attn, v};
  }
  return g_arg(b, c->bufs[i].var, c->s->vars[c->bufs[i].var].name, b->F->nodes[k].type);
}

/* Keys or values k of attention attn on every row: finished rows from the cache, block b's rows
 * computed now. */
static int merged(Build *b, int k, int attn) {
  if (b->merged[k] >= 0) return b->merged[k];
  const KvFunc *kf = b->kf;
  const Type *t = &b->F->nodes[k].type;
  char msg[400];
  if (kf->deps[k] & kf->varbits) {
    snprintf(msg, sizeof msg, "the keys/values %%%d of attention %%%d in @%s depend on a value that changes inside the loop "
             "(the block index or a state other than the tokens): they cannot be cached", k, attn, b->F->name);
    fail(b, msg);
    return -1;
  }
  int r = rows(b, k, t->rank - 2);
  if (b->taint[k]) {
    snprintf(msg, sizeof msg, "the keys/values %%%d of attention %%%d in @%s mix rows of the sequence (not row-local or "
             "block-causal): a cached row would change when a later block does", k, attn, b->F->name);
    fail(b, msg);
    return -1;
  }
  int in[3] = {rows_pred(b, 2), place_rows(b, r, t->rank - 2), cache_arg(b, k, attn)};
  return b->merged[k] = emit(b, OP_WHERE, t, 3, in, NULL, b->F->nodes[k].loc);
}

/* rows of attention n on its query axis: the cached attention. */
static int rows_attention(Build *b, int n, char *taint) {
  const Node *nd = &b->F->nodes[n];
  char msg[400];
  if (nd->nin < 4 && !b->c->approx) {
    snprintf(msg, sizeof msg, "attention %%%d in @%s has no mask: it is bidirectional, so the keys of finished blocks change "
             "while a later block is decoded and no exact cache exists", n, b->F->name);
    fail(b, msg);
    return -1;
  }
  const Type *qt = &b->F->nodes[nd->in[0]].type, *kt = &b->F->nodes[nd->in[1]].type;
  if (kt->rank != qt->rank || !dim_is(kt->dims[kt->rank - 2], b->c->L) || !dim_is(b->F->nodes[nd->in[2]].type.dims[kt->rank - 2], b->c->L)) {
    snprintf(msg, sizeof msg, "attention %%%d in @%s: its keys are not the %lld rows of the sequence", n, b->F->name, (long long)b->c->L);
    fail(b, msg);
    return -1;
  }
  if (!b->c->approx && !kv_mask_block_causal(b->kf, n, nd->in[3])) { b->failed = 1; return -1; }
  int in[4];
  in[0] = rows(b, nd->in[0], qt->rank - 2);
  *taint |= b->taint[nd->in[0]];
  in[1] = merged(b, nd->in[1], n);
  in[2] = merged(b, nd->in[2], n);
  if (nd->nin > 3) {
    const Type *mt = &b->F->nodes[nd->in[3]].type;
    in[3] = mt->rank >= 2 && dim_is(mt->dims[mt->rank - 2], b->c->L) ? rows(b, nd->in[3], mt->rank - 2) : full(b, nd->in[3]);
  }
  b->ncached++;
  return emit(b, OP_ATTENTION, NULL, nd->nin, in, &nd->attr, nd->loc);
}

/* The input axis of reshape n that output axis a (of size L) comes from, or -1. */
static int reshape_axis(const Build *b, int n, int a) {
  const Type *o = &b->F->nodes[n].type, *t = &b->F->nodes[b->F->nodes[n].in[0]].type;
  Dim po = dim_const(1), pi = dim_const(1);
  for (int i = 0; i < a; i++)
    if (!dim_mul(po, o->dims[i], &po)) return -1;
  for (int i = 0; i < t->rank; i++) {
    if (dim_eq(pi, po) && dim_is(t->dims[i], b->c->L)) return i;
    if (!dim_mul(pi, t->dims[i], &pi)) return -1;
  }
  return -1;
}

/* rows(n, a) by op; -1 with *handled = 0 when n is not row-local along a. A const is the same fill
 * over fewer rows; an iota along the row axis is offset by b*bs. */
static int rows_op(Build *b, int n, int a, char *taint, int *handled) {
  const Node *nd = &b->F->nodes[n];
  const int r = nd->type.rank;
  Type t = nd->type;
  t.dims[a] = rowdim(b);
  int in[16];
  *handled = 1;
  switch (op_info[nd->op].fclass) {
  case FC_ELEMWISE:
  case FC_BROADCAST:
    if (nd->op == OP_RAND || nd->op == OP_BROADCAST) break;
    for (int j = 0; j < nd->nin; j++) in[j] = rows_in(b, n, j, a, taint);
    return emit(b, nd->op, &t, nd->nin, in, &nd->attr, nd->loc);
  default:
    break;
  }
  const Type *it = nd->nin > 0 ? &b->F->nodes[nd->in[0]].type : NULL;
  switch (nd->op) {
  case OP_CONST:
    return emit(b, nd->op, &t, 0, NULL, &nd->attr, nd->loc);
  case OP_IOTA: {
    int io = emit(b, nd->op, &t, 0, NULL, &nd->attr, nd->loc);
    if (nd->attr.i[0] != a) return io;
    Type st = type_scalar(t.dtype);
    int first = first_row(b);
    return bin(b, OP_ADD, io, emit(b, OP_CAST, &st, 1, &first, NULL, nd->loc));
  }
  case OP_SUM: case OP_MEAN: case OP_RMAX: case OP_LOGSUMEXP: case OP_ARGMAX: {
    int ax = (int)(nd->attr.i[0] < 0 ? nd->attr.i[0] + it->rank : nd->attr.i[0]);
    int ai = nd->attr.i[1] || a < ax ? a : a + 1;
    if (ai == ax) break;
    in[0] = rows(b, nd->in[0], ai);
    *taint |= b->taint[nd->in[0]];
    return emit(b, nd->op, &t, 1, in, &nd->attr, nd->loc);
  }
  case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_CUMSUM: case OP_SLICE: case OP_PAD: case OP_LAYER_NORM: {
    int ax = nd->op == OP_LAYER_NORM ? r - 1 : (int)(nd->attr.i[0] < 0 ? nd->attr.i[0] + r : nd->attr.i[0]);
    if (ax == a) break;
    in[0] = rows(b, nd->in[0], a);
    *taint |= b->taint[nd->in[0]];
    return emit(b, nd->op, &t, 1, in, &nd->attr, nd->loc);
  }
  case OP_CONCAT: {
    int ax = (int)(nd->attr.i[0] < 0 ? nd->attr.i[0] + r : nd->attr.i[0]);
    if (ax == a) break;
    for (int j = 0; j < nd->nin; j++) {
      in[j] = rows(b, nd->in[j], a);
      *taint |= b->taint[nd->in[j]];
    }
    return emit(b, nd->op, &t, nd->nin, in, &nd->attr, nd->loc);
  }
  case OP_SORT_DESC:   /* along the last axis */
    if (a == r - 1) break;
    in[0] = rows(b, nd->in[0], a);
    *taint |= b->taint[nd->in[0]];
    return emit(b, nd->op, &t, 1, in, &nd->attr, nd->loc);
  case OP_TRANSPOSE:
    in[0] = rows(b, nd->in[0], (int)nd->attr.i[a]);
    *taint |= b->taint[nd->in[0]];
    return emit(b, nd->op, &t, 1, in, &nd->attr, nd->loc);
  case OP_RESHAPE: {
    int ai = reshape_axis(b, n, a);
    if (ai < 0) break;
    in[0] = rows(b, nd->in[0], ai);
    *taint |= b->taint[nd->in[0]];
    return emit(b, nd->op, &t, 1, in, &nd->attr, nd->loc);
  }
  case OP_GATHER:
    if (a >= b->F->nodes[nd->in[1]].type.rank) break;
    in[0] = full(b, nd->in[0]);
    in[1] = rows(b, nd->in[1], a);
    *taint |= b->taint[nd->in[1]];
    return emit(b, nd->op, &t, 2, in, &nd->attr, nd->loc);
  case OP_TAKE:
    if (a >= r - 1) break;
    for (int j = 0; j < 2; j++) {
      in[j] = rows(b, nd->in[j], a);
      *taint |= b->taint[nd->in[j]];
    }
    return emit(b, nd->op, &t, 2, in, &nd->attr, nd->loc);
  case OP_MATMUL: {
    const Type *wt = &b->F->nodes[nd->in[1]].type;
    if (a != r - 2 || nd->attr.i[0] || wt->rank > 2 || it->rank < 2) break;
    in[0] = rows(b, nd->in[0], it->rank - 2);
    *taint |= b->taint[nd->in[0]];
    in[1] = full(b, nd->in[1]);
    return emit(b, nd->op, &t, 2, in, &nd->attr, nd->loc);
  }
  case OP_ATTENTION:
    if (a != r - 2) break;
    return rows_attention(b, n, taint);
  default:
    break;
  }
  *handled = 0;
  return -1;
}

static int rows(Build *b, int n, int a) {
  if (b->failed) return -1;
  if (b->rows[n] >= 0 && b->rowax[n] == a) return b->rows[n];
  const KvFunc *kf = b->kf;
  char taint = 0;
  int handled = 0, id = -1;
  if (b->F->nodes[n].op != OP_ARG) id = rows_op(b, n, a, &taint, &handled);
  if (!handled && !b->failed) {
    b->taking = b->F->nodes[n].op == OP_ARG;
    int whole = full(b, n);
    b->taking = 0;
    id = take_rows(b, whole, a);
    taint = (kf->deps[n] & kf->xbits) && b->F->nodes[n].op != OP_ARG;
  }
  if (b->rows[n] < 0) {
    b->rows[n] = id;
    b->rowax[n] = a;
    b->taint[n] = taint;
  } else if (taint) {
    b->taint[n] = 1;
  }
  return id;
}

static int full(Build *b, int n) {
  if (b->failed) return -1;
  const Node *an = &b->F->nodes[n];
  if (an->op == OP_ARG && !b->taking) b->fullargs |= 1ull << (an->attr.i[0] < 63 ? an->attr.i[0] : 63);
  if (b->full[n] >= 0) return b->full[n];
  const KvFunc *kf = b->kf;
  const Node *nd = &b->F->nodes[n];
  const Type *t = &nd->type;
  int id, pred, raxis;
  if (nd->op == OP_ARG) {
    int var = kf->call->args[nd->attr.i[0]];
    id = var == b->c->bvar ? bnode(b) : g_arg(b, var, nd->attr.s, *t);
  } else if (b->c->win && nd->op == OP_WHERE && (kf->deps[n] & kf->xbits) && kv_find_window(b->kf, nd->in[0], &raxis) &&
             raxis < t->rank && dim_is(t->dims[t->rank - 1 - raxis], b->c->L)) {
    /* outside the window [lo, hi) the condition is false: the else branch */
    int r = rows(b, n, t->rank - 1 - raxis);
    int in[3] = {rows_pred(b, raxis + 1), place_rows(b, r, t->rank - 1 - raxis), full(b, nd->in[2])};
    id = emit(b, OP_WHERE, t, 3, in, NULL, nd->loc);
  } else if (!b->c->win && nd->op == OP_WHERE && (kf->deps[n] & kf->xbits) && t->rank >= 1 && dim_is(t->dims[t->rank - 1], b->c->L) &&
             (pred = kv_find_block_pred(b->kf, nd->in[0])) >= 0) {
    int r = rows(b, n, t->rank - 1);
    int in[3] = {full(b, pred), place_rows(b, r, t->rank - 1), full(b, nd->in[2])};
    id = emit(b, OP_WHERE, t, 3, in, NULL, nd->loc);
  } else if (nd->op == OP_GATHER && (kf->deps[nd->in[0]] & kf->xbits) && b->F->nodes[nd->in[0]].type.rank >= 1 &&
             dim_is(b->F->nodes[nd->in[0]].type.dims[0], b->c->L) && kv_is_rows_index(b->kf, nd->in[1])) {
    id = rows(b, nd->in[0], 0);
  } else {
    int in[16];
    for (int j = 0; j < nd->nin; j++) in[j] = full(b, nd->in[j]);
    id = emit(b, nd->op, t, nd->nin, in, &nd->attr, nd->loc);
  }
  return b->full[n] = id;
}

const char *kv_func_name(Module *m, const char *base, const char *suffix) {
  const char *name = arena_printf(m->arena, "%s%s", base, suffix);
  for (int k = 2; ir_func_find(m, name); k++) name = arena_printf(m->arena, "%s%s%d", base, suffix, k);
  return name;
}

int kv_build(KvFunc *kf, KvBuildKind kind, int **argvars, int *nargs, int *ncached, DlmErr *e) {
  KvCtx *c = kf->c;
  const Func *F = kf->F;
  Build b = {0};
  b.kf = kf;
  b.c = c;
  b.m = c->m;
  b.F = F;
  b.e = e;
  b.bnode = b.idx_rows = b.idx_place = b.first = b.last = -1;
  size_t nn = (size_t)(F->nnodes ? F->nnodes : 1);
  int **maps[4] = {&b.full, &b.rows, &b.rowax, &b.merged};
  for (int i = 0; i < 4; i++) {
    *maps[i] = arena_alloc(c->m->arena, nn * sizeof(int));
    for (size_t j = 0; j < nn; j++) (*maps[i])[j] = -1;
  }
  b.taint = arena_alloc(c->m->arena, nn);
  b.G = ir_func_new(c->m, kv_func_name(c->m, F->name, kind == KV_COMMIT ? ".kv_commit" : kind == KV_REFRESH ? ".kv_refresh" : ".kv"));
  int outs[256];
  const char *names[256];
  int nout = 0;
  if (kind == KV_COMMIT || kind == KV_REFRESH) {
    int fi = ir_func_index(c->m, F->name);
    for (int i = 0; i < c->nbufs && !b.failed; i++)
      if (c->bufs[i].func == fi) {
        names[nout] = c->s->vars[c->bufs[i].var].name;
        outs[nout++] = kind == KV_COMMIT ? merged(&b, c->bufs[i].fnode, c->bufs[i].attn) : full(&b, c->bufs[i].fnode);
      }
  } else {
    for (int i = 0; i < F->nout && i < 256 && !b.failed; i++) {
      names[nout] = F->outnames ? F->outnames[i] : NULL;
      const Type *t = &F->nodes[F->outs[i]].type;
      if (kind == KV_ROWS && t->rank >= 2 && dim_is(t->dims[1], c->L)) {   /* the window's rows, zeros elsewhere */
        Attrs zero = attrs_none();
        int in[3] = {rows_pred(&b, t->rank - 1), place_rows(&b, rows(&b, F->outs[i], 1), 1),
                     emit(&b, OP_CONST, t, 0, NULL, &zero, c->loop->loc)};
        outs[nout++] = emit(&b, OP_WHERE, t, 3, in, NULL, F->nodes[F->outs[i]].loc);
      } else {
        outs[nout++] = full(&b, F->outs[i]);
      }
    }
  }
  if (kind == KV_STEP && c->win) {   /* window plans: the step returns its buffers, the computed rows merged in */
    int fi = ir_func_index(c->m, F->name);
    for (int i = 0; i < c->nbufs && !b.failed && nout < 256; i++)
      if (c->bufs[i].func == fi) {
        names[nout] = c->s->vars[c->bufs[i].var].name;
        outs[nout++] = merged(&b, c->bufs[i].fnode, c->bufs[i].attn);
      }
  }
  if (b.failed) {
    c->m->nfuncs--;   /* the half-built function is dropped (it is the last one) */
    return b.failed == 2 ? -2 : -1;
  }
  ir_set_outputs(c->m, b.G, nout, outs, names);
  *argvars = arena_alloc(c->m->arena, (size_t)(b.nargs ? b.nargs : 1) * sizeof **argvars);
  memcpy(*argvars, b.argvar, (size_t)b.nargs * sizeof **argvars);
  *nargs = b.nargs;
  *ncached = b.ncached;
  kf->fullargs = b.fullargs;
  return c->m->nfuncs - 1;
}

int kv_build_init(KvCtx *c, DlmErr *e) {
  Func *G = ir_func_new(c->m, kv_func_name(c->m, c->s->name, ".kv_init"));
  int outs[KV_MAX_BUFS + 1];
  const char *names[KV_MAX_BUFS + 1];
  int n = c->nbufs + c->win;
  for (int i = 0; i < n; i++) {
    Attrs a = attrs_none();
    const SchedVar *v = &c->s->vars[i < c->nbufs ? c->bufs[i].var : c->nextvar];
    if ((outs[i] = ir_emit(c->m, G, OP_CONST, &v->type, 0, NULL, &a, c->loop->loc, e)) < 0) return -2;
    names[i] = v->name;
  }
  ir_set_outputs(c->m, G, n, outs, names);
  return c->m->nfuncs - 1;
}
