/* interp_elem.c — reference kernels for the source ops (arg, param, const, iota, rand_uniform) and
 * the elementwise ops (unary, binary with numpy broadcasting, where, cast). Float math is done in
 * double; the driver rounds each result to its precision afterwards. Integer arithmetic wraps
 * (two's complement) instead of overflowing; integer div/mod are floor division/modulo and a zero
 * divisor is an error. */
#include "interp_internal.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- sources */
static int64_t tensor_geti(const Tensor *t, int64_t k) {
  switch (t->dtype) {
  case DT_I32: return ((const int32_t *)t->data)[k];
  case DT_I64: return ((const int64_t *)t->data)[k];
  case DT_BOOL: return ((const uint8_t *)t->data)[k] != 0;
  default: return (int64_t)tensor_get(t, k);
  }
}

/* Copy tensor t (already checked convertible, same shape) into out. */
static int load_tensor(const Tensor *t, const Node *n, const char *what, Val *out, DlmErr *e) {
  for (int64_t k = 0; k < out->numel; k++) {
    if (out->isf) { out->f[k] = tensor_get(t, k); continue; }
    int64_t v = tensor_geti(t, k);
    if (n->type.dtype == DT_I32 && (v < INT32_MIN || v > INT32_MAX)) {
      err_set(e, n->loc, "%s: value %lld at element %lld does not fit in i32", what, (long long)v, (long long)k);
      return 0;
    }
    out->i[k] = v;
  }
  return 1;
}

int interp_arg(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  return load_tensor(c->args[n->attr.i[0]], n, n->attr.s ? n->attr.s : "argument", out, e);
}

int interp_param(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  return load_tensor(pstore_get(c->ps, n->attr.s), n, n->attr.s, out, e);
}

int interp_const(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  double v = n->attr.f[0];
  if (!out->isf && !(v > -9.3e18 && v < 9.3e18)) {
    err_set(e, n->loc, "const: value %g does not fit in %s", v, dtype_name(n->type.dtype));
    return 0;
  }
  for (int64_t k = 0; k < out->numel; k++) {
    if (out->isf) out->f[k] = v;
    else out->i[k] = n->type.dtype == DT_BOOL ? v != 0 : (int64_t)v;
  }
  return 1;
}

int interp_iota(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  int axis;
  if (!interp_norm_axis(n->attr.i[0], out->rank, &axis)) { err_set(e, n->loc, "iota: axis out of range"); return 0; }
  int64_t outer, len, inner;
  interp_split_axis(out, axis, &outer, &len, &inner);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < len; j++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t k = (o * len + j) * inner + i;
        if (out->isf) out->f[k] = (double)j;
        else out->i[k] = j;
      }
  return 1;
}

int interp_rand(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  uint64_t seed = (uint64_t)in[0]->i[0], offset = (uint64_t)in[1]->i[0];
  int f64 = n->type.dtype == DT_F64;
  for (int64_t k = 0; k < out->numel; k++)
    out->f[k] = philox_uniform(seed, offset, (uint32_t)n->attr.i[0], (uint64_t)k, f64);
  return 1;
}

/* ---------------------------------------------------------------- unary */
static double sigmoid(double x) {
  if (x >= 0) return 1 / (1 + exp(-x));
  double z = exp(x);
  return z / (1 + z);
}

static double unary_f(OpKind op, double x) {
  switch (op) {
  case OP_NEG: return -x;
  case OP_ABS: return fabs(x);
  case OP_EXP: return exp(x);
  case OP_LOG: return log(x);
  case OP_LOG1P: return log1p(x);
  case OP_EXPM1: return expm1(x);
  case OP_SQRT: return sqrt(x);
  case OP_RSQRT: return 1 / sqrt(x);
  case OP_SIN: return sin(x);
  case OP_COS: return cos(x);
  case OP_TANH: return tanh(x);
  case OP_SIGMOID: return sigmoid(x);
  case OP_SILU: return x * sigmoid(x);
  case OP_GELU_TANH: {
    const double c = 0.79788456080286535588; /* sqrt(2/pi) */
    return 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x)));
  }
  case OP_FLOOR: return floor(x);
  case OP_LOG_NDTR: return dlm_log_ndtr(x);
  default: return NAN;
  }
}

/* Float to integer dtype t, truncating toward zero; 0 if out of range or NaN. */
static int float_to_int(double x, DType t, int64_t *out) {
  if (t == DT_BOOL) { *out = x != 0; return 1; }
  double lo = t == DT_I32 ? -2147483649.0 : -9223372036854775808.0 - 1.0;
  double hi = t == DT_I32 ? 2147483648.0 : 9223372036854775808.0;
  if (!(x > lo && x < hi)) return 0;
  *out = (int64_t)x;
  return 1;
}

static int do_cast(const Node *n, const Val *a, Val *out, DlmErr *e) {
  DType to = n->type.dtype;
  for (int64_t k = 0; k < out->numel; k++) {
    if (out->isf) { out->f[k] = val_get(a, k); continue; }
    if (!a->isf) { out->i[k] = to == DT_BOOL ? a->i[k] != 0 : a->i[k]; continue; }
    if (!float_to_int(a->f[k], to, &out->i[k])) {
      err_set(e, n->loc, "cast: value %g at element %lld is out of range for %s", a->f[k], (long long)k, dtype_name(to));
      return 0;
    }
  }
  return 1;
}

