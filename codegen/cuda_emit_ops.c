/* cuda_emit_ops.c — the CUDA kernels of each IR op (unfused, one node at a time). Elementwise,
 * broadcast, layout, gather and source ops are one thread per output element (grid-stride) with
 * explicit index arithmetic; reductions and normalizations are one 256-thread block per row with
 * block reductions (statistics in double, as on the CPU); cumsum and sort_desc are one thread per
 * row; sum_to is one thread per output element summing its preimage; scatter_add zeroes and adds
 * with atomics; float matmul rounds its operands to bf16 in scratch and calls cuBLAS (the host),
 * other matmuls are one thread per output element; attention is one block per query row with the
 * scores in shared memory. Semantics follow ir/interp*.c and the CPU kernels (cpu_emit_ops.c). */
#include "cuda_emit_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef char Strides[DLM_MAX_RANK][CPU_EXPR];
#define XL (4 * CPU_EXPR)

static const Node *N_(const Cx *c, int id) { return &c->em.f->nodes[id]; }
static const Type *T_(const Cx *c, int id) { return &c->em.f->nodes[id].type; }

static int norm_axis(int64_t axis, int rank, int *out) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return 0;
  *out = (int)axis;
  return 1;
}

static void bcast_strides(const Type *src, const Type *target, Strides st) {
  for (int d = 0; d < target->rank; d++) {
    int id = d - (target->rank - src->rank);
    if (id < 0 || (src->dims[id].k == 1 && src->dims[id].syms == 0)) snprintf(st[d], CPU_EXPR, "0");
    else cpu_prod(src, id + 1, src->rank, st[d]);
  }
}

static void lead_strides(const Type *x, const Type *out, Strides st) {
  Type t = *out;
  t.dims[t.rank - 2] = x->dims[x->rank - 2];
  t.dims[t.rank - 1] = x->dims[x->rank - 1];
  bcast_strides(x, &t, st);
}

/* int64 offsets names[j] = sum over dims [0, nd) of t of the digit of idx times st[j][d] */
static void offsets(Cx *c, const Type *t, int nd, const char *idx, int nops, const char *const *names, Strides *const *st) {
  Sb *b = c->em.b;
  for (int k = 0; k < nops; k++) sb_printf(b, "    int64_t %s = 0;\n", names[k]);
  if (nd == 0) return;
  sb_printf(b, "    {\n      int64_t t_ = %s;\n", idx);
  for (int d = nd - 1; d >= 0; d--) {
    char db[CPU_EXPR];
    cpu_dim(t->dims[d], db);
    sb_printf(b, "      { const int64_t i_ = t_ %% %s; t_ /= %s; (void)i_;", db, db);
    for (int k = 0; k < nops; k++)
      if (strcmp((*st[k])[d], "0") != 0) sb_printf(b, " %s += i_ * %s;", names[k], (*st[k])[d]);
    sb_printf(b, " }\n");
  }
  sb_printf(b, "      (void)t_;\n    }\n");
}

static void all_dims(const Type *t, Dim *d) {
  for (int i = 0; i < t->rank; i++) d[i] = t->dims[i];
}

/* open a per-element kernel over the output of node id */
static void begin_map(Cx *c, int id) {
  Dim d[DLM_MAX_RANK];
  all_dims(T_(c, id), d);
  cx_begin(c, id, CL_THREADS, T_(c, id)->rank, d);
}

/* dims of t without axis (the rows of a row kernel) */
static int row_dims(const Type *t, int axis, Dim *d) {
  int n = 0;
  for (int i = 0; i < t->rank; i++)
    if (i != axis) d[n++] = t->dims[i];
  return n;
}

static void row_consts(Cx *c, const Type *t, int axis) {
  char ou[CPU_EXPR], len[CPU_EXPR], in[CPU_EXPR];
  cpu_prod(t, 0, axis, ou);
  cpu_dim(t->dims[axis], len);
  cpu_prod(t, axis + 1, t->rank, in);
  sb_printf(c->em.b, "    const int64_t LEN_ = %s, IN_ = %s;\n    (void)LEN_;\n", len, in);
  (void)ou;
}

/* ---------------------------------------------------------------- elementwise */
static void wrap_int(DType t, const char *x, char *out) {
  if (t == DT_I32) snprintf(out, XL, "(int32_t)(uint32_t)(uint64_t)(%s)", x);
  else if (t == DT_BOOL) snprintf(out, XL, "(uint8_t)((%s) != 0)", x);
  else snprintf(out, XL, "(int64_t)(%s)", x);
}

