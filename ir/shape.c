/* shape.c — the shape rules named in ops.def: each computes a node's result type from its input
 * types and attributes (or checks the declared type for ops whose result cannot be derived), and
 * reports a user-grade error naming the op and the offending types otherwise.
 *
 * Conventions decided here (the interpreter and backends follow them):
 *  - Ops with a declared type (arg, const, iota, rand_uniform, param) validate it; for reshape,
 *    broadcast_to and sum_to the declared type gives the dims and the dtype stays the input's; for
 *    cast the dtype comes from the declared type and the dims from the input.
 *  - argmax: the result dtype is the declared one when that is i32 or i64, otherwise i64.
 *  - slice: axis may be negative; the axis dim must be constant; 0 <= start <= end <= dim, step >= 1;
 *    the result has ceil((end - start) / step) elements on that axis.
 *  - pad: before, after >= 0 (zero padding); a symbolic dim can only be padded by 0.
 *  - concat: axis dims add when all are constant or are the same symbol product (L + L = 2*L).
 *  - take_along: x [..., N] and idx [..., K] have the same rank and equal leading dims; the result
 *    is [..., K] with x's dtype (numpy take_along_axis on the last axis, without broadcasting).
 *  - matmul: a [..., M, K] (or [..., K, M] with transpose_a), b [..., K, N] (or [..., N, K] with
 *    transpose_b), both rank >= 2, leading dims broadcast; result [..., M, N].
 *  - attention: q [..., Lq, Dh], k [..., Lk, Dh], v [..., Lk, Dv], leading dims broadcast, optional
 *    bool mask broadcastable to [..., Lq, Lk]; result [..., Lq, Dv] with q's dtype.
 */
#include "ir.h"
#include <string.h>

typedef struct { char b[3][192]; } TBuf;

static const char *opname(const Node *n) { return op_info[n->op].name; }
static const char *ts(const Module *m, const Type *t, TBuf *tb, int slot) {
  return type_str(m, t, tb->b[slot], sizeof tb->b[slot]);
}

static int fail1(const Module *m, const Node *n, DlmErr *e, const char *what, const Type *a) {
  TBuf tb;
  err_set(e, n->loc, "%s: %s: %s", opname(n), what, ts(m, a, &tb, 0));
  return 0;
}

static int fail2(const Module *m, const Node *n, DlmErr *e, const char *what, const Type *a, const Type *b) {
  TBuf tb;
  err_set(e, n->loc, "%s: %s: %s and %s", opname(n), what, ts(m, a, &tb, 0), ts(m, b, &tb, 1));
  return 0;
}

static int need_inputs(const Node *n, int lo, int hi, DlmErr *e) {
  if (n->nin >= lo && n->nin <= hi) return 1;
  if (lo == hi) err_set(e, n->loc, "%s: takes %d input%s, got %d", opname(n), lo, lo == 1 ? "" : "s", n->nin);
  else err_set(e, n->loc, "%s: takes %d to %d inputs, got %d", opname(n), lo, hi, n->nin);
  return 0;
}

/* A declared type must have a valid dtype and rank, non-negative dims and known symbols. */
static int type_valid(const Module *m, const Node *n, const Type *t, DlmErr *e) {
  if ((unsigned)t->dtype >= DT_COUNT) { err_set(e, n->loc, "%s: invalid element type", opname(n)); return 0; }
  if (t->rank < 0 || t->rank > DLM_MAX_RANK) {
    err_set(e, n->loc, "%s: rank %d is out of range 0..%d", opname(n), t->rank, DLM_MAX_RANK);
    return 0;
  }
  uint32_t known = m->nsyms >= 32 ? 0xffffffffu : (1u << m->nsyms) - 1;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i].k < 0) { err_set(e, n->loc, "%s: negative dimension in declared type", opname(n)); return 0; }
    if (t->dims[i].syms & ~known) { err_set(e, n->loc, "%s: unknown symbol in declared type", opname(n)); return 0; }
  }
  return 1;
}