int interp_unary(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0];
  if (n->op == OP_CAST) return do_cast(n, a, out, e);
  for (int64_t k = 0; k < out->numel; k++) {
    if (out->isf) { out->f[k] = unary_f(n->op, val_get(a, k)); continue; }
    uint64_t x = (uint64_t)a->i[k];
    switch (n->op) {
    case OP_NEG: out->i[k] = (int64_t)(0 - x); break;
    case OP_ABS: out->i[k] = a->i[k] < 0 ? (int64_t)(0 - x) : a->i[k]; break;
    case OP_NOT: out->i[k] = a->i[k] == 0; break;
    default:
      err_set(e, n->loc, "%s: not defined on integer values", op_info[n->op].name);
      return 0;
    }
  }
  return 1;
}

/* ---------------------------------------------------------------- binary */
static double fmod_floor(double a, double b) {
  double r = fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

static double binary_f(OpKind op, double a, double b) {
  switch (op) {
  case OP_ADD: return a + b;
  case OP_SUB: return a - b;
  case OP_MUL: return a * b;
  case OP_DIV: return a / b;
  case OP_MOD: return fmod_floor(a, b);
  case OP_POW: return pow(a, b);
  case OP_MAXIMUM: return isnan(a) || isnan(b) ? NAN : (a > b ? a : b);
  case OP_MINIMUM: return isnan(a) || isnan(b) ? NAN : (a < b ? a : b);
  case OP_EQ: return a == b;
  case OP_NE: return a != b;
  case OP_LT: return a < b;
  case OP_LE: return a <= b;
  case OP_GT: return a > b;
  case OP_GE: return a >= b;
  case OP_AND: return a != 0 && b != 0;
  case OP_OR: return a != 0 || b != 0;
  default: return NAN;
  }
}

static int64_t ipow(int64_t base, int64_t ex) {
  uint64_t r = 1, b = (uint64_t)base;
  for (; ex > 0; ex >>= 1) {
    if (ex & 1) r *= b;
    b *= b;
  }
  return (int64_t)r;
}

/* Integer op; 0 with *e set on a zero divisor or a negative power. */
static int binary_i(const Node *n, int64_t a, int64_t b, int64_t *r, DlmErr *e) {
  uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
  switch (n->op) {
  case OP_ADD: *r = (int64_t)(ua + ub); return 1;
  case OP_SUB: *r = (int64_t)(ua - ub); return 1;
  case OP_MUL: *r = (int64_t)(ua * ub); return 1;
  case OP_DIV:
  case OP_MOD: {
    if (b == 0) { err_set(e, n->loc, "%s: integer division by zero", op_info[n->op].name); return 0; }
    if (b == -1) { *r = n->op == OP_DIV ? (int64_t)(0 - ua) : 0; return 1; }
    int64_t q = a / b, m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) { q -= 1; m += b; }
    *r = n->op == OP_DIV ? q : m;
    return 1;
  }
  case OP_POW:
    if (b < 0) { err_set(e, n->loc, "pow: integer base to a negative integer power"); return 0; }
    *r = ipow(a, b);
    return 1;
  case OP_MAXIMUM: *r = a > b ? a : b; return 1;
  case OP_MINIMUM: *r = a < b ? a : b; return 1;
  case OP_EQ: *r = a == b; return 1;
  case OP_NE: *r = a != b; return 1;
  case OP_LT: *r = a < b; return 1;
  case OP_LE: *r = a <= b; return 1;
  case OP_GT: *r = a > b; return 1;
  case OP_GE: *r = a >= b; return 1;
  case OP_AND: *r = a != 0 && b != 0; return 1;
  case OP_OR: *r = a != 0 || b != 0; return 1;
  default:
    err_set(e, n->loc, "%s: not a binary op", op_info[n->op].name);
    return 0;
  }
}

int interp_binary(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  const Val *a = in[0], *b = in[1];
  Odo o;
  odo_init(&o, out->rank, out->shape, 2);
  interp_bcast_strides(a, out->rank, out->shape, o.st[0]);
  interp_bcast_strides(b, out->rank, out->shape, o.st[1]);
  for (int64_t k = 0; k < out->numel; k++, odo_next(&o)) {
    int64_t ia = o.off[0], ib = o.off[1];
    if (a->isf) {
      double r = binary_f(n->op, val_get(a, ia), val_get(b, ib));
      if (out->isf) out->f[k] = r;
      else out->i[k] = (int64_t)r; /* comparisons and logic: 0 or 1 */
    } else {
      if (!binary_i(n, a->i[ia], b->i[ib], &out->i[k], e)) return 0;
    }
  }
  return 1;
}

int interp_where(const InterpCtx *c, const Node *n, const Val *const *in, Val *out, DlmErr *e) {
  Odo o;
  odo_init(&o, out->rank, out->shape, 3);
  for (int j = 0; j < 3; j++) interp_bcast_strides(in[j], out->rank, out->shape, o.st[j]);
  for (int64_t k = 0; k < out->numel; k++, odo_next(&o)) {
    const Val *src = val_get(in[0], o.off[0]) != 0 ? in[1] : in[2];
    int64_t off = src == in[1] ? o.off[1] : o.off[2];
    if (out->isf) out->f[k] = val_get(src, off);
    else out->i[k] = src->i[off];
  }
  return 1;
}
