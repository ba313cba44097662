/* autodiff_rules_emit.c — small emit helpers used by the gradient rules (see autodiff_rules.h). */
#include "autodiff_rules.h"
#include <string.h>

Type ad_type(const AdCtx *c, int v) { return c->g->nodes[v].type; }

int ad_emit(AdCtx *c, OpKind op, const Type *given, int nin, const int *in, const Attrs *a) {
  for (int i = 0; i < nin; i++)
    if (in[i] < 0) return -1;
  if (c->e->set) return -1;
  return ir_emit(c->m, c->g, op, given, nin, in, a, c->loc, c->e);
}

int ad_const(AdCtx *c, double v, DType dt) {
  Type t = type_scalar(dt);
  Attrs a = attrs_none();
  a.f[0] = v;
  return ad_emit(c, OP_CONST, &t, 0, NULL, &a);
}

int ad_un(AdCtx *c, OpKind op, int x) { return ad_emit(c, op, NULL, 1, &x, NULL); }

int ad_bin(AdCtx *c, OpKind op, int a, int b) {
  int in[2] = {a, b};
  return ad_emit(c, op, NULL, 2, in, NULL);
}

int ad_binc(AdCtx *c, OpKind op, int a, double k) {
  if (a < 0) return -1;
  return ad_bin(c, op, a, ad_const(c, k, ad_type(c, a).dtype));
}

int ad_where(AdCtx *c, int cond, int a, int b) {
  int in[3] = {cond, a, b};
  return ad_emit(c, OP_WHERE, NULL, 3, in, NULL);
}

int ad_where0(AdCtx *c, int cond, int a, int a_if_true) {
  if (a < 0) return -1;
  int z = ad_const(c, 0.0, ad_type(c, a).dtype);
  return a_if_true ? ad_where(c, cond, a, z) : ad_where(c, cond, z, a);
}

int ad_reduce(AdCtx *c, OpKind op, int x, int axis, int keepdim) {
  Attrs a = attrs_none();
  a.i[0] = axis;
  a.i[1] = keepdim;
  a.ni = 2;
  return ad_emit(c, op, NULL, 1, &x, &a);
}

static int retype(AdCtx *c, OpKind op, int x, const Type *t) {
  if (x < 0) return -1;
  Type xt = ad_type(c, x);
  if (type_eq(&xt, t)) return x;
  return ad_emit(c, op, t, 1, &x, NULL);
}

int ad_sum_to(AdCtx *c, int x, const Type *t) { return retype(c, OP_SUM_TO, x, t); }
int ad_broadcast(AdCtx *c, int x, const Type *t) { return retype(c, OP_BROADCAST, x, t); }
int ad_reshape(AdCtx *c, int x, const Type *t) { return retype(c, OP_RESHAPE, x, t); }

int ad_cast(AdCtx *c, int x, DType dt) {
  if (x < 0) return -1;
  Type t = ad_type(c, x);
  if (t.dtype == dt) return x;
  t.dtype = dt;
  return ad_emit(c, OP_CAST, &t, 1, &x, NULL);
}

int ad_matmul(AdCtx *c, int a, int b, int ta, int tb) {
  Attrs at = attrs_none();
  at.i[0] = ta;
  at.i[1] = tb;
  at.ni = 2;
  int in[2] = {a, b};
  return ad_emit(c, OP_MATMUL, NULL, 2, in, &at);
}

int ad_slice(AdCtx *c, int x, int axis, int64_t start, int64_t end, int64_t step) {
  Attrs a = attrs_none();
  a.i[0] = axis;
  a.i[1] = start;
  a.i[2] = end;
  a.i[3] = step;
  a.ni = 4;
  return ad_emit(c, OP_SLICE, NULL, 1, &x, &a);
}

int ad_pad(AdCtx *c, int x, int axis, int64_t before, int64_t after) {
  if (before == 0 && after == 0) return x;
  Attrs a = attrs_none();
  a.i[0] = axis;
  a.i[1] = before;
  a.i[2] = after;
  a.ni = 3;
  return ad_emit(c, OP_PAD, NULL, 1, &x, &a);
}

int ad_iota(AdCtx *c, const Type *t, int axis) {
  Attrs a = attrs_none();
  a.i[0] = axis;
  a.ni = 1;
  return ad_emit(c, OP_IOTA, t, 0, NULL, &a);
}

int ad_norm_axis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

Type ad_keepdim_type(const Type *t, int axis) {
  Type k = *t;
  k.dims[axis] = dim_const(1);
  return k;
}