static int elem_expr(const Node *n, DType tin, char r[][CPU_EXPR], char *out, int *checks) {
  const char *a = r[0], *b = n->nin > 1 ? r[1] : "";
  DType to = n->type.dtype;
  int fl = dtype_is_float(tin), f32 = tin != DT_F64;
  const char *sf = f32 ? "f" : "";
  char x[XL - 64]; /* room for wrap_int around it */
  *checks = 0;
  if (n->op == OP_CAST) {
    if (dtype_is_float(to)) snprintf(out, XL, "(%s)(%s)", to == DT_F64 ? "double" : "float", a);
    else if (to == DT_BOOL) snprintf(out, XL, "(uint8_t)((%s) != 0)", a);
    else if (fl) {
      snprintf(x, sizeof x, "dlm_f2i((double)(%s), %d, &bad_)", a, to == DT_I32);
      wrap_int(to, x, out);
      *checks = 1;
    } else wrap_int(to, a, out);
    return 1;
  }
  if (n->op == OP_WHERE) { snprintf(out, XL, "((%s) != 0 ? %s : %s)", a, r[1], r[2]); return 1; }
  if (fl) {
    const char *fn = NULL;
    switch (n->op) {
    case OP_NEG: snprintf(out, XL, "(-%s)", a); return 1;
    case OP_ABS: fn = f32 ? "fabsf" : "fabs"; break;
    case OP_EXP: fn = f32 ? "expf" : "exp"; break;
    case OP_LOG: fn = f32 ? "logf" : "log"; break;
    case OP_LOG1P: fn = f32 ? "log1pf" : "log1p"; break;
    case OP_EXPM1: fn = f32 ? "expm1f" : "expm1"; break;
    case OP_SQRT: fn = f32 ? "sqrtf" : "sqrt"; break;
    case OP_RSQRT: snprintf(out, XL, "(1 / sqrt%s(%s))", sf, a); return 1;
    case OP_SIN: fn = f32 ? "sinf" : "sin"; break;
    case OP_COS: fn = f32 ? "cosf" : "cos"; break;
    case OP_TANH: fn = f32 ? "tanhf" : "tanh"; break;
    case OP_SIGMOID: fn = f32 ? "dlm_sigf" : "dlm_sig"; break;
    case OP_SILU: snprintf(out, XL, "(%s * %s(%s))", a, f32 ? "dlm_sigf" : "dlm_sig", a); return 1;
    case OP_GELU_TANH: fn = f32 ? "dlm_geluf" : "dlm_gelu"; break;
    case OP_FLOOR: fn = f32 ? "floorf" : "floor"; break;
    case OP_LOG_NDTR: fn = f32 ? "dlm_log_ndtrf" : "dlm_log_ndtr"; break;
    case OP_ADD: snprintf(out, XL, "(%s + %s)", a, b); return 1;
    case OP_SUB: snprintf(out, XL, "(%s - %s)", a, b); return 1;
    case OP_MUL: snprintf(out, XL, "(%s * %s)", a, b); return 1;
    case OP_DIV: snprintf(out, XL, "(%s / %s)", a, b); return 1;
    case OP_MOD: snprintf(out, XL, "dlm_fmod%s(%s, %s)", sf, a, b); return 1;
    case OP_POW: snprintf(out, XL, "pow%s(%s, %s)", sf, a, b); return 1;
    case OP_MAXIMUM: snprintf(out, XL, "dlm_max%s(%s, %s)", sf, a, b); return 1;
    case OP_MINIMUM: snprintf(out, XL, "dlm_min%s(%s, %s)", sf, a, b); return 1;
    default: break;
    }
    if (fn) { snprintf(out, XL, "%s(%s)", fn, a); return 1; }
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
  if (cmp) { snprintf(out, XL, "(uint8_t)(%s %s %s)", a, cmp, b); return 1; }
  if (n->op == OP_AND) { snprintf(out, XL, "(uint8_t)((%s) != 0 && (%s) != 0)", a, b); return 1; }
  if (n->op == OP_OR) { snprintf(out, XL, "(uint8_t)((%s) != 0 || (%s) != 0)", a, b); return 1; }
  if (fl) return 0;
  switch (n->op) {
  case OP_NEG: snprintf(x, sizeof x, "0 - (uint64_t)%s", a); break;
  case OP_ABS: snprintf(x, sizeof x, "%s < 0 ? (int64_t)(0 - (uint64_t)%s) : (int64_t)%s", a, a, a); break;
  case OP_NOT: snprintf(out, XL, "(uint8_t)(%s == 0)", a); return 1;
  case OP_ADD: snprintf(x, sizeof x, "(uint64_t)%s + (uint64_t)%s", a, b); break;
  case OP_SUB: snprintf(x, sizeof x, "(uint64_t)%s - (uint64_t)%s", a, b); break;
  case OP_MUL: snprintf(x, sizeof x, "(uint64_t)%s * (uint64_t)%s", a, b); break;
  case OP_DIV: snprintf(x, sizeof x, "dlm_idiv(%s, %s, &bad_)", a, b); *checks = 1; break;
  case OP_MOD: snprintf(x, sizeof x, "dlm_imod(%s, %s, &bad_)", a, b); *checks = 1; break;
  case OP_POW: snprintf(x, sizeof x, "dlm_ipow(%s, %s, &bad_)", a, b); *checks = 1; break;
  case OP_MAXIMUM: snprintf(x, sizeof x, "%s > %s ? %s : %s", a, b, a, b); break;
  case OP_MINIMUM: snprintf(x, sizeof x, "%s < %s ? %s : %s", a, b, a, b); break;
  default: return 0;
  }
  wrap_int(to, x, out);
  return 1;
}

/* reads of the operands ids[] (broadcast against the output of id) at element k */
static void map_reads(Cx *c, int id, int nops, const int *ids, Strides *st, char reads[][CPU_EXPR]) {
  const Type *t = T_(c, id);
  const char *names[4] = {0};
  Strides *sts[4] = {0};
  char nb[4][16];
  int nn = 0;
  for (int j = 0; j < nops; j++) {
    if (c->em.inl[ids[j]]) continue;
    snprintf(nb[nn], sizeof nb[nn], "o%d", j);
    names[nn] = nb[nn];
    sts[nn] = &st[j];
    nn++;
  }
  offsets(c, t, t->rank, "k", nn, names, sts);
  for (int j = 0; j < nops; j++) {
    char off[16];
    snprintf(off, sizeof off, "o%d", j);
    cpu_read(&c->em, ids[j], off, reads[j]);
  }
}

int cuda_is_map(const Func *f, int id, int producer) {
  const Node *n = &f->nodes[id];
  FusionClass fc = op_info[n->op].fclass;
  if ((fc != FC_ELEMWISE && fc != FC_BROADCAST) || n->op == OP_RAND || n->op == OP_BROADCAST) return 0;
  char reads[3][CPU_EXPR], body[XL];
  int checks = 0;
  for (int j = 0; j < n->nin && j < 3; j++) snprintf(reads[j], CPU_EXPR, "x");
  if (n->nin > 3 || !elem_expr(n, f->nodes[n->in[n->op == OP_WHERE ? 1 : 0]].type.dtype, reads, body, &checks)) return 0;
  return !producer || (!checks && n->type.dtype != DT_BF16 && n->type.dtype != DT_F16);
}

/* the nodes fused into id's kernel, inputs before users, id last */
static void fused_order(const Cx *c, int id, int *order, int *n) {
  const Node *nd = N_(c, id);
  for (int j = 0; j < nd->nin; j++)
    if (c->fused[nd->in[j]]) fused_order(c, nd->in[j], order, n);
  order[(*n)++] = id;
}

/* One kernel for id and the elementwise producers fused into it: each fused node is a local value
 * f<id> computed from its operands at the same element (fused nodes have id's shape), operands in
 * buffers are read at offsets o<node>_<j> (broadcast strides against the shape). */
static int emit_elementwise(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  if (!cuda_is_map(c->em.f, id, 0)) {
    err_set(e, n->loc, "cuda: no CUDA kernel for op %s on %s values", op_info[n->op].name,
            dtype_name(T_(c, n->in[n->op == OP_WHERE ? 1 : 0])->dtype));
    return 0;
  }
  int order[CUDA_FUSE_MAX], no = 0;
  fused_order(c, id, order, &no);
  int cap = 3 * no, nops = 0, ndecl = 0;
  Strides *st = malloc((size_t)cap * sizeof *st);
  char (*nb)[24] = malloc((size_t)cap * sizeof *nb);
  const char **names = malloc((size_t)cap * sizeof *names);
  Strides **sts = malloc((size_t)cap * sizeof *sts);
  int *decl = malloc((size_t)(cap + no) * sizeof *decl);
  if (!st || !nb || !names || !sts || !decl) {
    free(st); free(nb); free(names); free(sts); free(decl);
    err_set(e, n->loc, "cuda: out of memory");
    return 0;
  }
  begin_map(c, id);
  Sb *b = c->em.b;
  /* pointers of the operands of fused nodes (id's own are declared by cx_begin) */
  decl[ndecl++] = id;
  for (int j = 0; j < n->nin; j++) decl[ndecl++] = n->in[j];
  for (int x = 0; x < no - 1; x++) {
    const Node *xn = N_(c, order[x]);
    for (int j = 0; j < xn->nin; j++) {
      int y = xn->in[j], seen = c->em.inl[y] || c->fused[y];
      for (int d = 0; d < ndecl && !seen; d++) seen = decl[d] == y;
      if (seen) continue;
      decl[ndecl++] = y;
      const char *ct = cpu_ctype(T_(c, y)->dtype);
      sb_printf(b, "    const %s *v%d = (const %s *)V[%d];\n", ct, y, ct, y);
    }
  }
  for (int x = 0; x < no; x++) {
    const Node *xn = N_(c, order[x]);
    for (int j = 0; j < xn->nin; j++) {
      int y = xn->in[j];
      if (c->em.inl[y] || c->fused[y]) continue;
      bcast_strides(T_(c, y), &xn->type, st[nops]);
      snprintf(nb[nops], sizeof nb[nops], "o%d_%d", order[x], j);
      names[nops] = nb[nops];
      sts[nops] = &st[nops];
      nops++;
    }
  }
  offsets(c, &n->type, n->type.rank, "k", nops, names, sts);
  for (int x = 0; x < no; x++) {
    const Node *xn = N_(c, order[x]);
    char reads[3][CPU_EXPR], body[XL], off[32];
    int checks;
    for (int j = 0; j < xn->nin; j++) {
      int y = xn->in[j];
      snprintf(off, sizeof off, "o%d_%d", order[x], j);
      if (c->fused[y]) snprintf(reads[j], CPU_EXPR, "f%d", y);
      else cpu_read(&c->em, y, off, reads[j]);
    }
    elem_expr(xn, T_(c, xn->in[xn->op == OP_WHERE ? 1 : 0])->dtype, reads, body, &checks);
    if (order[x] == id) sb_printf(b, "    v%d[k] = %s;\n", id, body);
    else sb_printf(b, "    const %s f%d = %s;\n", cpu_ctype(xn->type.dtype), order[x], body);
  }
  cx_end(c, id);
  free(st); free(nb); free(names); free(sts); free(decl);
  return 1;
}

static void emit_copy_map(Cx *c, int id) {
  const Node *n = N_(c, id);
  const Type *it = T_(c, n->in[0]);
  Strides st[1];
  char reads[1][CPU_EXPR];
  if (n->op == OP_TRANSPOSE)
    for (int d = 0; d < n->type.rank; d++) cpu_prod(it, (int)n->attr.i[d] + 1, it->rank, st[0][d]);
  else bcast_strides(it, &n->type, st[0]);
  begin_map(c, id);
  map_reads(c, id, 1, n->in, st, reads);
  sb_printf(c->em.b, "    v%d[k] = %s;\n", id, reads[0]);
  cx_end(c, id);
}

/* ---------------------------------------------------------------- sources */
static int emit_source(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  char x[XL];
  int axis;
  switch (n->op) {
  case OP_CONST: cpu_const_literal(n, x); break;
  case OP_IOTA: {
    char inner[CPU_EXPR], len[CPU_EXPR];
    if (!norm_axis(n->attr.i[0], n->type.rank, &axis)) { err_set(e, n->loc, "iota: axis out of range"); return 0; }
    cpu_prod(&n->type, axis + 1, n->type.rank, inner);
    cpu_dim(n->type.dims[axis], len);
    snprintf(x, sizeof x, "(%s)((k / %s) %% %s)", cpu_ctype(n->type.dtype), inner, len);
    break;
  }
  case OP_RAND: {
    char seed[CPU_EXPR], off[CPU_EXPR];
    cpu_read(&c->em, n->in[0], "0", seed);
    cpu_read(&c->em, n->in[1], "0", off);
    snprintf(x, sizeof x, "(%s)dlm_philox_u((uint64_t)%s, (uint64_t)%s, %uu, (uint64_t)k, %d)", cpu_ctype(n->type.dtype), seed,
             off, (unsigned)n->attr.i[0], n->type.dtype == DT_F64);
    break;
  }
  default: return 0;
  }
  begin_map(c, id);
  sb_printf(c->em.b, "    v%d[k] = %s;\n", id, x);
  cx_end(c, id);
  return 1;
}

/* ---------------------------------------------------------------- row kernels */
/* open a block-per-row kernel over the rows of t along axis; declares base_, LEN_, IN_ */
static void begin_rows(Cx *c, int id, const Type *t, int axis) {
  Dim d[DLM_MAX_RANK];
  int nd = row_dims(t, axis, d);
  cx_begin(c, id, CL_BLOCKS, nd, d);
  row_consts(c, t, axis);
  sb_printf(c->em.b, "    const int64_t base_ = (q / IN_) * LEN_ * IN_ + q %% IN_;\n    (void)base_;\n");
}

/* block maximum (NaN wins) of the row reads rd into double mx_ */
static void block_max(Cx *c, const char *rd) {
  sb_printf(c->em.b, "    double m_ = -INFINITY;\n    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) {\n"
                     "      const double x_ = %s;\n      m_ = isnan(m_) ? m_ : isnan(x_) ? x_ : (x_ > m_ ? x_ : m_);\n    }\n"
                     "    const double mx_ = dlm_bmax(m_);\n", rd);
}

static int emit_reduce(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *it = T_(c, n->in[0]);
  int axis;
  if (!norm_axis(n->attr.i[0], it->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  char rd[CPU_EXPR], ww[XL];
  const char *ct = cpu_ctype(n->type.dtype);
  int fl = dtype_is_float(it->dtype);
  if (!fl && n->op == OP_LOGSUMEXP) { err_set(e, n->loc, "cuda: no CUDA kernel for logsumexp on integers"); return 0; }
  Sb *b = c->em.b;
  cpu_read(&c->em, n->in[0], "base_ + j * IN_", rd);
  begin_rows(c, id, it, axis);
  if (n->op == OP_RMAX || n->op == OP_ARGMAX || n->op == OP_MEAN)
    sb_printf(b, "    if (LEN_ == 0) { bad_ = 1; break; }\n");
  switch (n->op) {
  case OP_SUM:
  case OP_MEAN:
    if (fl) {
      sb_printf(b, "    double s_ = 0;\n    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) s_ += %s;\n    s_ = dlm_bsum(s_);\n", rd);
      sb_printf(b, "    if (threadIdx.x == 0) v%d[q] = (%s)(s_%s);\n", id, ct, n->op == OP_MEAN ? " / (double)LEN_" : "");
    } else {
      sb_printf(b, "    uint64_t s_ = 0;\n    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) s_ += (uint64_t)%s;\n    s_ = dlm_bsumu(s_);\n", rd);
      if (n->op == OP_MEAN) snprintf(ww, sizeof ww, "(%s)((double)(int64_t)s_ / (double)LEN_)", ct);
      else wrap_int(n->type.dtype, "s_", ww);
      sb_printf(b, "    if (threadIdx.x == 0) v%d[q] = %s;\n", id, ww);
    }
    break;
  case OP_RMAX:
    if (fl) block_max(c, rd);
    else {
      char r0[CPU_EXPR];
      cpu_read(&c->em, n->in[0], "base_", r0);
      sb_printf(b, "    int64_t mi_ = %s;\n    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) if (%s > mi_) mi_ = %s;\n", r0, rd, rd);
      sb_printf(b, "    const int64_t mx_ = (int64_t)dlm_bmax((double)mi_);\n");
    }
    sb_printf(b, "    if (threadIdx.x == 0) v%d[q] = (%s)mx_;\n", id, ct);
    break;
  case OP_LOGSUMEXP:
    block_max(c, rd);
    sb_printf(b, "    double s_ = 0;\n    if (!isnan(mx_) && !isinf(mx_)) for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) s_ += exp(%s - mx_);\n", rd);
    sb_printf(b, "    s_ = dlm_bsum(s_);\n    if (threadIdx.x == 0) v%d[q] = (%s)(isnan(mx_) || isinf(mx_) ? mx_ : mx_ + log(s_));\n", id, ct);
    break;
  case OP_ARGMAX:
    sb_printf(b, "    double bx_ = 0;\n    int bn_ = 0;\n    int64_t bp_ = -1;\n");
    sb_printf(b, "    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) {\n      const double x_ = (double)%s;\n      const int n_ = %s;\n",
              rd, fl ? "isnan(x_)" : "0");
    sb_printf(b, "      if (bp_ < 0 || (n_ && !bn_) || (!bn_ && !n_ && x_ > bx_)) { bx_ = x_; bn_ = n_; bp_ = j; }\n    }\n");
    sb_printf(b, "    const int64_t best_ = dlm_bargmax(bx_, bn_, bp_);\n    if (threadIdx.x == 0) v%d[q] = (%s)best_;\n", id, ct);
    break;
  default: return 0;
  }
  cx_end(c, id);
  return 1;
}

static int emit_softmax(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *it = T_(c, n->in[0]);
  int axis;
  if (!norm_axis(n->attr.i[0], it->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  char rd[CPU_EXPR];
  const char *ct = cpu_ctype(n->type.dtype), *ex = n->type.dtype == DT_F64 ? "exp" : "expf";
  Sb *b = c->em.b;
  cpu_read(&c->em, n->in[0], "base_ + j * IN_", rd);
  begin_rows(c, id, it, axis);
  block_max(c, rd);
  sb_printf(b, "    double s_ = 0;\n    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) s_ += %s((%s)(%s - mx_));\n    s_ = dlm_bsum(s_);\n",
            ex, ct, rd);
  if (n->op == OP_SOFTMAX)
    sb_printf(b, "    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) v%d[base_ + j * IN_] = (%s)(%s((%s)(%s - mx_)) / s_);\n", id,
              ct, ex, ct, rd);
  else
    sb_printf(b, "    const double ls_ = log(s_);\n    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) v%d[base_ + j * IN_] = (%s)((%s - mx_) - ls_);\n",
              id, ct, rd);
  cx_end(c, id);
  return 1;
}

static int emit_layer_norm(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *it = T_(c, n->in[0]);
  if (it->rank == 0) { err_set(e, n->loc, "layer_norm: needs an input of rank >= 1"); return 0; }
  char rd[CPU_EXPR];
  Sb *b = c->em.b;
  cpu_read(&c->em, n->in[0], "base_ + j * IN_", rd);
  begin_rows(c, id, it, it->rank - 1);
  sb_printf(b, "    double s_ = 0, v_ = 0;\n    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) s_ += %s;\n", rd);
  sb_printf(b, "    const double mean_ = dlm_bsum(s_) / (double)LEN_;\n");
  sb_printf(b, "    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) { const double d_ = %s - mean_; v_ += d_ * d_; }\n", rd);
  sb_printf(b, "    const double inv_ = 1 / sqrt(dlm_bsum(v_) / (double)LEN_ + %.17g);\n", n->attr.f[0]);
  sb_printf(b, "    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) v%d[base_ + j * IN_] = (%s)((%s - mean_) * inv_);\n", id,
            cpu_ctype(n->type.dtype), rd);
  cx_end(c, id);
  return 1;
}

/* one thread per row: cumsum and sort_desc */
static void begin_row_threads(Cx *c, int id, const Type *t, int axis) {
  Dim d[DLM_MAX_RANK];
  int nd = row_dims(t, axis, d);
  cx_begin(c, id, CL_THREADS, nd, d);
  row_consts(c, t, axis);
  sb_printf(c->em.b, "    const int64_t base_ = (k / IN_) * LEN_ * IN_ + k %% IN_;\n");
}

static int emit_cumsum(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *it = T_(c, n->in[0]);
  int axis;
  if (!norm_axis(n->attr.i[0], it->rank, &axis)) { err_set(e, n->loc, "cumsum: axis out of range"); return 0; }
  char rd[CPU_EXPR], ww[XL];
  cpu_read(&c->em, n->in[0], "base_ + j * IN_", rd);
  begin_row_threads(c, id, it, axis);
  if (dtype_is_float(it->dtype))
    sb_printf(c->em.b, "    double s_ = 0;\n    for (int64_t j = 0; j < LEN_; j++) { s_ += %s; v%d[base_ + j * IN_] = (%s)s_; }\n", rd, id,
              cpu_ctype(n->type.dtype));
  else {
    wrap_int(n->type.dtype, "s_", ww);
    sb_printf(c->em.b, "    uint64_t s_ = 0;\n    for (int64_t j = 0; j < LEN_; j++) { s_ += (uint64_t)%s; v%d[base_ + j * IN_] = %s; }\n", rd,
              id, ww);
  }
  cx_end(c, id);
  return 1;
}

/* stable bottom-up merge sort of each row's positions (descending, NaN first) in scratch */
static int emit_sort(Cx *c, int id) {
  const Node *n = N_(c, id);
  const Type *it = T_(c, n->in[0]);
  int in = n->in[0], fl = dtype_is_float(it->dtype);
  begin_row_threads(c, id, it, it->rank - 1);
  Sb *b = c->em.b;
  char bef[XL];
  if (fl) snprintf(bef, sizeof bef, "(isnan(x_[u_]) ? !isnan(x_[p_]) : x_[u_] > x_[p_])");
  else snprintf(bef, sizeof bef, "(x_[u_] > x_[p_])");
  sb_printf(b, "    const %s *x_ = v%d + base_;\n    int64_t *ix_ = (int64_t *)w_ + 2 * base_, *tm_ = ix_ + LEN_;\n", cpu_ctype(it->dtype), in);
  sb_printf(b, "    for (int64_t j = 0; j < LEN_; j++) ix_[j] = j;\n");
  sb_printf(b, "    for (int64_t w = 1; w < LEN_; w *= 2) {\n      for (int64_t lo = 0; lo < LEN_; lo += 2 * w) {\n");
  sb_printf(b, "        int64_t mid = lo + w < LEN_ ? lo + w : LEN_, hi = lo + 2 * w < LEN_ ? lo + 2 * w : LEN_, p = lo, r = mid, t = lo;\n");
  sb_printf(b, "        while (p < mid && r < hi) { const int64_t u_ = ix_[r], p_ = ix_[p]; if %s { tm_[t++] = u_; r++; } else { tm_[t++] = p_; p++; } }\n", bef);
  sb_printf(b, "        while (p < mid) tm_[t++] = ix_[p++];\n        while (r < hi) tm_[t++] = ix_[r++];\n      }\n");
  sb_printf(b, "      for (int64_t j = 0; j < LEN_; j++) ix_[j] = tm_[j];\n    }\n");
  sb_printf(b, "    for (int64_t j = 0; j < LEN_; j++) v%d[base_ + j] = x_[ix_[j]];\n", id);
  cx_end(c, id);
  return 1;
}

/* ---------------------------------------------------------------- accumulations */
static void emit_sum_to(Cx *c, int id) {
  const Node *n = N_(c, id);
  const Type *it = T_(c, n->in[0]), *ot = &n->type;
  Sb *b = c->em.b;
  /* input dim d is kept (read at the output digit) or reduced (looped) */
  int kept[DLM_MAX_RANK], nred = 0;
  Dim red[DLM_MAX_RANK];
  for (int d = 0; d < it->rank; d++) {
    int od = d - (it->rank - ot->rank);
    kept[d] = od >= 0 && !(ot->dims[od].k == 1 && ot->dims[od].syms == 0 && !(it->dims[d].k == 1 && it->dims[d].syms == 0));
    if (!kept[d]) red[nred++] = it->dims[d];
  }
  Type rt;
  memset(&rt, 0, sizeof rt);
  rt.rank = nred;
  for (int d = 0; d < nred; d++) rt.dims[d] = red[d];
  char rn[CPU_EXPR], rd[CPU_EXPR];
  cpu_prod(&rt, 0, nred, rn);
  begin_map(c, id);
  /* the input offset of the kept digits */
  Strides st[1];
  for (int od = 0; od < ot->rank; od++) {
    int d = od + (it->rank - ot->rank);
    if (d >= 0 && kept[d]) cpu_prod(it, d + 1, it->rank, st[0][od]);
    else snprintf(st[0][od], CPU_EXPR, "0");
  }
  const char *nm[1] = {"ob_"};
  Strides *sp[1] = {&st[0]};
  offsets(c, ot, ot->rank, "k", 1, nm, sp);
  int fl = dtype_is_float(ot->dtype);
  sb_printf(b, "    %s acc_ = 0;\n    for (int64_t r_ = 0; r_ < %s; r_++) {\n      int64_t t2_ = r_, oi_ = ob_;\n", fl ? "double" : "uint64_t", rn);
  for (int d = it->rank - 1, rr = nred - 1; d >= 0; d--) {
    if (kept[d]) continue;
    char db[CPU_EXPR], sd[CPU_EXPR];
    cpu_dim(red[rr--], db);
    cpu_prod(it, d + 1, it->rank, sd);
    sb_printf(b, "      oi_ += (t2_ %% %s) * %s; t2_ /= %s;\n", db, sd, db);
  }
  cpu_read(&c->em, n->in[0], "oi_", rd);
  sb_printf(b, "      (void)t2_;\n      acc_ += (%s)%s;\n    }\n", fl ? "double" : "uint64_t", rd);
  char ww[XL];
  if (fl) snprintf(ww, sizeof ww, "(%s)acc_", cpu_ctype(ot->dtype));
  else wrap_int(ot->dtype, "acc_", ww);
  sb_printf(b, "    v%d[k] = %s;\n", id, ww);
  cx_end(c, id);
}

static int emit_scatter_add(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *ix = T_(c, n->in[1]);
  DType dt = n->type.dtype;
  const char *at = dt == DT_F64 ? "double" : cpu_is_floatish(dt) ? "float" : dt == DT_I64 ? "unsigned long long" : dt == DT_I32 ? "int" : NULL;
  if (!at) { err_set(e, n->loc, "cuda: no CUDA kernel for scatter_add on %s values", dtype_name(dt)); return 0; }
  begin_map(c, id);
  sb_printf(c->em.b, "    v%d[k] = 0;\n", id);
  cx_end(c, id);
  char rows[CPU_EXPR], row[CPU_EXPR], ri[CPU_EXPR], rs[CPU_EXPR];
  cpu_dim(n->type.dims[0], rows);
  cpu_prod(&n->type, 1, n->type.rank, row);
  cpu_read(&c->em, n->in[1], "k / ROW_", ri);
  cpu_read(&c->em, n->in[0], "k", rs);
  Dim d[2 * DLM_MAX_RANK];
  int nd = 0;
  for (int i = 0; i < ix->rank; i++) d[nd++] = ix->dims[i];
  for (int i = 1; i < n->type.rank; i++) d[nd++] = n->type.dims[i];
  cx_begin(c, id, CL_THREADS, nd, d);
  sb_printf(c->em.b, "    const int64_t ROWS_ = %s, ROW_ = %s;\n    const int64_t r_ = (int64_t)%s;\n", rows, row, ri);
  sb_printf(c->em.b, "    if (r_ < 0 || r_ >= ROWS_) { bad_ = 1; continue; }\n");
  sb_printf(c->em.b, "    atomicAdd((%s *)&v%d[r_ * ROW_ + k %% ROW_], (%s)%s);\n", at, id, at, rs);
  cx_end(c, id);
  return 1;
}

/* ---------------------------------------------------------------- layout */
static int emit_layout(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  int axis;
  if (!norm_axis(n->attr.i[0], n->type.rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  if (n->op == OP_SLICE && n->attr.i[3] < 1) { err_set(e, n->loc, "slice: step must be >= 1"); return 0; }
  char olen[CPU_EXPR], in[CPU_EXPR], rd[CPU_EXPR];
  cpu_dim(n->type.dims[axis], olen);
  cpu_prod(&n->type, axis + 1, n->type.rank, in);
  begin_map(c, id);
  Sb *b = c->em.b;
  sb_printf(b, "    const int64_t IN_ = %s, OLEN_ = %s, i_ = k %% IN_, jj_ = (k / IN_) %% OLEN_, o_ = k / IN_ / OLEN_;\n", in, olen);
  if (n->op == OP_SLICE) {
    char len[CPU_EXPR];
    cpu_dim(T_(c, n->in[0])->dims[axis], len);
    cpu_read(&c->em, n->in[0], "(o_ * LEN_ + ST_ + jj_ * SP_) * IN_ + i_", rd);
    sb_printf(b, "    const int64_t LEN_ = %s, ST_ = %lld, SP_ = %lld;\n    v%d[k] = %s;\n", len, (long long)n->attr.i[1],
              (long long)n->attr.i[3], id, rd);
  } else {
    /* pad / concat: the input whose range along the axis holds jj_ */
    char at[CPU_EXPR] = "0";
    if (n->op == OP_PAD) snprintf(at, sizeof at, "%lld", (long long)n->attr.i[1]);
    sb_printf(b, "    ");
    for (int j = 0; j < n->nin; j++) {
      char len[CPU_EXPR], nx[3 * CPU_EXPR], off[3 * CPU_EXPR];
      cpu_dim(T_(c, n->in[j])->dims[axis], len);
      snprintf(off, sizeof off, "(o_ * %s + (jj_ - (%s))) * IN_ + i_", len, at);
      cpu_read(&c->em, n->in[j], off, rd);
      sb_printf(b, "if (jj_ >= %s && jj_ < %s + %s) v%d[k] = %s;\n    else ", at, at, len, id, rd);
      snprintf(nx, sizeof nx, "%s + %s", at, len);
      if (strlen(nx) >= CPU_EXPR) { err_set(e, n->loc, "concat: too many inputs for the CUDA backend"); return 0; }
      memcpy(at, nx, strlen(nx) + 1);
    }
    sb_printf(b, "v%d[k] = 0;\n", id);
  }
  cx_end(c, id);
  return 1;
}

static void emit_gather(Cx *c, int id) {
  const Node *n = N_(c, id);
  const Type *tt = T_(c, n->in[0]);
  char rows[CPU_EXPR], row[CPU_EXPR], ri[CPU_EXPR], rt[CPU_EXPR];
  cpu_dim(tt->dims[0], rows);
  cpu_prod(tt, 1, tt->rank, row);
  cpu_read(&c->em, n->in[1], "k / ROW_", ri);
  cpu_read(&c->em, n->in[0], "r_ * ROW_ + k % ROW_", rt);
  begin_map(c, id);
  sb_printf(c->em.b, "    const int64_t ROWS_ = %s, ROW_ = %s;\n    const int64_t r_ = (int64_t)%s;\n", rows, row, ri);
  sb_printf(c->em.b, "    if (r_ < 0 || r_ >= ROWS_) { bad_ = 1; continue; }\n    v%d[k] = %s;\n", id, rt);
  cx_end(c, id);
}

static void emit_take(Cx *c, int id) {
  const Node *n = N_(c, id);
  const Type *xt = T_(c, n->in[0]);
  char nx[CPU_EXPR], kk[CPU_EXPR], ri[CPU_EXPR], rx[CPU_EXPR];
  cpu_dim(xt->dims[xt->rank - 1], nx);
  cpu_dim(n->type.dims[n->type.rank - 1], kk);
  cpu_read(&c->em, n->in[1], "k", ri);
  cpu_read(&c->em, n->in[0], "(k / KK_) * NX_ + p_", rx);
  begin_map(c, id);
  sb_printf(c->em.b, "    const int64_t NX_ = %s, KK_ = %s;\n    const int64_t p_ = (int64_t)%s;\n", nx, kk, ri);
  sb_printf(c->em.b, "    if (p_ < 0 || p_ >= NX_) { bad_ = 1; continue; }\n    v%d[k] = %s;\n", id, rx);
  cx_end(c, id);
}

/* ---------------------------------------------------------------- contractions */
static void emit_matmul(Cx *c, int id) {
  const Node *n = N_(c, id);
  int a = n->in[0], bb = n->in[1];
  const Type *at = T_(c, a), *bt = T_(c, bb), *ot = &n->type;
  int ta = n->attr.i[0] != 0, tb = n->attr.i[1] != 0, r = ot->rank;
  Sb *b = c->em.b;
  if (cpu_is_floatish(ot->dtype)) {
    /* operands rounded to bf16 into scratch: A at 0, B after A (256-byte aligned), then cuBLAS */
    char na[CPU_EXPR];
    cpu_prod(at, 0, at->rank, na);
    Dim d[DLM_MAX_RANK];
    all_dims(at, d);
    cx_begin(c, id, CL_THREADS, at->rank, d);
    sb_printf(b, "    ((uint16_t *)w_)[k] = dlm_bf16bits(v%d[k]);\n", a);
    cx_end(c, id);
    all_dims(bt, d);
    cx_begin(c, id, CL_THREADS, bt->rank, d);
    sb_printf(b, "    ((uint16_t *)((char *)w_ + ((%s * 2 + 255) / 256) * 256))[k] = dlm_bf16bits(v%d[k]);\n", na, bb);
    cx_end(c, id);
    cx_gemm(c, id);
    return;
  }
  Strides sa, sb;
  lead_strides(at, ot, sa);
  lead_strides(bt, ot, sb);
  char M[CPU_EXPR], N[CPU_EXPR], K[CPU_EXPR], ww[XL];
  cpu_dim(ot->dims[r - 2], M);
  cpu_dim(ot->dims[r - 1], N);
  cpu_dim(at->dims[at->rank - (ta ? 2 : 1)], K);
  int fl = ot->dtype == DT_F64;
  begin_map(c, id);
  sb_printf(b, "    const int64_t M_ = %s, N_ = %s, K_ = %s, bt_ = k / (M_ * N_), i = (k / N_) %% M_, j = k %% N_;\n", M, N, K);
  const char *names[2] = {"oa_", "ob_"};
  Strides *sts[2] = {&sa, &sb};
  offsets(c, ot, r - 2, "bt_", 2, names, sts);
  sb_printf(b, "    %s s_ = 0;\n", fl ? "double" : "uint64_t");
  sb_printf(b, "    for (int64_t p = 0; p < K_; p++) s_ += (%s)v%d[oa_ + i * %s + p * %s] * (%s)v%d[ob_ + p * %s + j * %s];\n",
            fl ? "double" : "uint64_t", a, ta ? sa[r - 1] : sa[r - 2], ta ? sa[r - 2] : sa[r - 1], fl ? "double" : "uint64_t", bb,
            tb ? sb[r - 1] : sb[r - 2], tb ? sb[r - 2] : sb[r - 1]);
  if (fl) snprintf(ww, sizeof ww, "s_");
  else wrap_int(ot->dtype, "s_", ww);
  sb_printf(b, "    v%d[k] = %s;\n", id, ww);
  cx_end(c, id);
}

static void emit_attention(Cx *c, int id) {
  const Node *n = N_(c, id);
  const Type *ot = &n->type;
  int q = n->in[0], k = n->in[1], v = n->in[2], mask = n->nin == 4 ? n->in[3] : -1, r = ot->rank;
  const Type *qt = T_(c, q), *kt = T_(c, k), *vt = T_(c, v);
  Strides sq, sk, sv, sm;
  lead_strides(qt, ot, sq);
  lead_strides(kt, ot, sk);
  lead_strides(vt, ot, sv);
  if (mask >= 0) {
    Type scores = *ot;
    scores.dims[r - 2] = qt->dims[qt->rank - 2];
    scores.dims[r - 1] = kt->dims[kt->rank - 2];
    bcast_strides(T_(c, mask), &scores, sm);
  }
  char LQ[CPU_EXPR], LK[CPU_EXPR], D[CPU_EXPR], DV[CPU_EXPR], rm[XL];
  cpu_dim(qt->dims[qt->rank - 2], LQ);
  cpu_dim(kt->dims[kt->rank - 2], LK);
  cpu_dim(qt->dims[qt->rank - 1], D);
  cpu_dim(vt->dims[vt->rank - 1], DV);
  const char *ct = cpu_ctype(ot->dtype);
  Dim d[DLM_MAX_RANK];
  for (int i = 0; i < r - 1; i++) d[i] = ot->dims[i];
  cx_begin(c, id, CL_ATTN, r - 1, d);
  c->u->launch[c->u->nlaunch - 1].shmem_dim = kt->dims[kt->rank - 2];
  Sb *b = c->em.b;
  sb_printf(b, "    extern __shared__ float p_[];\n");
  sb_printf(b, "    const int64_t LQ_ = %s, LK_ = %s, D_ = %s, DV_ = %s, bt = q / LQ_, i = q %% LQ_;\n    const double SC_ = %.17g;\n", LQ,
            LK, D, DV, n->attr.f[0]);
  const char *names[4] = {"oq_", "ok_", "ov_", "om_"};
  Strides *sts[4] = {&sq, &sk, &sv, &sm};
  offsets(c, ot, r - 2, "bt", mask >= 0 && !c->em.inl[mask] ? 4 : 3, names, sts);
  if (mask >= 0) {
    char off[3 * CPU_EXPR];
    snprintf(off, sizeof off, "om_ + i * %s + j * %s", sm[r - 2], sm[r - 1]);
    cpu_read(&c->em, mask, off, rm);
  } else snprintf(rm, sizeof rm, "1");
  /* scores (masked: -inf marker via NaN-free flag), row max */
  sb_printf(b, "    double m_ = -INFINITY;\n    int any_ = 0;\n");
  sb_printf(b, "    for (int64_t j = threadIdx.x; j < LK_; j += blockDim.x) {\n      if ((%s) == 0) { p_[j] = -INFINITY; continue; }\n", rm);
  sb_printf(b, "      %s s_ = 0;\n      for (int64_t d = 0; d < D_; d++) s_ += v%d[oq_ + i * %s + d * %s] * v%d[ok_ + j * %s + d * %s];\n", ct, q,
            sq[r - 2], sq[r - 1], k, sk[r - 2], sk[r - 1]);
  sb_printf(b, "      s_ *= (%s)SC_;\n      p_[j] = (float)s_;\n      any_ = 1;\n      const double x_ = (double)s_;\n      m_ = isnan(m_) ? m_ : isnan(x_) ? x_ : (x_ > m_ ? x_ : m_);\n    }\n", ct);
  sb_printf(b, "    const double mx_ = dlm_bmax(m_);\n    const int anyb_ = dlm_bsum((double)any_) > 0;\n");
  sb_printf(b, "    double s2_ = 0;\n    for (int64_t j = threadIdx.x; j < LK_; j += blockDim.x) {\n");
  sb_printf(b, "      const float e_ = p_[j] == -INFINITY ? 0.0f : expf((float)(p_[j] - mx_));\n      p_[j] = e_;\n      s2_ += e_;\n    }\n");
  sb_printf(b, "    s2_ = dlm_bsum(s2_);\n");
  sb_printf(b, "    for (int64_t d = threadIdx.x; d < DV_; d += blockDim.x) {\n      double a_ = 0;\n");
  sb_printf(b, "      for (int64_t j = 0; j < LK_; j++) if (p_[j] != 0) a_ += (double)p_[j] * v%d[ov_ + j * %s + d * %s];\n", v, sv[r - 2], sv[r - 1]);
  sb_printf(b, "      v%d[q * DV_ + d] = anyb_ ? (%s)(a_ / s2_) : (%s)0;\n    }\n    __syncthreads();\n", id, ct, ct);
  cx_end(c, id);
}

/* ---------------------------------------------------------------- dispatch */
int cuda_op_needs_buffers(OpKind op) {
  return op == OP_RESHAPE || op == OP_MATMUL || op == OP_ATTENTION || op == OP_SORT_DESC;
}

int cuda_emit_kernel(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  switch (n->op) {
  case OP_CONST:
  case OP_IOTA:
  case OP_RAND: return emit_source(c, id, e);
  case OP_BROADCAST:
  case OP_TRANSPOSE: emit_copy_map(c, id); return 1;
  case OP_SUM:
  case OP_MEAN:
  case OP_RMAX:
  case OP_LOGSUMEXP:
  case OP_ARGMAX: return emit_reduce(c, id, e);
  case OP_SUM_TO: emit_sum_to(c, id); return 1;
  case OP_SOFTMAX:
  case OP_LOG_SOFTMAX: return emit_softmax(c, id, e);
  case OP_LAYER_NORM: return emit_layer_norm(c, id, e);
  case OP_CUMSUM: return emit_cumsum(c, id, e);
  case OP_SORT_DESC: return emit_sort(c, id);
  case OP_SLICE:
  case OP_PAD:
  case OP_CONCAT: return emit_layout(c, id, e);
  case OP_GATHER: emit_gather(c, id); return 1;
  case OP_TAKE: emit_take(c, id); return 1;
  case OP_SCATTER_ADD: return emit_scatter_add(c, id, e);
  case OP_MATMUL: emit_matmul(c, id); return 1;
  case OP_ATTENTION: emit_attention(c, id); return 1;
  default: break;
  }
  if (op_info[n->op].fclass == FC_ELEMWISE || op_info[n->op].fclass == FC_BROADCAST) return emit_elementwise(c, id, e);
  err_set(e, n->loc, "cuda: no CUDA kernel for op %s", op_info[n->op].name);
  return 0;
}
