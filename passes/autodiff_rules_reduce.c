/* autodiff_rules_reduce.c — gradient rules of the reductions (sum, mean, reduce_max, logsumexp,
 * sum_to), the normalizations (softmax, log_softmax, layer_norm) and cumsum. */
#include "autodiff_rules.h"

static int cumsum(AdCtx *c, int x, int axis) {
  Attrs a = attrs_none();
  a.i[0] = axis;
  a.ni = 1;
  return ad_emit(c, OP_CUMSUM, NULL, 1, &x, &a);
}

/* one-axis reductions: the gradient of y broadcast back along the reduced axis, times the local
 * derivative */
static int reduction(AdCtx *c) {
  int x = c->x[0];
  Type xt = ad_type(c, x);
  int axis = ad_norm_axis((int)c->n->attr.i[0], xt.rank);
  Type kt = ad_keepdim_type(&xt, axis);
  int gk = ad_reshape(c, c->gy, &kt);
  switch (c->n->op) {
  case OP_SUM: return ad_broadcast(c, gk, &xt);
  case OP_MEAN: {
    Dim d = xt.dims[axis];
    if (dim_is_const(d)) return ad_broadcast(c, ad_binc(c, OP_MUL, gk, d.k ? 1.0 / (double)d.k : 0.0), &xt);
    /* symbolic length: count the elements with a sum of ones */
    int ones = ad_broadcast(c, ad_const(c, 1.0, xt.dtype), &xt);
    return ad_broadcast(c, ad_bin(c, OP_DIV, gk, ad_reduce(c, OP_SUM, ones, axis, 1)), &xt);
  }
  case OP_RMAX: { /* ties share the gradient equally */
    int yk = ad_reshape(c, c->y, &kt);
    int hit = ad_bin(c, OP_EQ, x, yk);
    int cnt = ad_reduce(c, OP_SUM, ad_cast(c, hit, xt.dtype), axis, 1);
    return ad_where0(c, hit, ad_bin(c, OP_DIV, gk, cnt), 1);
  }
  case OP_LOGSUMEXP: {
    int yk = ad_reshape(c, c->y, &kt);
    return ad_bin(c, OP_MUL, gk, ad_un(c, OP_EXP, ad_bin(c, OP_SUB, x, yk)));
  }
  default: return -1;
  }
}

int ad_rule_reduce(AdCtx *c) {
  int x = c->x[0], y = c->y, gy = c->gy;
  Type xt = ad_type(c, x);
  int g = -1;
  switch (c->n->op) {
  case OP_SUM: case OP_MEAN: case OP_RMAX: case OP_LOGSUMEXP: g = reduction(c); break;
  case OP_SUM_TO: g = ad_broadcast(c, gy, &xt); break;
  case OP_SOFTMAX: { /* y (gy - sum(gy y)) */
    int axis = ad_norm_axis((int)c->n->attr.i[0], xt.rank);
    g = ad_bin(c, OP_MUL, y, ad_bin(c, OP_SUB, gy, ad_reduce(c, OP_SUM, ad_bin(c, OP_MUL, gy, y), axis, 1)));
    break;
  }
  case OP_LOG_SOFTMAX: { /* gy - exp(y) sum(gy) */
    int axis = ad_norm_axis((int)c->n->attr.i[0], xt.rank);
    g = ad_bin(c, OP_SUB, gy, ad_bin(c, OP_MUL, ad_un(c, OP_EXP, y), ad_reduce(c, OP_SUM, gy, axis, 1)));
    break;
  }
  case OP_LAYER_NORM: { /* over the last axis: rstd (gy - mean(gy) - y mean(gy y)) */
    int last = xt.rank - 1;
    int xc = ad_bin(c, OP_SUB, x, ad_reduce(c, OP_MEAN, x, last, 1));
    int var = ad_reduce(c, OP_MEAN, ad_bin(c, OP_MUL, xc, xc), last, 1);
    int rstd = ad_un(c, OP_RSQRT, ad_binc(c, OP_ADD, var, c->n->attr.f[0]));
    int inner = ad_bin(c, OP_SUB, ad_bin(c, OP_SUB, gy, ad_reduce(c, OP_MEAN, gy, last, 1)),
                       ad_bin(c, OP_MUL, y, ad_reduce(c, OP_MEAN, ad_bin(c, OP_MUL, gy, y), last, 1)));
    g = ad_bin(c, OP_MUL, rstd, inner);
    break;
  }
  case OP_CUMSUM: { /* reverse cumsum: total - cumsum(gy) + gy */
    int axis = ad_norm_axis((int)c->n->attr.i[0], xt.rank);
    g = ad_bin(c, OP_ADD, ad_bin(c, OP_SUB, ad_reduce(c, OP_SUM, gy, axis, 1), cumsum(c, gy, axis)), gy);
    break;
  }
  default: break;
  }
  c->gx[0] = g;
  return g >= 0;
}
