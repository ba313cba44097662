/* lower_builtin.c — builtin functions: argument binding (positional and keyword), elementwise math
 * (folded on compile-time numbers), maximum/minimum/where with weak literal typing, reductions,
 * softmax, layer_norm and matmul. Layout and creation builtins are in lower_builtin_shape.c. */
#include "lower.h"
#include "interp.h"
#include <math.h>
#include <string.h>

typedef struct { const char *name; OpKind op; } UnaryFn;
static const UnaryFn unary_fns[] = {
  {"exp", OP_EXP}, {"log", OP_LOG}, {"log1p", OP_LOG1P}, {"expm1", OP_EXPM1}, {"sqrt", OP_SQRT},
  {"rsqrt", OP_RSQRT}, {"sin", OP_SIN}, {"cos", OP_COS}, {"tanh", OP_TANH}, {"sigmoid", OP_SIGMOID},
  {"silu", OP_SILU}, {"gelu_tanh", OP_GELU_TANH}, {"abs", OP_ABS}, {"floor", OP_FLOOR},
  {"log_ndtr", OP_LOG_NDTR},
};
static const UnaryFn reduce_fns[] = {
  {"sum", OP_SUM}, {"mean", OP_MEAN}, {"max", OP_RMAX}, {"logsumexp", OP_LOGSUMEXP}, {"argmax", OP_ARGMAX},
};
static const char *const shape_fns[] = {
  "reshape", "transpose", "broadcast_to", "slice", "pad", "concat", "chunk", "gather", "take_along",
  "one_hot", "cumsum", "sort_desc", "cast", "full", "zeros", "ones", "iota", "rand_uniform", "rand_normal", "shape",
};
#define COUNT(a) ((int)(sizeof a / sizeof *a))

static int find_fn(const UnaryFn *t, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(t[i].name, name) == 0) return i;
  return -1;
}

static int is_shape_fn(const char *name) {
  for (int i = 0; i < COUNT(shape_fns); i++)
    if (strcmp(shape_fns[i], name) == 0) return 1;
  return 0;
}

int is_builtin(const char *name) {
  static const char *const other[] = {"maximum", "minimum", "where", "softmax", "log_softmax", "layer_norm", "matmul", "attention"};
  for (int i = 0; i < COUNT(other); i++)
    if (strcmp(other[i], name) == 0) return 1;
  return find_fn(unary_fns, COUNT(unary_fns), name) >= 0 || find_fn(reduce_fns, COUNT(reduce_fns), name) >= 0 || is_shape_fn(name);
}

int call_slots(Lower *L, const Expr *e, const char *const *names, int nnames, int nreq, const Expr **slots) {
  for (int i = 0; i < nnames; i++) slots[i] = NULL;
  int pos = 0, kw = 0;
  for (int j = 0; j < e->nargs; j++) {
    const char *an = e->argnames ? e->argnames[j] : NULL;
    if (an) {
      kw = 1;
      int k = -1;
      for (int i = 0; i < nnames; i++)
        if (strcmp(names[i], an) == 0) k = i;
      if (k < 0) return fail(L, e->args[j]->loc, "'%s' has no argument named '%s'", e->name, an);
      if (slots[k]) return fail(L, e->args[j]->loc, "argument '%s' of '%s' given twice", an, e->name);
      slots[k] = e->args[j];
    } else {
      if (kw) return fail(L, e->args[j]->loc, "positional argument after a keyword argument");
      if (pos >= nnames)
        return fail(L, e->loc, "wrong number of arguments: '%s' takes %s%d, got %d", e->name, nreq < nnames ? "at most " : "", nnames, e->nargs);
      slots[pos++] = e->args[j];
    }
  }
  for (int i = 0; i < nreq; i++)
    if (!slots[i]) return fail(L, e->loc, "wrong number of arguments: '%s' takes %s%d, got %d (missing '%s')", e->name,
                               nreq < nnames ? "at least " : "", nreq, e->nargs, names[i]);
  return 1;
}

static int tensor_arg(Lower *L, const Expr *e, const char *fn, Val *out) {
  char s[128];
  if (!lower_expr(L, e, out)) return 0;
  if (out->kind != V_TENSOR) return fail(L, e->loc, "'%s' expects a tensor, got %s", fn, val_str(L, *out, s, sizeof s));
  return 1;
}

static int bool_arg(Lower *L, const Expr *e, int dflt, int *out) {
  Val v;
  *out = dflt;
  if (!e) return 1;
  if (!lower_expr(L, e, &v)) return 0;
  if (v.kind != V_NUM || !v.is_bool) return fail(L, e->loc, "expected true or false");
  *out = (int)v.ival;
  return 1;
}

static int int_arg(Lower *L, const Expr *e, int64_t dflt, int64_t *out) {
  *out = dflt;
  return e ? ct_int(L, e, out) : 1;
}

