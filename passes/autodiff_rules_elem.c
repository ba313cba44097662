/* autodiff_rules_elem.c — gradient rules of the elementwise ops: unary math, float-to-float cast,
 * binary arithmetic with numpy broadcasting (each gradient summed back to its input's shape), where. */
#include "autodiff_rules.h"

/* gy * d(y)/d(x) for a unary op */
static int unary(AdCtx *c) {
  int x = c->x[0], y = c->y, gy = c->gy;
  switch (c->n->op) {
  case OP_NEG: return ad_un(c, OP_NEG, gy);
  case OP_ABS: {
    int pos = ad_bin(c, OP_GT, x, ad_const(c, 0.0, ad_type(c, x).dtype));
    int neg = ad_bin(c, OP_LT, x, ad_const(c, 0.0, ad_type(c, x).dtype));
    return ad_where(c, pos, gy, ad_where0(c, neg, ad_un(c, OP_NEG, gy), 1));
  }
  case OP_EXP: return ad_bin(c, OP_MUL, gy, y);
  case OP_LOG: return ad_bin(c, OP_DIV, gy, x);
  case OP_LOG1P: return ad_bin(c, OP_DIV, gy, ad_binc(c, OP_ADD, x, 1.0));
  case OP_EXPM1: return ad_bin(c, OP_MUL, gy, ad_binc(c, OP_ADD, y, 1.0));
  case OP_SQRT: return ad_bin(c, OP_DIV, ad_binc(c, OP_MUL, gy, 0.5), y);
  case OP_RSQRT: /* d x^-1/2 = -1/2 x^-3/2 = -1/2 y / x */
    return ad_bin(c, OP_MUL, gy, ad_bin(c, OP_DIV, ad_binc(c, OP_MUL, y, -0.5), x));
  case OP_SIN: return ad_bin(c, OP_MUL, gy, ad_un(c, OP_COS, x));
  case OP_COS: return ad_un(c, OP_NEG, ad_bin(c, OP_MUL, gy, ad_un(c, OP_SIN, x)));
  case OP_TANH: /* 1 - y^2 */
    return ad_bin(c, OP_MUL, gy, ad_bin(c, OP_SUB, ad_const(c, 1.0, ad_type(c, y).dtype), ad_bin(c, OP_MUL, y, y)));
  case OP_SIGMOID: /* y (1 - y) */
    return ad_bin(c, OP_MUL, gy,
                  ad_bin(c, OP_MUL, y, ad_bin(c, OP_SUB, ad_const(c, 1.0, ad_type(c, y).dtype), y)));
  case OP_SILU: { /* s (1 + x (1 - s)) */
    int s = ad_un(c, OP_SIGMOID, x);
    int one_minus = ad_bin(c, OP_SUB, ad_const(c, 1.0, ad_type(c, x).dtype), s);
    return ad_bin(c, OP_MUL, gy, ad_bin(c, OP_MUL, s, ad_binc(c, OP_ADD, ad_bin(c, OP_MUL, x, one_minus), 1.0)));
  }
  case OP_GELU_TANH: {
    /* y = x/2 (1 + t), t = tanh(k (x + a x^3)), k = sqrt(2/pi), a = 0.044715:
     * y' = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 a x^2) */
    const double k = 0.79788456080286535588 /* sqrt(2/pi) */, a = 0.044715;
    int x2 = ad_bin(c, OP_MUL, x, x);
    int u = ad_binc(c, OP_MUL, ad_bin(c, OP_MUL, x, ad_binc(c, OP_ADD, ad_binc(c, OP_MUL, x2, a), 1.0)), k);
    int t = ad_un(c, OP_TANH, u);
    int half1pt = ad_binc(c, OP_MUL, ad_binc(c, OP_ADD, t, 1.0), 0.5);
    int sech2 = ad_bin(c, OP_SUB, ad_const(c, 1.0, ad_type(c, x).dtype), ad_bin(c, OP_MUL, t, t));
    int du = ad_binc(c, OP_MUL, ad_binc(c, OP_ADD, ad_binc(c, OP_MUL, x2, 3.0 * a), 1.0), k);
    int rest = ad_bin(c, OP_MUL, ad_binc(c, OP_MUL, x, 0.5), ad_bin(c, OP_MUL, sech2, du));
    return ad_bin(c, OP_MUL, gy, ad_bin(c, OP_ADD, half1pt, rest));
  }
  case OP_LOG_NDTR: { /* phi(x) / Phi(x) = exp(-x^2/2 - log(2 pi)/2 - y), finite in both tails */
    int e = ad_bin(c, OP_ADD, ad_binc(c, OP_MUL, ad_bin(c, OP_MUL, x, x), 0.5), y); /* x^2/2 + y */
    return ad_bin(c, OP_MUL, gy, ad_un(c, OP_EXP, ad_un(c, OP_NEG, ad_binc(c, OP_ADD, e, 0.91893853320467274178))));
  }
  case OP_CAST: return ad_cast(c, gy, ad_type(c, x).dtype);
  default: return -1;
  }
}