static int norm_axis(const Module *m, const Node *n, int64_t axis, const Type *t, int *out, DlmErr *e) {
  if (t->rank == 0 || axis < -t->rank || axis >= t->rank) {
    TBuf tb;
    err_set(e, n->loc, "%s: axis %lld is out of range for %s", opname(n), (long long)axis, ts(m, t, &tb, 0));
    return 0;
  }
  *out = (int)(axis < 0 ? axis + t->rank : axis);
  return 1;
}

/* numpy broadcasting of two dims: equal, or one of them is 1. */
static int bcast_dim(Dim a, Dim b, Dim *out) {
  if (dim_eq(a, b)) { *out = a; return 1; }
  if (dim_eq(a, dim_const(1))) { *out = b; return 1; }
  if (dim_eq(b, dim_const(1))) { *out = a; return 1; }
  return 0;
}

int shape_broadcast_types(const Type *a, const Type *b, Type *out) {
  Type r;
  memset(&r, 0, sizeof r);
  r.dtype = a->dtype;
  r.rank = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r.rank; i++) {
    int ia = a->rank - r.rank + i, ib = b->rank - r.rank + i;
    Dim da = ia >= 0 ? a->dims[ia] : dim_const(1);
    Dim db = ib >= 0 ? b->dims[ib] : dim_const(1);
    if (!bcast_dim(da, db, &r.dims[i])) return 0;
  }
  *out = r;
  return 1;
}

/* Can `src` be broadcast to exactly `dst` (dims only)? */
static int broadcasts_to(const Type *src, const Type *dst) {
  if (src->rank > dst->rank) return 0;
  for (int i = 0; i < src->rank; i++) {
    Dim s = src->dims[i], d = dst->dims[dst->rank - src->rank + i];
    if (!dim_eq(s, d) && !dim_eq(s, dim_const(1))) return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------- sources */
int shape_given(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!type_valid(m, n, &n->type, e)) return 0;
  if (n->op == OP_ARG && n->attr.i[0] < 0) {
    err_set(e, n->loc, "arg: negative position %lld", (long long)n->attr.i[0]);
    return 0;
  }
  *out = n->type;
  return 1;
}

int shape_param(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!n->attr.s) { err_set(e, n->loc, "param: missing parameter name"); return 0; }
  int p = ir_param_find(m, n->attr.s);
  if (p < 0) { err_set(e, n->loc, "param: no parameter named \"%s\" is declared", n->attr.s); return 0; }
  const Type *pt = &m->params[p].type;
  /* n->type is the declared type, or the zero type (f32[]) when none was given. */
  int declared = !(n->type.rank == 0 && n->type.dtype == DT_F32);
  if (declared && !type_eq(&n->type, pt)) {
    TBuf tb;
    err_set(e, n->loc, "param: \"%s\" is declared as %s but used as %s", n->attr.s, ts(m, pt, &tb, 0),
            ts(m, &n->type, &tb, 1));
    return 0;
  }
  *out = *pt;
  return 1;
}

int shape_iota(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!type_valid(m, n, &n->type, e)) return 0;
  if (n->type.dtype == DT_BOOL) return fail1(m, n, e, "result must be numeric", &n->type);
  int ax = 0;
  if (!norm_axis(m, n, n->attr.i[0], &n->type, &ax, e)) return 0;
  *out = n->type;
  return 1;
}

int shape_rand(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 2, 2, e) || !type_valid(m, n, &n->type, e)) return 0;
  if (in[0]->dtype != DT_I64 || in[0]->rank != 0) return fail1(m, n, e, "seed must be an i64 scalar", in[0]);
  if (in[1]->dtype != DT_I64 || in[1]->rank != 0) return fail1(m, n, e, "offset must be an i64 scalar", in[1]);
  if (!dtype_is_float(n->type.dtype)) return fail1(m, n, e, "result must be a float type", &n->type);
  if (n->attr.i[0] < 0 || n->attr.i[0] > UINT32_MAX) {
    err_set(e, n->loc, "rand_uniform: stream %lld is out of range", (long long)n->attr.i[0]);
    return 0;
  }
  *out = n->type;
  return 1;
}

