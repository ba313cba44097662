/* autodiff_rules_contract.c — gradient rules of the contractions: matmul (both operands, any
 * transpose flags, batch broadcasting summed back) and attention (recomputing the probabilities). */
#include "autodiff_rules.h"

/* C = op(A) op(B) with op = transpose when the flag is set */
static int matmul_grad(AdCtx *c) {
  int a = c->x[0], b = c->x[1], gy = c->gy;
  int ta = (int)c->n->attr.i[0] != 0, tb = (int)c->n->attr.i[1] != 0;
  Type at = ad_type(c, a), bt = ad_type(c, b);
  if (at.rank < 2 || bt.rank < 2) {
    err_set(c->e, c->loc, "autodiff: the gradient of matmul needs operands of rank >= 2");
    return 0;
  }
  if (c->want[0]) {
    int g = !ta ? ad_matmul(c, gy, b, 0, !tb)      /* dA = dC op(B)^T */
                : (!tb ? ad_matmul(c, b, gy, 0, 1)  /* A^T B: dA = B dC^T */
                       : ad_matmul(c, b, gy, 1, 1));/* A^T B^T: dA = B^T dC^T */
    c->gx[0] = ad_sum_to(c, g, &at);
  }
  if (c->want[1]) {
    int g = !tb ? ad_matmul(c, a, gy, !ta, 0)      /* dB = op(A)^T dC */
                : (!ta ? ad_matmul(c, gy, a, 1, 0)  /* A B^T: dB = dC^T A */
                       : ad_matmul(c, gy, a, 1, 1));/* A^T B^T: dB = dC^T A^T */
    c->gx[1] = ad_sum_to(c, g, &bt);
  }
  return !c->e->set;
}

/* O = softmax(scale Q K^T, masked) V, a query row with every key masked giving zeros (as the
 * interpreter defines it). With P recomputed (masked entries exactly 0):
 * dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)), dQ = scale dS K, dK = scale dS^T Q */
static int attention_grad(AdCtx *c) {
  int q = c->x[0], k = c->x[1], v = c->x[2], gy = c->gy;
  double scale = c->n->attr.f[0];
  Type qt = ad_type(c, q), kt = ad_type(c, k), vt = ad_type(c, v);
  int s = ad_binc(c, OP_MUL, ad_matmul(c, q, k, 0, 1), scale);
  if (c->n->nin > 3) s = ad_where(c, c->x[3], s, ad_const(c, -1e30, qt.dtype));
  int last = qt.rank - 1;
  Attrs sm = attrs_none();
  sm.i[0] = last;
  sm.ni = 1;
  int p = ad_emit(c, OP_SOFTMAX, NULL, 1, &s, &sm);
  if (c->n->nin > 3) p = ad_where0(c, c->x[3], p, 1); /* a row with every key masked is all zeros */
  if (c->want[2]) c->gx[2] = ad_sum_to(c, ad_matmul(c, p, gy, 1, 0), &vt);
  if (c->want[0] || c->want[1]) {
    int dp = ad_matmul(c, gy, v, 0, 1);
    int ds = ad_bin(c, OP_MUL, p, ad_bin(c, OP_SUB, dp, ad_reduce(c, OP_SUM, ad_bin(c, OP_MUL, dp, p), last, 1)));
    ds = ad_binc(c, OP_MUL, ds, scale);
    if (c->want[0]) c->gx[0] = ad_sum_to(c, ad_matmul(c, ds, k, 0, 0), &qt);
    if (c->want[1]) c->gx[1] = ad_sum_to(c, ad_matmul(c, ds, q, 1, 0), &kt);
  }
  return !c->e->set;
}

int ad_rule_contract(AdCtx *c) {
  return c->n->op == OP_MATMUL ? matmul_grad(c) : attention_grad(c);
}