/* gradients of a binary op before summing back to the input shapes */
static void binary(AdCtx *c, int *ga, int *gb) {
  int a = c->x[0], b = c->x[1], y = c->y, gy = c->gy;
  *ga = *gb = -1;
  switch (c->n->op) {
  case OP_ADD: *ga = gy; *gb = gy; break;
  case OP_SUB: *ga = gy; if (c->want[1]) *gb = ad_un(c, OP_NEG, gy); break;
  case OP_MUL:
    if (c->want[0]) *ga = ad_bin(c, OP_MUL, gy, b);
    if (c->want[1]) *gb = ad_bin(c, OP_MUL, gy, a);
    break;
  case OP_DIV: /* d/da = 1/b, d/db = -a/b^2 = -y/b */
    if (c->want[0]) *ga = ad_bin(c, OP_DIV, gy, b);
    if (c->want[1]) *gb = ad_un(c, OP_NEG, ad_bin(c, OP_DIV, ad_bin(c, OP_MUL, gy, y), b));
    break;
  case OP_POW: /* d/da = b a^(b-1), d/db = y log a */
    if (c->want[0])
      *ga = ad_bin(c, OP_MUL, gy, ad_bin(c, OP_MUL, b, ad_bin(c, OP_POW, a, ad_binc(c, OP_SUB, b, 1.0))));
    if (c->want[1]) *gb = ad_bin(c, OP_MUL, gy, ad_bin(c, OP_MUL, y, ad_un(c, OP_LOG, a)));
    break;
  case OP_MAXIMUM:
  case OP_MINIMUM: { /* the first operand wins ties */
    int first = ad_bin(c, c->n->op == OP_MAXIMUM ? OP_GE : OP_LE, a, b);
    if (c->want[0]) *ga = ad_where0(c, first, gy, 1);
    if (c->want[1]) *gb = ad_where0(c, first, gy, 0);
    break;
  }
  default: break;
  }
}

int ad_rule_elem(AdCtx *c) {
  OpKind op = c->n->op;
  if (op == OP_WHERE) {
    for (int j = 1; j <= 2; j++)
      if (c->want[j]) {
        Type t = ad_type(c, c->x[j]);
        c->gx[j] = ad_sum_to(c, ad_where0(c, c->x[0], c->gy, j == 1), &t);
      }
    return !c->e->set;
  }
  if (c->n->nin == 1) {
    c->gx[0] = unary(c);
    return c->gx[0] >= 0;
  }
  int g[2];
  binary(c, &g[0], &g[1]);
  for (int j = 0; j < 2; j++)
    if (c->want[j]) {
      Type t = ad_type(c, c->x[j]);
      c->gx[j] = ad_sum_to(c, g[j], &t);
    }
  return !c->e->set;
}