/* ---------------------------------------------------------------- elementwise */
int shape_unary(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e)) return 0;
  if (in[0]->dtype == DT_BOOL) return fail1(m, n, e, "expects a numeric tensor", in[0]);
  if (n->op == OP_CUMSUM) {
    int ax = 0;
    if (!norm_axis(m, n, n->attr.i[0], in[0], &ax, e)) return 0;
  }
  if (n->op == OP_SORT_DESC && in[0]->rank == 0) return fail1(m, n, e, "expects at least one axis", in[0]);
  *out = *in[0];
  return 1;
}

int shape_float1(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e)) return 0;
  if (!dtype_is_float(in[0]->dtype)) return fail1(m, n, e, "expects a float tensor", in[0]);
  if (n->op == OP_SOFTMAX || n->op == OP_LOG_SOFTMAX) {
    int ax = 0;
    if (!norm_axis(m, n, n->attr.i[0], in[0], &ax, e)) return 0;
  }
  if (n->op == OP_LAYER_NORM) {
    if (in[0]->rank == 0) return fail1(m, n, e, "expects at least one axis", in[0]);
    if (!(n->attr.f[0] >= 0)) { err_set(e, n->loc, "layer_norm: eps must be >= 0"); return 0; }
  }
  *out = *in[0];
  return 1;
}

int shape_bool1(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e)) return 0;
  if (in[0]->dtype != DT_BOOL) return fail1(m, n, e, "expects a bool tensor", in[0]);
  *out = *in[0];
  return 1;
}

int shape_cast(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e)) return 0;
  if ((unsigned)n->type.dtype >= DT_COUNT) { err_set(e, n->loc, "cast: invalid element type"); return 0; }
  *out = *in[0];
  out->dtype = n->type.dtype;
  return 1;
}

static int binary_common(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 2, 2, e)) return 0;
  if (in[0]->dtype != in[1]->dtype) return fail2(m, n, e, "element types differ", in[0], in[1]);
  if (!shape_broadcast_types(in[0], in[1], out)) return fail2(m, n, e, "shapes do not broadcast", in[0], in[1]);
  return 1;
}

int shape_binary(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!binary_common(m, n, in, out, e)) return 0;
  if (in[0]->dtype == DT_BOOL) return fail2(m, n, e, "expects numeric tensors", in[0], in[1]);
  return 1;
}

int shape_compare(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!binary_common(m, n, in, out, e)) return 0;
  out->dtype = DT_BOOL;
  return 1;
}

int shape_logical(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 2, 2, e)) return 0;
  if (in[0]->dtype != DT_BOOL || in[1]->dtype != DT_BOOL) return fail2(m, n, e, "expects bool tensors", in[0], in[1]);
  return binary_common(m, n, in, out, e);
}

int shape_where(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 3, 3, e)) return 0;
  if (in[0]->dtype != DT_BOOL) return fail1(m, n, e, "condition must be bool", in[0]);
  if (in[1]->dtype != in[2]->dtype) return fail2(m, n, e, "branch element types differ", in[1], in[2]);
  Type ab;
  if (!shape_broadcast_types(in[1], in[2], &ab)) return fail2(m, n, e, "branch shapes do not broadcast", in[1], in[2]);
  if (!shape_broadcast_types(&ab, in[0], out)) return fail2(m, n, e, "condition does not broadcast with branches", in[0], &ab);
  out->dtype = in[1]->dtype;
  return 1;
}

/* ---------------------------------------------------------------- reductions */
static int reduce_common(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e)) return 0;
  int ax = 0;
  if (!norm_axis(m, n, n->attr.i[0], in[0], &ax, e)) return 0;
  if (n->attr.i[1] != 0 && n->attr.i[1] != 1) {
    err_set(e, n->loc, "%s: keepdim must be 0 or 1, got %lld", opname(n), (long long)n->attr.i[1]);
    return 0;
  }
  *out = *in[0];
  if (n->attr.i[1]) {
    out->dims[ax] = dim_const(1);
  } else {
    for (int i = ax; i + 1 < out->rank; i++) out->dims[i] = out->dims[i + 1];
    out->dims[--out->rank] = dim_const(0);
  }
  return 1;
}

