/* autodiff_rules_layout.c — gradient rules of the layout ops: reshape, transpose, broadcast_to,
 * slice (-> pad), pad (-> slice), concat (-> slices), gather (-> scatter_add) and back, and
 * take_along (-> one-hot select and sum). */
#include "autodiff_rules.h"

static int need_const(AdCtx *c, Dim d, const char *what) {
  if (dim_is_const(d)) return 1;
  err_set(c->e, c->loc, "autodiff: the gradient of %s needs a constant length on its axis", what);
  return 0;
}

static int transpose_grad(AdCtx *c) {
  Attrs a = attrs_none();
  a.ni = c->n->attr.ni;
  for (int i = 0; i < a.ni; i++) a.i[c->n->attr.i[i]] = i;
  return ad_emit(c, OP_TRANSPOSE, NULL, 1, &c->gy, &a);
}

/* x[start : start + k*step : step] along axis -> zeros of x's shape with gy at those places */
static int slice_grad(AdCtx *c) {
  Type xt = ad_type(c, c->x[0]), yt = ad_type(c, c->y);
  int axis = ad_norm_axis((int)c->n->attr.i[0], xt.rank);
  if (!need_const(c, xt.dims[axis], "slice") || !need_const(c, yt.dims[axis], "slice")) return -1;
  int64_t n = xt.dims[axis].k, k = yt.dims[axis].k, start = c->n->attr.i[1], step = c->n->attr.i[3];
  if (start < 0) start += n;
  if (step <= 0 || start < 0) {
    err_set(c->e, c->loc, "autodiff: slice with start %lld step %lld has no gradient rule",
            (long long)c->n->attr.i[1], (long long)step);
    return -1;
  }
  int g = c->gy;
  if (step > 1 && k > 0) { /* interleave step-1 zeros after each element: [k] -> [k,1] -> [k,step] -> [k*step] */
    if (yt.rank + 1 > DLM_MAX_RANK) {
      err_set(c->e, c->loc, "autodiff: strided slice gradient needs rank %d", yt.rank + 1);
      return -1;
    }
    Type t1 = yt;
    for (int i = yt.rank; i > axis + 1; i--) t1.dims[i] = t1.dims[i - 1];
    t1.dims[axis + 1] = dim_const(1);
    t1.rank++;
    g = ad_pad(c, ad_reshape(c, g, &t1), axis + 1, 0, step - 1);
    Type t2 = yt;
    t2.dims[axis] = dim_const(k * step);
    g = ad_reshape(c, g, &t2);
    k *= step;
    if (start + k > n) { g = ad_slice(c, g, axis, 0, n - start, 1); k = n - start; }
  }
  return ad_pad(c, g, axis, start, n - start - k);
}

static int pad_grad(AdCtx *c) {
  Type xt = ad_type(c, c->x[0]);
  int axis = ad_norm_axis((int)c->n->attr.i[0], xt.rank);
  int64_t before = c->n->attr.i[1], after = c->n->attr.i[2];
  if (!need_const(c, xt.dims[axis], "pad")) return -1;
  if (before < 0 || after < 0) {
    err_set(c->e, c->loc, "autodiff: pad with negative widths has no gradient rule");
    return -1;
  }
  return ad_slice(c, c->gy, axis, before, before + xt.dims[axis].k, 1);
}

static int concat_grad(AdCtx *c) {
  Type yt = ad_type(c, c->y);
  int axis = ad_norm_axis((int)c->n->attr.i[0], yt.rank);
  int64_t off = 0;
  for (int j = 0; j < c->n->nin; j++) {
    Type xt = ad_type(c, c->x[j]);
    if (!need_const(c, xt.dims[axis], "concat")) return 0;
    if (c->want[j]) c->gx[j] = ad_slice(c, c->gy, axis, off, off + xt.dims[axis].k, 1);
    off += xt.dims[axis].k;
  }
  return !c->e->set;
}

/* gather(table[V, R...], idx[I...]) = [I..., R...]: d table = scatter_add(gy, idx);
 * scatter_add(src, idx) -> [V, R...]: d src = gather(gy, idx) */
static int gather_grad(AdCtx *c) {
  Type tt = ad_type(c, c->x[0]);
  int in[2] = {c->gy, c->x[1]};
  return ad_emit(c, OP_SCATTER_ADD, &tt, 2, in, NULL);
}

static int scatter_add_grad(AdCtx *c) {
  int in[2] = {c->gy, c->x[1]};
  return ad_emit(c, OP_GATHER, NULL, 2, in, NULL);
}

/* take_along(x[..., N], idx[..., K]) = y[..., K]: dx[..., m] = sum_k gy[..., k] [idx[..., k] == m] */
static int take_grad(AdCtx *c) {
  Type xt = ad_type(c, c->x[0]), it = ad_type(c, c->x[1]), yt = ad_type(c, c->y);
  int r = yt.rank;
  if (r + 1 > DLM_MAX_RANK) {
    err_set(c->e, c->loc, "autodiff: take_along gradient needs rank %d", r + 1);
    return -1;
  }
  Type ie = it, ge = yt, io = it;
  ie.dims[it.rank] = dim_const(1);
  ie.rank++;
  ge.dims[r] = dim_const(1);
  ge.rank++;
  io.rank = r + 1;
  for (int i = 0; i < r; i++) io.dims[i] = yt.dims[i];
  io.dims[r] = xt.dims[xt.rank - 1];
  int hit = ad_bin(c, OP_EQ, ad_reshape(c, c->x[1], &ie), ad_iota(c, &io, r));
  int sel = ad_where0(c, hit, ad_reshape(c, c->gy, &ge), 1);
  int g = ad_reduce(c, OP_SUM, sel, r - 1, 0);
  return ad_sum_to(c, g, &xt);
}

int ad_rule_layout(AdCtx *c) {
  Type xt = ad_type(c, c->x[0]);
  int g = -1;
  switch (c->n->op) {
  case OP_RESHAPE: g = ad_reshape(c, c->gy, &xt); break;
  case OP_TRANSPOSE: g = transpose_grad(c); break;
  case OP_BROADCAST: g = ad_sum_to(c, c->gy, &xt); break;
  case OP_SLICE: g = slice_grad(c); break;
  case OP_PAD: g = pad_grad(c); break;
  case OP_CONCAT: return concat_grad(c);
  case OP_GATHER: g = gather_grad(c); break;
  case OP_SCATTER_ADD: g = scatter_add_grad(c); break;
  case OP_TAKE: g = take_grad(c); break;
  default: break;
  }
  c->gx[0] = g;
  return g >= 0;
}