static int unary(Lower *L, const Expr *e, OpKind op, Val *out) {
  static const char *const nm[] = {"x"};
  const Expr *s[1];
  Val x;
  if (!call_slots(L, e, nm, 1, 1, s) || !lower_expr(L, s[0], &x)) return 0;
  if (x.kind == V_NUM && !x.is_bool) {
    double v = x.num, r;
    switch (op) {
    case OP_EXP: r = exp(v); break;
    case OP_LOG: r = log(v); break;
    case OP_LOG1P: r = log1p(v); break;
    case OP_EXPM1: r = expm1(v); break;
    case OP_SQRT: r = sqrt(v); break;
    case OP_RSQRT: r = 1 / sqrt(v); break;
    case OP_SIN: r = sin(v); break;
    case OP_COS: r = cos(v); break;
    case OP_TANH: r = tanh(v); break;
    case OP_SIGMOID: r = 1 / (1 + exp(-v)); break;
    case OP_SILU: r = v / (1 + exp(-v)); break;
    case OP_LOG_NDTR: r = dlm_log_ndtr(v); break;
    case OP_GELU_TANH: r = 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); break;
    case OP_ABS: if (x.is_int) { if (x.ival == INT64_MIN) return fail(L, e->loc, "integer overflow"); *out = val_int(x.ival < 0 ? -x.ival : x.ival); return 1; } r = fabs(v); break;
    default: if (x.is_int) { *out = x; return 1; } r = floor(v); break;
    }
    if (!isfinite(r)) return fail(L, e->loc, "%s(%g) is not finite", e->name, v);
    *out = val_num(r);
    return 1;
  }
  char b[128];
  if (x.kind != V_TENSOR) return fail(L, s[0]->loc, "'%s' expects a tensor or a number, got %s", e->name, val_str(L, x, b, sizeof b));
  int id = emit(L, op, NULL, 1, &x.id, NULL, e->loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

/* The dtype that literals among vals take: that of the first tensor (all tensors must agree). */
static int common_dtype(Lower *L, const Expr *e, const Val *v, int n, DType *dt) {
  int have = 0;
  char s1[128], s2[128];
  for (int i = 0; i < n; i++) {
    if (v[i].kind != V_TENSOR) continue;
    DType t = val_type(L, v[i])->dtype;
    if (have && t != *dt) {
      for (int j = 0; j < i; j++)
        if (v[j].kind == V_TENSOR)
          return fail(L, e->loc, "type error: '%s' of %s and %s (element types differ; use cast)", e->name,
                      val_str(L, v[j], s1, sizeof s1), val_str(L, v[i], s2, sizeof s2));
    }
    *dt = t;
    have = 1;
  }
  if (!have) *dt = default_dtype(v[0]);
  return 1;
}

static int minmax(Lower *L, const Expr *e, OpKind op, Val *out) {
  static const char *const nm[] = {"a", "b"};
  const Expr *s[2];
  Val v[2];
  DType dt = DT_F32;
  if (!call_slots(L, e, nm, 2, 2, s) || !lower_expr(L, s[0], &v[0]) || !lower_expr(L, s[1], &v[1])) return 0;
  if (v[0].kind == V_NUM && v[1].kind == V_NUM) {
    int amax = v[0].num > v[1].num;
    *out = (op == OP_MAXIMUM) == amax ? v[0] : v[1];
    return 1;
  }
  if (!common_dtype(L, e, v, 2, &dt)) return 0;
  int in[2];
  if ((in[0] = materialize(L, v[0], dt, s[0]->loc)) < 0 || (in[1] = materialize(L, v[1], dt, s[1]->loc)) < 0) return 0;
  int id = emit(L, op, NULL, 2, in, NULL, e->loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

static int where(Lower *L, const Expr *e, Val *out) {
  static const char *const nm[] = {"cond", "a", "b"};
  const Expr *s[3];
  Val v[3];
  DType dt = DT_F32;
  if (!call_slots(L, e, nm, 3, 3, s)) return 0;
  for (int i = 0; i < 3; i++)
    if (!lower_expr(L, s[i], &v[i])) return 0;
  if (v[0].kind == V_TENSOR && val_type(L, v[0])->dtype != DT_BOOL) return fail(L, s[0]->loc, "type error: where: the condition must be bool");
  if (!common_dtype(L, e, v + 1, 2, &dt)) return 0;
  int in[3];
  if ((in[0] = materialize(L, v[0], DT_BOOL, s[0]->loc)) < 0 || (in[1] = materialize(L, v[1], dt, s[1]->loc)) < 0 ||
      (in[2] = materialize(L, v[2], dt, s[2]->loc)) < 0) return 0;
  int id = emit(L, OP_WHERE, NULL, 3, in, NULL, e->loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

static int reduce(Lower *L, const Expr *e, OpKind op, Val *out) {
  static const char *const nm[] = {"x", "axis", "keepdim"};
  const Expr *s[3];
  Val x;
  int64_t axis;
  int keep, ax;
  if (!call_slots(L, e, nm, 3, 1, s) || !tensor_arg(L, s[0], e->name, &x) || !int_arg(L, s[1], -1, &axis) || !bool_arg(L, s[2], 0, &keep)) return 0;
  const Type *t = val_type(L, x);
  if (!norm_axis(L, axis, t->rank, e->loc, &ax)) return 0;
  Attrs a = attrs_none();
  a.i[0] = ax; a.i[1] = keep; a.ni = 2;
  Type rt, *given = NULL;
  if (op == OP_ARGMAX) {
    rt = *t;
    rt.dtype = DT_I32;
    if (keep) rt.dims[ax] = dim_const(1);
    else {
      for (int i = ax; i + 1 < rt.rank; i++) rt.dims[i] = rt.dims[i + 1];
      rt.rank--;
    }
    given = &rt;
  }
  int id = emit(L, op, given, 1, &x.id, &a, e->loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

static int softmax(Lower *L, const Expr *e, OpKind op, Val *out) {
  static const char *const nm[] = {"x", "axis"};
  const Expr *s[2];
  Val x;
  int64_t axis;
  int ax;
  if (!call_slots(L, e, nm, 2, 1, s) || !tensor_arg(L, s[0], e->name, &x) || !int_arg(L, s[1], -1, &axis)) return 0;
  if (!norm_axis(L, axis, val_type(L, x)->rank, e->loc, &ax)) return 0;
  Attrs a = attrs_none();
  a.i[0] = ax; a.ni = 1;
  int id = emit(L, op, NULL, 1, &x.id, &a, e->loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

static int layer_norm(Lower *L, const Expr *e, Val *out) {
  static const char *const nm[] = {"x", "eps"};
  const Expr *s[2];
  Val x;
  double eps = 1e-5;
  if (!call_slots(L, e, nm, 2, 1, s) || !tensor_arg(L, s[0], e->name, &x)) return 0;
  if (s[1] && !ct_num(L, s[1], &eps)) return 0;
  if (eps < 0) return fail(L, s[1]->loc, "layer_norm: eps must be >= 0");
  Attrs a = attrs_none();
  a.f[0] = eps;
  int id = emit(L, OP_LAYER_NORM, NULL, 1, &x.id, &a, e->loc);
  if (id < 0) return 0;
  *out = val_tensor(id);
  return 1;
}

static int matmul(Lower *L, const Expr *e, Val *out) {
  static const char *const nm[] = {"a", "b", "transpose_a", "transpose_b"};
  const Expr *s[4];
  Val a, b;
  int ta, tb;
  if (!call_slots(L, e, nm, 4, 2, s) || !tensor_arg(L, s[0], e->name, &a) || !tensor_arg(L, s[1], e->name, &b) ||
      !bool_arg(L, s[2], 0, &ta) || !bool_arg(L, s[3], 0, &tb)) return 0;
  char s1[128], s2[128];
  if (val_type(L, a)->dtype != val_type(L, b)->dtype)
    return fail(L, e->loc, "type error: matmul of %s and %s (element types differ; use cast)", val_str(L, a, s1, sizeof s1), val_str(L, b, s2, sizeof s2));
  Attrs at = attrs_none();
  at.i[0] = ta; at.i[1] = tb; at.ni = 2;
  int in[2] = {a.id, b.id};
  DlmErr saved = L->err;
  int id = emit(L, OP_MATMUL, NULL, 2, in, &at, e->loc);
  if (id < 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "shape mismatch: matmul of %s with %s%s%s: %s", val_str(L, a, s1, sizeof s1), val_str(L, b, s2, sizeof s2),
             ta ? " (transpose_a)" : "", tb ? " (transpose_b)" : "", L->err.msg);
    msg[400] = 0;
    L->err = saved;
    return fail(L, e->loc, "%s", msg);
  }
  *out = val_tensor(id);
  return 1;
}

int lower_builtin(Lower *L, const Expr *e, Val *out) {
  const char *n = e->name;
  int i;
  if ((i = find_fn(unary_fns, COUNT(unary_fns), n)) >= 0) return unary(L, e, unary_fns[i].op, out);
  if ((i = find_fn(reduce_fns, COUNT(reduce_fns), n)) >= 0) return reduce(L, e, reduce_fns[i].op, out);
  if (strcmp(n, "maximum") == 0) return minmax(L, e, OP_MAXIMUM, out);
  if (strcmp(n, "minimum") == 0) return minmax(L, e, OP_MINIMUM, out);
  if (strcmp(n, "where") == 0) return where(L, e, out);
  if (strcmp(n, "softmax") == 0) return softmax(L, e, OP_SOFTMAX, out);
  if (strcmp(n, "log_softmax") == 0) return softmax(L, e, OP_LOG_SOFTMAX, out);
  if (strcmp(n, "layer_norm") == 0) return layer_norm(L, e, out);
  if (strcmp(n, "matmul") == 0) return matmul(L, e, out);
  if (strcmp(n, "attention") == 0) return lower_attention(L, e, out);
  return lower_builtin_shape(L, e, out);
}