int shape_reduce(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (n->nin == 1 && in[0]->dtype == DT_BOOL) return fail1(m, n, e, "expects a numeric tensor", in[0]);
  if (n->nin == 1 && (n->op == OP_MEAN || n->op == OP_LOGSUMEXP) && !dtype_is_float(in[0]->dtype))
    return fail1(m, n, e, "expects a float tensor", in[0]);
  return reduce_common(m, n, in, out, e);
}

int shape_argmax(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (n->nin == 1 && in[0]->dtype == DT_BOOL) return fail1(m, n, e, "expects a numeric tensor", in[0]);
  if (!reduce_common(m, n, in, out, e)) return 0;
  out->dtype = n->type.dtype == DT_I32 ? DT_I32 : DT_I64;
  return 1;
}

int shape_sum_to(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e) || !type_valid(m, n, &n->type, e)) return 0;
  if (in[0]->dtype == DT_BOOL) return fail1(m, n, e, "expects a numeric tensor", in[0]);
  if (!broadcasts_to(&n->type, in[0]))
    return fail2(m, n, e, "target shape does not broadcast to the input", &n->type, in[0]);
  *out = n->type;
  out->dtype = in[0]->dtype;
  return 1;
}

/* ---------------------------------------------------------------- layout */
/* numel of a type as a monomial: coefficient and per-symbol powers; zero if any dim is 0. */
typedef struct { int64_t k; int pow[DLM_MAX_SYMS]; int overflow; } Numel;

static Numel numel_of(const Type *t) {
  Numel r;
  memset(&r, 0, sizeof r);
  r.k = 1;
  for (int i = 0; i < t->rank; i++) {
    Dim d = t->dims[i];
    if (d.k == 0) { memset(&r, 0, sizeof r); return r; }
    if (r.k > INT64_MAX / d.k) r.overflow = 1;
    else r.k *= d.k;
    for (int s = 0; s < DLM_MAX_SYMS; s++)
      if (d.syms & (1u << s)) r.pow[s]++;
  }
  return r;
}

int shape_reshape(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e) || !type_valid(m, n, &n->type, e)) return 0;
  Numel a = numel_of(in[0]), b = numel_of(&n->type);
  if (a.overflow || b.overflow || memcmp(&a, &b, sizeof a) != 0) {
    Type t = n->type;
    t.dtype = in[0]->dtype;
    return fail2(m, n, e, "element counts differ", in[0], &t);
  }
  *out = n->type;
  out->dtype = in[0]->dtype;
  return 1;
}

int shape_transpose(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e)) return 0;
  if (n->attr.ni != in[0]->rank) {
    TBuf tb;
    err_set(e, n->loc, "transpose: permutation has %d entries but the input %s has rank %d", n->attr.ni,
            ts(m, in[0], &tb, 0), in[0]->rank);
    return 0;
  }
  int seen[DLM_MAX_RANK] = {0};
  *out = *in[0];
  for (int i = 0; i < n->attr.ni; i++) {
    int64_t p = n->attr.i[i];
    if (p < 0 || p >= in[0]->rank || seen[p]) {
      err_set(e, n->loc, "transpose: perm is not a permutation of 0..%d", in[0]->rank - 1);
      return 0;
    }
    seen[p] = 1;
    out->dims[i] = in[0]->dims[p];
  }
  return 1;
}

int shape_broadcast(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e) || !type_valid(m, n, &n->type, e)) return 0;
  Type t = n->type;
  t.dtype = in[0]->dtype;
  if (!broadcasts_to(in[0], &t)) return fail2(m, n, e, "cannot broadcast", in[0], &t);
  *out = t;
  return 1;
}

