/* c_elem_expr.c — the C expression of one elementwise op (casts, float maps, comparisons, integer
 * arithmetic with two's-complement wrap and floor division), shared by the CPU code generator
 * and the CUDA one: the generated languages differ only in the names a CDialect gives. */
#include "cpu_emit_internal.h"

const CDialect cpu_c_dialect = {"dlm_expf", "dlm_tanhf", "bad"};
const CDialect cuda_c_dialect = {"expf", "tanhf", "bad_"};

void c_wrap_int(DType t, const char *x, char *out) {
  if (t == DT_I32) cpu_fmt(out, C_EXPR_OUT, "(int32_t)(uint32_t)(uint64_t)(%s)", x);
  else if (t == DT_BOOL) cpu_fmt(out, C_EXPR_OUT, "(uint8_t)((%s) != 0)", x);
  else cpu_fmt(out, C_EXPR_OUT, "(int64_t)(%s)", x);
}

int c_elem_expr(const CDialect *d, const Node *n, DType tin, char r[][CPU_EXPR], char *out, int *checks) {
  const char *a = r[0], *b = n->nin > 1 ? r[1] : "";
  DType to = n->type.dtype;
  int fl = dtype_is_float(tin), f32 = tin != DT_F64;
  const char *sf = f32 ? "f" : "";
  char x[C_EXPR_OUT - 64]; /* room for c_wrap_int around it */
  *checks = 0;
  if (n->op == OP_CAST) {
    if (dtype_is_float(to)) cpu_fmt(out, C_EXPR_OUT, "(%s)(%s)", to == DT_F64 ? "double" : "float", a);
    else if (to == DT_BOOL) cpu_fmt(out, C_EXPR_OUT, "(uint8_t)((%s) != 0)", a);
    else if (fl) {
      cpu_fmt(x, sizeof x, "dlm_f2i((double)(%s), %d, &%s)", a, to == DT_I32, d->bad);
      c_wrap_int(to, x, out);
      *checks = 1;
    } else c_wrap_int(to, a, out);
    return 1;
  }
  if (n->op == OP_WHERE) { cpu_fmt(out, C_EXPR_OUT, "((%s) != 0 ? %s : %s)", a, r[1], r[2]); return 1; }
  if (fl) {
    const char *fn = NULL;
    switch (n->op) {
    case OP_NEG: cpu_fmt(out, C_EXPR_OUT, "(-%s)", a); return 1;
    case OP_ABS: fn = f32 ? "fabsf" : "fabs"; break;
    case OP_EXP: fn = f32 ? d->expf : "exp"; break;
    case OP_LOG: fn = f32 ? "logf" : "log"; break;
    case OP_LOG1P: fn = f32 ? "log1pf" : "log1p"; break;
    case OP_EXPM1: fn = f32 ? "expm1f" : "expm1"; break;
    case OP_SQRT: fn = f32 ? "sqrtf" : "sqrt"; break;
    case OP_RSQRT: cpu_fmt(out, C_EXPR_OUT, "(1 / sqrt%s(%s))", sf, a); return 1;
    case OP_SIN: fn = f32 ? "sinf" : "sin"; break;
    case OP_COS: fn = f32 ? "cosf" : "cos"; break;
    case OP_TANH: fn = f32 ? d->tanhf : "tanh"; break;
    case OP_SIGMOID: fn = f32 ? "dlm_sigf" : "dlm_sig"; break;
    case OP_SILU: cpu_fmt(out, C_EXPR_OUT, "(%s * %s(%s))", a, f32 ? "dlm_sigf" : "dlm_sig", a); return 1;
    case OP_GELU_TANH: fn = f32 ? "dlm_geluf" : "dlm_gelu"; break;
    case OP_FLOOR: fn = f32 ? "floorf" : "floor"; break;
    case OP_LOG_NDTR: fn = f32 ? "dlm_log_ndtrf" : "dlm_log_ndtr"; break;
    case OP_ADD: cpu_fmt(out, C_EXPR_OUT, "(%s + %s)", a, b); return 1;
    case OP_SUB: cpu_fmt(out, C_EXPR_OUT, "(%s - %s)", a, b); return 1;
    case OP_MUL: cpu_fmt(out, C_EXPR_OUT, "(%s * %s)", a, b); return 1;
    case OP_DIV: cpu_fmt(out, C_EXPR_OUT, "(%s / %s)", a, b); return 1;
    case OP_MOD: cpu_fmt(out, C_EXPR_OUT, "dlm_fmod%s(%s, %s)", sf, a, b); return 1;
    case OP_POW: cpu_fmt(out, C_EXPR_OUT, "pow%s(%s, %s)", sf, a, b); return 1;
    case OP_MAXIMUM: cpu_fmt(out, C_EXPR_OUT, "dlm_max%s(%s, %s)", sf, a, b); return 1;
    case OP_MINIMUM: cpu_fmt(out, C_EXPR_OUT, "dlm_min%s(%s, %s)", sf, a, b); return 1;
    default: break;
    }
    if (fn) { cpu_fmt(out, C_EXPR_OUT, "%s(%s)", fn, a); return 1; }
  }
  const char *cmp = NULL;
  switch (n->op) {
  case OP_EQ: cmp = "=="; break;
  case OP_NE: cmp = "!="; break;
  case OP_LT: cmp = "<"; break;
  case OP_LE: cmp = "<="; break;
  case OP_GT: cmp = ">"; break;
  case OP_GE: cmp = ">="; break;
  default: break;
  }
  if (cmp) { cpu_fmt(out, C_EXPR_OUT, "(uint8_t)(%s %s %s)", a, cmp, b); return 1; }
  if (n->op == OP_AND) { cpu_fmt(out, C_EXPR_OUT, "(uint8_t)((%s) != 0 && (%s) != 0)", a, b); return 1; }
  if (n->op == OP_OR) { cpu_fmt(out, C_EXPR_OUT, "(uint8_t)((%s) != 0 || (%s) != 0)", a, b); return 1; }
  if (fl) return 0;
  switch (n->op) {
  case OP_NEG: cpu_fmt(x, sizeof x, "0 - (uint64_t)%s", a); break;
  case OP_ABS: cpu_fmt(x, sizeof x, "%s < 0 ? (int64_t)(0 - (uint64_t)%s) : (int64_t)%s", a, a, a); break;
  case OP_NOT: cpu_fmt(out, C_EXPR_OUT, "(uint8_t)(%s == 0)", a); return 1;
  case OP_ADD: cpu_fmt(x, sizeof x, "(uint64_t)%s + (uint64_t)%s", a, b); break;
  case OP_SUB: cpu_fmt(x, sizeof x, "(uint64_t)%s - (uint64_t)%s", a, b); break;
  case OP_MUL: cpu_fmt(x, sizeof x, "(uint64_t)%s * (uint64_t)%s", a, b); break;
  case OP_DIV: cpu_fmt(x, sizeof x, "dlm_idiv(%s, %s, &%s)", a, b, d->bad); *checks = 1; break;
  case OP_MOD: cpu_fmt(x, sizeof x, "dlm_imod(%s, %s, &%s)", a, b, d->bad); *checks = 1; break;
  case OP_POW: cpu_fmt(x, sizeof x, "dlm_ipow(%s, %s, &%s)", a, b, d->bad); *checks = 1; break;
  case OP_MAXIMUM: cpu_fmt(x, sizeof x, "%s > %s ? %s : %s", a, b, a, b); break;
  case OP_MINIMUM: cpu_fmt(x, sizeof x, "%s < %s ? %s : %s", a, b, a, b); break;
  default: return 0;
  }
  c_wrap_int(to, x, out);
  return 1;
}