int shape_slice(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e)) return 0;
  int ax = 0;
  if (!norm_axis(m, n, n->attr.i[0], in[0], &ax, e)) return 0;
  Dim d = in[0]->dims[ax];
  if (!dim_is_const(d)) return fail1(m, n, e, "the sliced axis must have a constant size", in[0]);
  int64_t start = n->attr.i[1], end = n->attr.i[2], step = n->attr.i[3];
  if (start < 0 || start > end || end > d.k || step < 1) {
    TBuf tb;
    err_set(e, n->loc, "slice: range %lld:%lld:%lld is invalid for axis %d of %s (need 0 <= start <= end <= %lld, step >= 1)",
            (long long)start, (long long)end, (long long)step, ax, ts(m, in[0], &tb, 0), (long long)d.k);
    return 0;
  }
  *out = *in[0];
  out->dims[ax] = dim_const(end == start ? 0 : (end - start - 1) / step + 1);
  return 1;
}

int shape_pad(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 1, 1, e)) return 0;
  int ax = 0;
  if (!norm_axis(m, n, n->attr.i[0], in[0], &ax, e)) return 0;
  int64_t before = n->attr.i[1], after = n->attr.i[2];
  if (before < 0 || after < 0 || before > INT32_MAX || after > INT32_MAX) {
    err_set(e, n->loc, "pad: before (%lld) and after (%lld) must be in 0..%d", (long long)before, (long long)after, INT32_MAX);
    return 0;
  }
  Dim d = in[0]->dims[ax];
  *out = *in[0];
  if (before + after == 0) return 1;
  if (!dim_is_const(d)) return fail1(m, n, e, "the padded axis must have a constant size", in[0]);
  if (d.k > INT64_MAX - before - after) return fail1(m, n, e, "padded size overflows", in[0]);
  out->dims[ax] = dim_const(d.k + before + after);
  return 1;
}

/* a + b for dims that are both constant or the same symbol product. */
static int dim_add(Dim a, Dim b, Dim *out) {
  if (a.k == 0) { *out = b; return 1; }
  if (b.k == 0) { *out = a; return 1; }
  if (a.syms != b.syms || a.k > INT64_MAX - b.k) return 0;
  out->k = a.k + b.k;
  out->syms = a.syms;
  return 1;
}

int shape_concat(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (n->nin < 1) { err_set(e, n->loc, "concat: needs at least one input"); return 0; }
  int ax = 0;
  if (!norm_axis(m, n, n->attr.i[0], in[0], &ax, e)) return 0;
  *out = *in[0];
  for (int j = 1; j < n->nin; j++) {
    const Type *t = in[j];
    if (t->dtype != in[0]->dtype) return fail2(m, n, e, "element types differ", in[0], t);
    if (t->rank != in[0]->rank) return fail2(m, n, e, "ranks differ", in[0], t);
    for (int i = 0; i < t->rank; i++)
      if (i != ax && !dim_eq(t->dims[i], in[0]->dims[i]))
        return fail2(m, n, e, "dimensions off the concatenation axis differ", in[0], t);
    if (!dim_add(out->dims[ax], t->dims[ax], &out->dims[ax]))
      return fail2(m, n, e, "sizes on the concatenation axis cannot be added", in[0], t);
  }
  return 1;
}

int shape_gather(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 2, 2, e)) return 0;
  const Type *tab = in[0], *idx = in[1];
  if (tab->rank < 1) return fail1(m, n, e, "table must have at least one axis", tab);
  if (!dtype_is_int(idx->dtype)) return fail1(m, n, e, "indices must be i32 or i64", idx);
  if (idx->rank + tab->rank - 1 > DLM_MAX_RANK) return fail2(m, n, e, "result rank is too large", tab, idx);
  memset(out, 0, sizeof *out);
  out->dtype = tab->dtype;
  out->rank = idx->rank + tab->rank - 1;
  for (int i = 0; i < idx->rank; i++) out->dims[i] = idx->dims[i];
  for (int i = 1; i < tab->rank; i++) out->dims[idx->rank + i - 1] = tab->dims[i];
  return 1;
}

int shape_take(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 2, 2, e)) return 0;
  const Type *x = in[0], *idx = in[1];
  if (x->rank < 1) return fail1(m, n, e, "input must have at least one axis", x);
  if (!dtype_is_int(idx->dtype)) return fail1(m, n, e, "indices must be i32 or i64", idx);
  if (idx->rank != x->rank) return fail2(m, n, e, "input and indices must have the same rank", x, idx);
  for (int i = 0; i + 1 < x->rank; i++)
    if (!dim_eq(x->dims[i], idx->dims[i])) return fail2(m, n, e, "leading dimensions differ", x, idx);
  *out = *idx;
  out->dtype = x->dtype;
  return 1;
}

/* ---------------------------------------------------------------- contractions */
/* Broadcast the leading (batch) dims of a and b, leaving `keep` trailing dims out of both. */
static int batch_dims(const Type *a, const Type *b, int keep, Type *out) {
  Type ba = *a, bb = *b;
  ba.rank -= keep;
  bb.rank -= keep;
  return shape_broadcast_types(&ba, &bb, out);
}

int shape_matmul(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 2, 2, e)) return 0;
  const Type *a = in[0], *b = in[1];
  if (a->rank < 2 || b->rank < 2) return fail2(m, n, e, "operands need at least two axes", a, b);
  if (a->dtype != b->dtype) return fail2(m, n, e, "element types differ", a, b);
  if (a->dtype == DT_BOOL) return fail2(m, n, e, "expects numeric tensors", a, b);
  int ta = n->attr.i[0] != 0, tb = n->attr.i[1] != 0;
  Dim am = a->dims[a->rank - 2 + ta], ak = a->dims[a->rank - 1 - ta];
  Dim bk = b->dims[b->rank - 2 + tb], bn = b->dims[b->rank - 1 - tb];
  if (!dim_eq(ak, bk)) return fail2(m, n, e, "inner dimensions differ", a, b);
  Type r;
  if (!batch_dims(a, b, 2, &r) || r.rank + 2 > DLM_MAX_RANK) return fail2(m, n, e, "batch dimensions do not broadcast", a, b);
  r.dtype = a->dtype;
  r.dims[r.rank++] = am;
  r.dims[r.rank++] = bn;
  *out = r;
  return 1;
}

int shape_attention(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e) {
  if (!need_inputs(n, 3, 4, e)) return 0;
  const Type *q = in[0], *k = in[1], *v = in[2];
  if (q->rank < 2 || k->rank < 2 || v->rank < 2) {
    TBuf tb;
    err_set(e, n->loc, "attention: q, k, v need at least two axes: %s, %s, %s", ts(m, q, &tb, 0), ts(m, k, &tb, 1), ts(m, v, &tb, 2));
    return 0;
  }
  if (!dtype_is_float(q->dtype)) return fail1(m, n, e, "q must be a float tensor", q);
  if (k->dtype != q->dtype) return fail2(m, n, e, "q and k element types differ", q, k);
  if (v->dtype != q->dtype) return fail2(m, n, e, "q and v element types differ", q, v);
  if (!dim_eq(q->dims[q->rank - 1], k->dims[k->rank - 1])) return fail2(m, n, e, "q and k head dimensions differ", q, k);
  if (!dim_eq(k->dims[k->rank - 2], v->dims[v->rank - 2])) return fail2(m, n, e, "k and v sequence lengths differ", k, v);
  Type bqk, bv = *v, b;
  bv.rank -= 2;
  if (!batch_dims(q, k, 2, &bqk)) return fail2(m, n, e, "q and k batch dimensions do not broadcast", q, k);
  if (!shape_broadcast_types(&bqk, &bv, &b) || b.rank + 2 > DLM_MAX_RANK)
    return fail2(m, n, e, "k and v batch dimensions do not broadcast", k, v);
  if (n->nin == 4) {
    const Type *mask = in[3];
    if (mask->dtype != DT_BOOL) return fail1(m, n, e, "mask must be bool", mask);
    Type scores = b;
    scores.dtype = DT_BOOL;
    scores.dims[scores.rank++] = q->dims[q->rank - 2];
    scores.dims[scores.rank++] = k->dims[k->rank - 2];
    if (!broadcasts_to(mask, &scores)) return fail2(m, n, e, "mask does not broadcast to the scores", mask, &scores);
  }
  b.dtype = q->dtype;
  b.dims[b.rank++] = q->dims[q->rank - 2];
  b.dims[b.rank++] = v->dims[v->rank - 1];
  *out = b;
  return 1;
}
