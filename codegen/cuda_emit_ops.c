/* cuda_emit_ops.c — the CUDA kernels of each IR op and the values computed inside other kernels
 * (fusion). A fused node (see cuda_emit.c) has no buffer: wherever a kernel reads it, val_at emits
 * the statements that compute it at that flat index from its own operands (recursively), so
 * elementwise maps, broadcasts, transposes, reshapes, slices, pads, concats and iotas become index
 * expressions inside their readers: elementwise kernels, row reductions (sum/mean/max/logsumexp/
 * argmax, softmax, layer_norm: one 256-thread block per row, statistics in double as on the CPU),
 * cumsum, sum_to, gather/take/scatter_add, the operand kernels of cuBLAS matrix products (which
 * round the fused operand to bf16, or copy it in fp32 mode) and attention. Attention is one
 * flash-attention-style kernel per query row (online softmax over tiles of CUDA_ATT_TILE keys; a
 * tile whose keys are all masked is skipped before any dot product); its mask is read through
 * val_at, so a mask built from iota/compare/const is an index expression, not a tensor.
 * Semantics follow ir/interp*.c and the CPU kernels (cpu_emit_ops.c). Every kernel is correct for
 * any power-of-two blockDim up to 256 (the emulation runs them with 1 and with 4 threads). */
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

static int same_dims(const Type *a, const Type *b) {
  if (a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (!dim_eq(a->dims[d], b->dims[d])) return 0;
  return 1;
}

static void bcast_strides(const Type *src, const Type *target, Strides st) {
  for (int d = 0; d < target->rank; d++) {
    int id = d - (target->rank - src->rank);
    if (id < 0 || (src->dims[id].k == 1 && src->dims[id].syms == 0)) cpu_fmt(st[d], CPU_EXPR, "0");
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

/* a fresh local name: prefix, number, "z" (no fixed name of the kernels ends in z) */
static void tmp_name(Cx *c, const char *pfx, char *out) { cpu_fmt(out, 32, "%s%dz", pfx, c->tmp++); }

/* a fresh int64 variable holding the index expression idx (its name into out) */
static void index_var(Cx *c, const char *idx, char *out) {
  tmp_name(c, "x", out);
  sb_printf(c->em.b, "    const int64_t %s = %s;\n", out, idx);
}

/* the flat index into a value of type t at the element with flat index x of a value of type over,
 * through strides st (one per dim of over) */
static void index_by_strides(Cx *c, const Type *over, Strides *st, const char *x, char *out) {
  tmp_name(c, "o", out);
  const char *names[1] = {out};
  Strides *sts[1] = {st};
  offsets(c, over, over->rank, x, 1, names, sts);
}

/* the flat index into operand type it broadcast against ot, at ot's flat index x */
static void bcast_index(Cx *c, const Type *it, const Type *ot, const char *x, char *out) {
  if (same_dims(it, ot)) { cpu_fmt(out, 32, "%s", x); return; }
  Strides st;
  bcast_strides(it, ot, st);
  int all0 = 1;
  for (int d = 0; d < ot->rank; d++) all0 &= strcmp(st[d], "0") == 0;
  if (all0) { cpu_fmt(out, 32, "0"); return; } /* a broadcast scalar */
  index_by_strides(c, ot, &st, x, out);
}

/* ---------------------------------------------------------------- elementwise */
int cuda_is_map(const Func *f, int id, int producer) {
  const Node *n = &f->nodes[id];
  FusionClass fc = op_info[n->op].fclass;
  if ((fc != FC_ELEMWISE && fc != FC_BROADCAST) || n->op == OP_RAND || n->op == OP_BROADCAST) return 0;
  char reads[3][CPU_EXPR], body[XL];
  int checks = 0;
  for (int j = 0; j < n->nin && j < 3; j++) cpu_fmt(reads[j], CPU_EXPR, "x");
  if (n->nin > 3 || !c_elem_expr(&cuda_c_dialect, n, f->nodes[n->in[n->op == OP_WHERE ? 1 : 0]].type.dtype, reads, body, &checks)) return 0;
  /* integer division or modulo by a nonzero constant cannot fail */
  if (checks && (n->op == OP_DIV || n->op == OP_MOD) && f->nodes[n->in[1]].op == OP_CONST && f->nodes[n->in[1]].attr.f[0] != 0) checks = 0;
  return !producer || (!checks && n->type.dtype != DT_BF16 && n->type.dtype != DT_F16);
}

/* ---------------------------------------------------------------- values at an index */
static int node_value(Cx *c, int id, const char *x, char *out, DlmErr *e);

/* the value of id at its flat index x (an int64 variable or literal): a buffer read, a literal,
 * or (for a fused node) the statements computing it and the name of the result */
static int val_at(Cx *c, int id, const char *x, char *out, DlmErr *e) {
  if (c->has_sub[id]) { cpu_fmt(out, CPU_EXPR, "%s", c->sub[id]); return 1; }
  if (c->fused[id]) return node_value(c, id, x, out, e);
  cpu_read(&c->em, id, x, out);
  return 1;
}

/* val_at at an index expression (bound to a fresh variable first) */
static int read_at(Cx *c, int id, const char *idx, char *out, DlmErr *e) {
  if (!c->fused[id] || c->has_sub[id]) return val_at(c, id, idx, out, e);
  char x[32];
  index_var(c, idx, x);
  return node_value(c, id, x, out, e);
}

/* pad / concat along axis: the input whose range along the axis holds the digit, else 0 */
static int layout_value(Cx *c, int id, int axis, const char *x, char *out, DlmErr *e) {
  const Node *n = N_(c, id);
  Sb *b = c->em.b;
  char olen[CPU_EXPR], in[CPU_EXPR], ii[32], jj[32], oo[32];
  cpu_dim(n->type.dims[axis], olen);
  cpu_prod(&n->type, axis + 1, n->type.rank, in);
  tmp_name(c, "i", ii);
  tmp_name(c, "j", jj);
  tmp_name(c, "h", oo);
  tmp_name(c, "t", out);
  sb_printf(b, "    const int64_t %s = %s %% %s, %s = (%s / %s) %% %s, %s = %s / %s / %s;\n    %s %s;\n", ii, x, in, jj, x, in, olen, oo, x,
            in, olen, cpu_ctype(n->type.dtype), out);
  char at[CPU_EXPR] = "0";
  if (n->op == OP_PAD) cpu_fmt(at, sizeof at, "%lld", (long long)n->attr.i[1]);
  for (int j = 0; j < n->nin; j++) {
    char len[CPU_EXPR], nx[3 * CPU_EXPR], off[3 * CPU_EXPR], rd[CPU_EXPR];
    cpu_dim(T_(c, n->in[j])->dims[axis], len);
    cpu_fmt(off, sizeof off, "(%s * %s + (%s - (%s))) * %s + %s", oo, len, jj, at, in, ii);
    sb_printf(b, "    %sif (%s >= %s && %s < %s + %s) {\n", j ? "else " : "", jj, at, jj, at, len);
    if (!read_at(c, n->in[j], off, rd, e)) return 0;
    sb_printf(b, "    %s = %s;\n    }\n", out, rd);
    cpu_fmt(nx, sizeof nx, "%s + %s", at, len);
    if (strlen(nx) >= CPU_EXPR) { err_set(e, n->loc, "concat: too many inputs for the CUDA backend"); return 0; }
    memcpy(at, nx, strlen(nx) + 1);
  }
  sb_printf(b, "    %s%s = 0;\n", n->nin ? "else " : "", out);
  return 1;
}

static int node_value(Cx *c, int id, const char *x, char *out, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *t = &n->type;
  Sb *b = c->em.b;
  char ix[32];
  int axis;
  switch (n->op) {
  case OP_CONST: cpu_const_literal(n, out); return 1;
  case OP_IOTA: {
    char inner[CPU_EXPR], len[CPU_EXPR];
    if (!norm_axis(n->attr.i[0], t->rank, &axis)) { err_set(e, n->loc, "iota: axis out of range"); return 0; }
    cpu_prod(t, axis + 1, t->rank, inner);
    cpu_dim(t->dims[axis], len);
    cpu_fmt(out, CPU_EXPR, "((%s)((%s / %s) %% %s))", cpu_ctype(t->dtype), x, inner, len);
    return 1;
  }
  case OP_RAND: {
    char seed[CPU_EXPR], off[CPU_EXPR];
    if (!val_at(c, n->in[0], "0", seed, e) || !val_at(c, n->in[1], "0", off, e)) return 0;
    tmp_name(c, "t", out);
    sb_printf(b, "    const %s %s = (%s)dlm_philox_u((uint64_t)%s, (uint64_t)%s, %uu, (uint64_t)%s, %d);\n", cpu_ctype(t->dtype), out,
              cpu_ctype(t->dtype), seed, off, (unsigned)n->attr.i[0], x, t->dtype == DT_F64);
    return 1;
  }
  case OP_RESHAPE: return val_at(c, n->in[0], x, out, e);
  case OP_BROADCAST: bcast_index(c, T_(c, n->in[0]), t, x, ix); return val_at(c, n->in[0], ix, out, e);
  case OP_TRANSPOSE: {
    const Type *it = T_(c, n->in[0]);
    Strides st;
    for (int d = 0; d < t->rank; d++) cpu_prod(it, (int)n->attr.i[d] + 1, it->rank, st[d]);
    index_by_strides(c, t, &st, x, ix);
    return val_at(c, n->in[0], ix, out, e);
  }
  case OP_SLICE: {
    if (!norm_axis(n->attr.i[0], t->rank, &axis)) { err_set(e, n->loc, "slice: axis out of range"); return 0; }
    if (n->attr.i[3] < 1) { err_set(e, n->loc, "slice: step must be >= 1"); return 0; }
    char olen[CPU_EXPR], in[CPU_EXPR], len[CPU_EXPR], idx[6 * CPU_EXPR];
    cpu_dim(t->dims[axis], olen);
    cpu_prod(t, axis + 1, t->rank, in);
    cpu_dim(T_(c, n->in[0])->dims[axis], len);
    cpu_fmt(idx, sizeof idx, "((%s / %s / %s) * %s + %lld + ((%s / %s) %% %s) * %lld) * %s + %s %% %s", x, in, olen, len,
             (long long)n->attr.i[1], x, in, olen, (long long)n->attr.i[3], in, x, in);
    index_var(c, idx, ix);
    return val_at(c, n->in[0], ix, out, e);
  }
  case OP_PAD:
  case OP_CONCAT:
    if (!norm_axis(n->attr.i[0], t->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
    return layout_value(c, id, axis, x, out, e);
  default: break;
  }
  if (!cuda_is_map(c->em.f, id, 0)) {
    err_set(e, n->loc, "cuda: no CUDA kernel for op %s on %s values", op_info[n->op].name,
            dtype_name(T_(c, n->in[n->op == OP_WHERE ? 1 : 0])->dtype));
    return 0;
  }
  char reads[3][CPU_EXPR], body[XL], idx[3][32];
  int checks;
  for (int j = 0; j < n->nin; j++) {
    bcast_index(c, T_(c, n->in[j]), t, x, idx[j]);
    if (!val_at(c, n->in[j], idx[j], reads[j], e)) return 0;
  }
  c_elem_expr(&cuda_c_dialect, n, T_(c, n->in[n->op == OP_WHERE ? 1 : 0])->dtype, reads, body, &checks);
  tmp_name(c, "t", out);
  sb_printf(b, "    const %s %s = %s;\n", cpu_ctype(t->dtype), out, body);
  return 1;
}

int cuda_exprable(const Func *f, int id) {
  const Node *n = &f->nodes[id];
  if (n->type.dtype == DT_BF16 || n->type.dtype == DT_F16) return 0;
  switch (n->op) {
  case OP_RESHAPE: case OP_BROADCAST: case OP_TRANSPOSE: case OP_SLICE: case OP_PAD: case OP_CONCAT: case OP_IOTA: return 1;
  default: return cuda_is_map(f, id, 1);
  }
}

int cuda_accepts(const Func *f, int id, int j) {
  const Node *n = &f->nodes[id];
  switch (n->op) {
  case OP_SORT_DESC: return 0;   /* reads its row through a pointer */
  case OP_RESHAPE: return 0;     /* an alias of its input's buffer unless it is fused itself */
  /* integer / f64 matmul operands are read once per output column: a fused producer would be
   * recomputed that many times (attention's keys and values: see cuda_emit.c, arith) */
  case OP_MATMUL: return cpu_is_floatish(n->type.dtype);
  default: return 1;
  }
}

/* open a per-element kernel over the output of node id */
static void begin_map(Cx *c, int id) {
  Dim d[DLM_MAX_RANK];
  all_dims(T_(c, id), d);
  cx_begin(c, id, CL_THREADS, T_(c, id)->rank, d);
}

/* one thread per element: maps, broadcasts, layout ops, iota, const, rand_uniform */
static int emit_map(Cx *c, int id, DlmErr *e) {
  char v[CPU_EXPR];
  begin_map(c, id);
  if (!node_value(c, id, "k", v, e)) return 0;
  sb_printf(c->em.b, "    v%d[k] = %s;\n", id, v);
  cx_end(c, id);
  return 1;
}

/* where operand x of matmul m lives in its scratch (fp32 or bf16 elements) */
static void operand_dst(Cx *c, int m, int x, char *dst) {
  char na[CPU_EXPR];
  const Type *at = T_(c, N_(c, m)->in[0]);
  cpu_prod(at, 0, at->rank, na);
  const char *ty = c->u->gemm_f32 ? "float" : "uint16_t";
  if (x == 0) cpu_fmt(dst, 2 * CPU_EXPR, "((%s *)V[%d])", ty, c->em.f->nnodes + m);
  else cpu_fmt(dst, 2 * CPU_EXPR, "((%s *)((char *)V[%d] + ((%s * %d + 255) / 256) * 256))", ty, c->em.f->nnodes + m, na, c->u->gemm_f32 ? 4 : 2);
}

/* the store of an operand value v (bf16 bits, or fp32 in fp32 mode) */
static void operand_store(Cx *c, const char *dst, const char *idx, const char *v) {
  if (c->u->gemm_f32) sb_printf(c->em.b, "    %s[%s] = %s;\n", dst, idx, v);
  else sb_printf(c->em.b, "    %s[%s] = dlm_bf16bits(%s);\n", dst, idx, v);
}

/* Node id's value v at its flat index idx: stored to v<id>, or for a sink (next[id] >= 0) carried
 * through its chain (maps evaluated at the same index, transposes moving the index, reshapes
 * keeping it) and stored as the matmul operand at the chain's end. */
static int write_out(Cx *c, int id, const char *idx, const char *v, DlmErr *e) {
  Sb *b = c->em.b;
  if (c->next[id] < 0) { sb_printf(b, "    v%d[%s] = %s;\n", id, idx, v); return 1; }
  char x[32], val[CPU_EXPR], dst[2 * CPU_EXPR];
  int used[CUDA_FUSE_MAX + 1], nu = 0, cur = id;
  index_var(c, idx, x);
  tmp_name(c, "s", c->sub[id]);
  sb_printf(b, "    const float %s = %s;\n", c->sub[id], v);
  c->has_sub[id] = 1;
  used[nu++] = id;
  int ok = 1;
  while (ok && N_(c, c->next[cur])->op != OP_MATMUL) { /* chain nodes are maps, transposes, reshapes */
    int r = c->next[cur];
    const Node *rn = N_(c, r);
    if (rn->op == OP_TRANSPOSE) {
      /* the output index of the element at input index x: input dim p goes to output dim d with
       * perm[d] = p */
      const Type *it = T_(c, cur);
      Strides st;
      for (int d = 0; d < rn->type.rank; d++) cpu_prod(&rn->type, d + 1, rn->type.rank, st[(int)rn->attr.i[d]]);
      char nx[32];
      index_by_strides(c, it, &st, x, nx);
      memcpy(x, nx, sizeof nx);
      cpu_fmt(c->sub[r], 32, "%s", c->sub[cur]);
    } else if (rn->op == OP_RESHAPE) cpu_fmt(c->sub[r], 32, "%s", c->sub[cur]);
    else {
      ok = node_value(c, r, x, val, e);
      cpu_fmt(c->sub[r], 32, "%s", val);
    }
    c->has_sub[r] = 1;
    used[nu++] = r;
    cur = r;
  }
  int m = c->next[cur];
  if (ok) {
    operand_dst(c, m, N_(c, m)->in[0] == cur ? 0 : 1, dst);
    operand_store(c, dst, x, c->sub[cur]);
  }
  for (int k = 0; k < nu; k++) c->has_sub[used[k]] = 0;
  return ok;
}

/* ---------------------------------------------------------------- row kernels */
/* dims of t without axis (the rows of a row kernel) */
static int row_dims(const Type *t, int axis, Dim *d) {
  int n = 0;
  for (int i = 0; i < t->rank; i++)
    if (i != axis) d[n++] = t->dims[i];
  return n;
}

static void row_consts(Cx *c, const Type *t, int axis) {
  char len[CPU_EXPR], in[CPU_EXPR];
  cpu_dim(t->dims[axis], len);
  cpu_prod(t, axis + 1, t->rank, in);
  sb_printf(c->em.b, "    const int64_t LEN_ = %s, IN_ = %s;\n    (void)LEN_;\n", len, in);
}

/* open a block-per-row kernel over the rows of t along axis; declares base_, LEN_, IN_ */
static void begin_rows(Cx *c, int id, const Type *t, int axis) {
  Dim d[DLM_MAX_RANK];
  int nd = row_dims(t, axis, d);
  cx_begin(c, id, CL_BLOCKS, nd, d);
  row_consts(c, t, axis);
  sb_printf(c->em.b, "    const int64_t base_ = (q / IN_) * LEN_ * IN_ + q %% IN_;\n    (void)base_;\n");
}

/* open the block-strided loop over the row and read element j of input in (rd: its value);
 * the caller closes the loop */
static int row_loop(Cx *c, int in, char *rd, DlmErr *e) {
  sb_printf(c->em.b, "    for (int64_t j = threadIdx.x; j < LEN_; j += blockDim.x) {\n");
  if (c->u->store_at[in] == c->cur && !c->stored) {
    /* the first pass computes the input and stores it (a later pass's thread reads its own j) */
    char x[32];
    c->stored = 1;
    index_var(c, "base_ + j * IN_", x);
    if (!node_value(c, in, x, rd, e)) return 0;
    sb_printf(c->em.b, "    v%d[%s] = %s;\n", in, x, rd);
    return 1;
  }
  return read_at(c, in, "base_ + j * IN_", rd, e);
}

/* block maximum (NaN wins) of the row of input in into double mx_ */
static int block_max(Cx *c, int in, DlmErr *e) {
  char rd[CPU_EXPR];
  sb_printf(c->em.b, "    double m_ = -INFINITY;\n");
  if (!row_loop(c, in, rd, e)) return 0;
  sb_printf(c->em.b, "      const double x_ = %s;\n      m_ = isnan(m_) ? m_ : isnan(x_) ? x_ : (x_ > m_ ? x_ : m_);\n    }\n"
                     "    const double mx_ = dlm_bmax(m_);\n", rd);
  return 1;
}

static int emit_reduce(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  int in = n->in[0];
  const Type *it = T_(c, in);
  int axis;
  if (!norm_axis(n->attr.i[0], it->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  char rd[CPU_EXPR], ww[XL];
  const char *ct = cpu_ctype(n->type.dtype);
  int fl = dtype_is_float(it->dtype);
  if (!fl && n->op == OP_LOGSUMEXP) { err_set(e, n->loc, "cuda: no CUDA kernel for logsumexp on integers"); return 0; }
  Sb *b = c->em.b;
  begin_rows(c, id, it, axis);
  if (n->op == OP_RMAX || n->op == OP_ARGMAX || n->op == OP_MEAN)
    sb_printf(b, "    if (LEN_ == 0) { bad_ = 1; break; }\n");
  switch (n->op) {
  case OP_SUM:
  case OP_MEAN:
    sb_printf(b, "    %s s_ = 0;\n", fl ? "double" : "uint64_t");
    if (!row_loop(c, in, rd, e)) return 0;
    sb_printf(b, "      s_ += (%s)%s;\n    }\n    s_ = %s(s_);\n", fl ? "double" : "uint64_t", rd, fl ? "dlm_bsum" : "dlm_bsumu");
    if (fl) cpu_fmt(ww, sizeof ww, "(%s)(s_%s)", ct, n->op == OP_MEAN ? " / (double)LEN_" : "");
    else if (n->op == OP_MEAN) cpu_fmt(ww, sizeof ww, "(%s)((double)(int64_t)s_ / (double)LEN_)", ct);
    else c_wrap_int(n->type.dtype, "s_", ww);
    sb_printf(b, "    if (threadIdx.x == 0) v%d[q] = %s;\n", id, ww);
    break;
  case OP_RMAX:
    if (fl) {
      if (!block_max(c, in, e)) return 0;
    } else {
      char r0[CPU_EXPR];
      if (!read_at(c, in, "base_", r0, e)) return 0;
      sb_printf(b, "    int64_t mi_ = %s;\n", r0);
      if (!row_loop(c, in, rd, e)) return 0;
      sb_printf(b, "      if (%s > mi_) mi_ = %s;\n    }\n    const int64_t mx_ = (int64_t)dlm_bmax((double)mi_);\n", rd, rd);
    }
    sb_printf(b, "    if (threadIdx.x == 0) v%d[q] = (%s)mx_;\n", id, ct);
    break;
  case OP_LOGSUMEXP:
    if (!block_max(c, in, e)) return 0;
    sb_printf(b, "    double s_ = 0;\n    if (!isnan(mx_) && !isinf(mx_)) {\n");
    if (!row_loop(c, in, rd, e)) return 0;
    sb_printf(b, "      s_ += exp(%s - mx_);\n    }\n    }\n", rd);
    sb_printf(b, "    s_ = dlm_bsum(s_);\n    if (threadIdx.x == 0) v%d[q] = (%s)(isnan(mx_) || isinf(mx_) ? mx_ : mx_ + log(s_));\n", id, ct);
    break;
  case OP_ARGMAX:
    sb_printf(b, "    double bx_ = 0;\n    int bn_ = 0;\n    int64_t bp_ = -1;\n");
    if (!row_loop(c, in, rd, e)) return 0;
    sb_printf(b, "      const double x_ = (double)%s;\n      const int n_ = %s;\n", rd, fl ? "isnan(x_)" : "0");
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
  int in = n->in[0];
  const Type *it = T_(c, in);
  int axis;
  if (!norm_axis(n->attr.i[0], it->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  char rd[CPU_EXPR];
  const char *ct = cpu_ctype(n->type.dtype), *ex = n->type.dtype == DT_F64 ? "exp" : "expf";
  Sb *b = c->em.b;
  begin_rows(c, id, it, axis);
  if (!block_max(c, in, e)) return 0;
  sb_printf(b, "    double s_ = 0;\n");
  if (!row_loop(c, in, rd, e)) return 0;
  sb_printf(b, "      s_ += %s((%s)(%s - mx_));\n    }\n    s_ = dlm_bsum(s_);\n", ex, ct, rd);
  if (n->op == OP_LOG_SOFTMAX) sb_printf(b, "    const double ls_ = log(s_);\n");
  if (!row_loop(c, in, rd, e)) return 0;
  char w[XL];
  if (n->op == OP_SOFTMAX) cpu_fmt(w, sizeof w, "(%s)(%s((%s)(%s - mx_)) / s_)", ct, ex, ct, rd);
  else cpu_fmt(w, sizeof w, "(%s)((%s - mx_) - ls_)", ct, rd);
  if (!write_out(c, id, "base_ + j * IN_", w, e)) return 0;
  sb_printf(b, "    }\n");
  cx_end(c, id);
  return 1;
}

static int emit_layer_norm(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  int in = n->in[0];
  const Type *it = T_(c, in);
  if (it->rank == 0) { err_set(e, n->loc, "layer_norm: needs an input of rank >= 1"); return 0; }
  char rd[CPU_EXPR];
  Sb *b = c->em.b;
  begin_rows(c, id, it, it->rank - 1);
  sb_printf(b, "    double s_ = 0, v_ = 0;\n");
  if (!row_loop(c, in, rd, e)) return 0;
  sb_printf(b, "      s_ += %s;\n    }\n    const double mean_ = dlm_bsum(s_) / (double)LEN_;\n", rd);
  if (!row_loop(c, in, rd, e)) return 0;
  sb_printf(b, "      const double d_ = %s - mean_;\n      v_ += d_ * d_;\n    }\n", rd);
  sb_printf(b, "    const double inv_ = 1 / sqrt(dlm_bsum(v_) / (double)LEN_ + %.17g);\n", n->attr.f[0]);
  if (!row_loop(c, in, rd, e)) return 0;
  char w[XL];
  cpu_fmt(w, sizeof w, "(%s)((%s - mean_) * inv_)", cpu_ctype(n->type.dtype), rd);
  if (!write_out(c, id, "base_ + j * IN_", w, e)) return 0;
  sb_printf(b, "    }\n");
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
  int fl = dtype_is_float(it->dtype);
  Sb *b = c->em.b;
  begin_row_threads(c, id, it, axis);
  sb_printf(b, "    %s s_ = 0;\n    for (int64_t j = 0; j < LEN_; j++) {\n", fl ? "double" : "uint64_t");
  if (!read_at(c, n->in[0], "base_ + j * IN_", rd, e)) return 0;
  if (fl) cpu_fmt(ww, sizeof ww, "(%s)s_", cpu_ctype(n->type.dtype));
  else c_wrap_int(n->type.dtype, "s_", ww);
  sb_printf(b, "      s_ += (%s)%s;\n      v%d[base_ + j * IN_] = %s;\n    }\n", fl ? "double" : "uint64_t", rd, id, ww);
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
  if (fl) cpu_fmt(bef, sizeof bef, "(isnan(x_[u_]) ? !isnan(x_[p_]) : x_[u_] > x_[p_])");
  else cpu_fmt(bef, sizeof bef, "(x_[u_] > x_[p_])");
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
static int emit_sum_to(Cx *c, int id, DlmErr *e) {
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
    else cpu_fmt(st[0][od], CPU_EXPR, "0");
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
  sb_printf(b, "      (void)t2_;\n");
  if (!val_at(c, n->in[0], "oi_", rd, e)) return 0;
  sb_printf(b, "      acc_ += (%s)%s;\n    }\n", fl ? "double" : "uint64_t", rd);
  char ww[XL];
  if (fl) cpu_fmt(ww, sizeof ww, "(%s)acc_", cpu_ctype(ot->dtype));
  else c_wrap_int(ot->dtype, "acc_", ww);
  sb_printf(b, "    v%d[k] = %s;\n", id, ww);
  cx_end(c, id);
  return 1;
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
  Dim d[2 * DLM_MAX_RANK];
  int nd = 0;
  for (int i = 0; i < ix->rank; i++) d[nd++] = ix->dims[i];
  for (int i = 1; i < n->type.rank; i++) d[nd++] = n->type.dims[i];
  cx_begin(c, id, CL_THREADS, nd, d);
  sb_printf(c->em.b, "    const int64_t ROWS_ = %s, ROW_ = %s;\n", rows, row);
  if (!read_at(c, n->in[1], "k / ROW_", ri, e)) return 0;
  sb_printf(c->em.b, "    const int64_t r_ = (int64_t)%s;\n    if (r_ < 0 || r_ >= ROWS_) { bad_ = 1; continue; }\n", ri);
  if (!val_at(c, n->in[0], "k", rs, e)) return 0;
  sb_printf(c->em.b, "    atomicAdd((%s *)&v%d[r_ * ROW_ + k %% ROW_], (%s)%s);\n", at, id, at, rs);
  cx_end(c, id);
  return 1;
}

static int emit_gather(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *tt = T_(c, n->in[0]);
  char rows[CPU_EXPR], row[CPU_EXPR], ri[CPU_EXPR], rt[CPU_EXPR];
  cpu_dim(tt->dims[0], rows);
  cpu_prod(tt, 1, tt->rank, row);
  begin_map(c, id);
  sb_printf(c->em.b, "    const int64_t ROWS_ = %s, ROW_ = %s;\n", rows, row);
  if (!read_at(c, n->in[1], "k / ROW_", ri, e)) return 0;
  sb_printf(c->em.b, "    const int64_t r_ = (int64_t)%s;\n    if (r_ < 0 || r_ >= ROWS_) { bad_ = 1; continue; }\n", ri);
  if (!read_at(c, n->in[0], "r_ * ROW_ + k % ROW_", rt, e)) return 0;
  sb_printf(c->em.b, "    v%d[k] = %s;\n", id, rt);
  cx_end(c, id);
  return 1;
}

static int emit_take(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *xt = T_(c, n->in[0]);
  char nx[CPU_EXPR], kk[CPU_EXPR], ri[CPU_EXPR], rx[CPU_EXPR];
  cpu_dim(xt->dims[xt->rank - 1], nx);
  cpu_dim(n->type.dims[n->type.rank - 1], kk);
  begin_map(c, id);
  sb_printf(c->em.b, "    const int64_t NX_ = %s, KK_ = %s;\n", nx, kk);
  if (!val_at(c, n->in[1], "k", ri, e)) return 0;
  sb_printf(c->em.b, "    const int64_t p_ = (int64_t)%s;\n    if (p_ < 0 || p_ >= NX_) { bad_ = 1; continue; }\n", ri);
  if (!read_at(c, n->in[0], "(k / KK_) * NX_ + p_", rx, e)) return 0;
  sb_printf(c->em.b, "    v%d[k] = %s;\n", id, rx);
  cx_end(c, id);
  return 1;
}

/* ---------------------------------------------------------------- contractions */
/* 1 if the gemm of a float matmul reads operand a where it is: a parameter (the backend keeps
 * its bf16 copy resident) or, with $DLM_CUDA_GEMM=f32, any value with a buffer */
static int operand_direct(const Cx *c, int m, int x) {
  int a = N_(c, m)->in[x];
  if (c->opnd_sunk[2 * m + x]) return 0;
  return !c->fused[a] && (N_(c, a)->op == OP_PARAM || (c->u->gemm_f32 && !c->em.inl[a] && !c->u->nobuf[a]));
}

/* the kernel writing matmul id's operand x (0: A, 1: B), with its fused producers, into the
 * node's scratch: A at 0, B after A (256-byte aligned); bf16 bits, or fp32 in fp32 mode */
static int emit_operand(Cx *c, int id, int x, DlmErr *e) {
  int a = N_(c, id)->in[x];
  if (operand_direct(c, id, x) || c->opnd_sunk[2 * id + x] || c->rounded[a]) return 1;
  c->rounded[a] = 1 + 2 * id + x;
  char v[CPU_EXPR], dst[2 * CPU_EXPR];
  Dim d[DLM_MAX_RANK];
  all_dims(T_(c, a), d);
  int at = c->u->nlaunch;
  cx_begin(c, id, CL_THREADS, T_(c, a)->rank, d);
  if (!val_at(c, a, "k", v, e)) return 0;
  operand_dst(c, id, x, dst);
  operand_store(c, dst, "k", v);
  cx_end(c, id);
  if (c->epi_src[2 * id + x] && at < c->u->nlaunch) { /* the fallback of an earlier gemm's epilogue */
    c->u->launch[at].alt_of = c->epi_src[2 * id + x];
    c->u->nalt++;
  }
  return 1;
}

static int emit_matmul(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  int a = n->in[0], bb = n->in[1];
  const Type *at = T_(c, a), *bt = T_(c, bb), *ot = &n->type;
  int ta = n->attr.i[0] != 0, tb = n->attr.i[1] != 0, r = ot->rank;
  Sb *b = c->em.b;
  if (cpu_is_floatish(ot->dtype)) {
    if (!emit_operand(c, id, 0, e) || !emit_operand(c, id, 1, e) || !cx_gemm(c, id)) return 0;
    CudaLaunch *l = &c->u->launch[c->u->nlaunch - 1];
    l->epi = c->epi[id];
    l->epi_dst = c->epi_dst[id];
    for (int x = 0; x < 2; x++) {
      int o = n->in[x];
      l->opnd[x] = operand_direct(c, id, x) ? o : -1;
      if (l->opnd[x] >= 0 || c->opnd_sunk[2 * id + x] || c->rounded[o] == 1 + 2 * id + x) continue;
      /* rounded for an earlier matmul: read there, and keep that scratch until now */
      l->src[x] = c->rounded[o] - 1;
      if (c->u->scratch_to[l->src[x] / 2] < id) c->u->scratch_to[l->src[x] / 2] = id;
      c->u->nreused++;
    }
    return 1;
  }
  Strides sa, sb;
  lead_strides(at, ot, sa);
  lead_strides(bt, ot, sb);
  char M[CPU_EXPR], N[CPU_EXPR], K[CPU_EXPR], ww[XL], ra[CPU_EXPR], rb[CPU_EXPR], ia[4 * CPU_EXPR], ib[4 * CPU_EXPR];
  cpu_dim(ot->dims[r - 2], M);
  cpu_dim(ot->dims[r - 1], N);
  cpu_dim(at->dims[at->rank - (ta ? 2 : 1)], K);
  int fl = ot->dtype == DT_F64;
  const char *acc = fl ? "double" : "uint64_t";
  begin_map(c, id);
  sb_printf(b, "    const int64_t M_ = %s, N_ = %s, K_ = %s, bt_ = k / (M_ * N_), i = (k / N_) %% M_, j = k %% N_;\n", M, N, K);
  const char *names[2] = {"oa_", "ob_"};
  Strides *sts[2] = {&sa, &sb};
  offsets(c, ot, r - 2, "bt_", 2, names, sts);
  cpu_fmt(ia, sizeof ia, "oa_ + i * %s + p * %s", ta ? sa[r - 1] : sa[r - 2], ta ? sa[r - 2] : sa[r - 1]);
  cpu_fmt(ib, sizeof ib, "ob_ + p * %s + j * %s", tb ? sb[r - 1] : sb[r - 2], tb ? sb[r - 2] : sb[r - 1]);
  sb_printf(b, "    %s s_ = 0;\n    for (int64_t p = 0; p < K_; p++) {\n", acc);
  if (!read_at(c, a, ia, ra, e) || !read_at(c, bb, ib, rb, e)) return 0;
  sb_printf(b, "      s_ += (%s)%s * (%s)%s;\n    }\n", acc, ra, acc, rb);
  if (fl) cpu_fmt(ww, sizeof ww, "s_");
  else c_wrap_int(ot->dtype, "s_", ww);
  sb_printf(b, "    v%d[k] = %s;\n", id, ww);
  cx_end(c, id);
  return 1;
}

/* Flash-style attention over tiles: one block per tile of CUDA_ATT_QT query rows of one batch
 * entry (one row when the query length is symbolic). The query tile is read once into shared
 * memory; keys go by tiles of CUDA_ATT_TILE: the mask is evaluated first for the query x key tile
 * (a tile with no allowed pair is skipped before anything else is read), then the key and value
 * tiles are read once for all the block's rows (through their fused producers), the scores
 * computed, each row's running maximum, sum and accumulator updated online (the accumulator
 * rescaled by exp(m_old - m_new)). Shared memory: accumulators and row state in double, the
 * query, key and value tiles in the value type, the probabilities in float. */
static int emit_attention(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  const Type *ot = &n->type;
  int q = n->in[0], k = n->in[1], v = n->in[2], mask = n->nin == 4 ? n->in[3] : -1, r = ot->rank;
  const Type *qt = T_(c, q), *kt = T_(c, k), *vt = T_(c, v);
  Dim dq = qt->dims[qt->rank - 1], dv = vt->dims[vt->rank - 1], lq = qt->dims[qt->rank - 2];
  if (dq.syms || dv.syms) { err_set(e, n->loc, "cuda: attention needs constant head dimensions"); return 0; }
  int64_t QT = lq.syms ? 1 : CUDA_ATT_QT, TL = CUDA_ATT_TILE, D = dq.k, DV = dv.k;
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
  char LQ[CPU_EXPR], LK[CPU_EXPR], rq[CPU_EXPR], rk[CPU_EXPR], rv[CPU_EXPR], rm[CPU_EXPR], idx[4 * CPU_EXPR], w[XL];
  cpu_dim(lq, LQ);
  cpu_dim(kt->dims[kt->rank - 2], LK);
  const char *ct = cpu_ctype(ot->dtype);
  int es = ot->dtype == DT_F64 ? 8 : 4;
  Dim d[DLM_MAX_RANK];
  for (int i = 0; i < r - 2; i++) d[i] = ot->dims[i];
  d[r - 2] = lq.syms ? lq : dim_const((lq.k + QT - 1) / QT); /* query tiles */
  cx_begin(c, id, CL_ATTN, r - 1, d);
  c->u->launch[c->u->nlaunch - 1].shmem_bytes = (size_t)(8 * (QT * DV + 4 * QT) + es * (QT * D + TL * D + TL * DV) + 4 * QT * TL);
  Sb *b = c->em.b;
  sb_printf(b, "    extern __shared__ double sh_[];\n");
  sb_printf(b, "    double *acc_ = sh_, *m_ = acc_ + %lld, *l_ = m_ + %lld, *cr_ = l_ + %lld, *an_ = cr_ + %lld;\n", (long long)(QT * DV),
            (long long)QT, (long long)QT, (long long)QT);
  sb_printf(b, "    %s *qs_ = (%s *)(an_ + %lld), *ks_ = qs_ + %lld, *vs_ = ks_ + %lld;\n    float *p_ = (float *)(vs_ + %lld);\n", ct, ct,
            (long long)QT, (long long)(QT * D), (long long)(TL * D), (long long)(TL * DV));
  sb_printf(b, "    const int64_t LQ_ = %s, LK_ = %s, D_ = %lld, DV_ = %lld, QT_ = %lld, TL_ = %lld;\n", LQ, LK, (long long)D, (long long)DV,
            (long long)QT, (long long)TL);
  sb_printf(b, "    const int64_t NT_ = (LQ_ + QT_ - 1) / QT_, bt = q / NT_, i0 = (q %% NT_) * QT_;\n    const double SC_ = %.17g;\n", n->attr.f[0]);
  const char *names[4] = {"oq_", "ok_", "ov_", "om_"};
  Strides *sts[4] = {&sq, &sk, &sv, &sm};
  offsets(c, ot, r - 2, "bt", mask >= 0 ? 4 : 3, names, sts);
  /* the query tile, accumulators, row state */
  sb_printf(b, "    __syncthreads();\n    for (int64_t e = threadIdx.x; e < QT_ * D_; e += blockDim.x) {\n");
  sb_printf(b, "      const int64_t i = i0 + e / D_, d = e %% D_;\n      if (i >= LQ_) { qs_[e] = 0; continue; }\n");
  cpu_fmt(idx, sizeof idx, "oq_ + i * %s + d * %s", sq[r - 2], sq[r - 1]);
  if (!read_at(c, q, idx, rq, e)) return 0;
  sb_printf(b, "      qs_[e] = (%s)%s;\n    }\n", ct, rq);
  sb_printf(b, "    for (int64_t e = threadIdx.x; e < QT_ * DV_; e += blockDim.x) acc_[e] = 0;\n");
  sb_printf(b, "    for (int64_t r = threadIdx.x; r < QT_; r += blockDim.x) { m_[r] = -INFINITY; l_[r] = 0; an_[r] = 0; }\n");
  sb_printf(b, "    for (int64_t j0 = 0; j0 < LK_; j0 += TL_) {\n      const int64_t n_ = LK_ - j0 < TL_ ? LK_ - j0 : TL_;\n");
  /* the mask of the tile: p_ = 1 where allowed */
  sb_printf(b, "      __syncthreads();\n      int ta_ = 0;\n");
  sb_printf(b, "      for (int64_t e = threadIdx.x; e < QT_ * TL_; e += blockDim.x) {\n");
  sb_printf(b, "        const int64_t i = i0 + e / TL_, jj = e %% TL_, j = j0 + jj;\n        p_[e] = 0;\n        if (i >= LQ_ || jj >= n_) continue;\n");
  if (mask >= 0) {
    cpu_fmt(idx, sizeof idx, "om_ + i * %s + j * %s", sm[r - 2], sm[r - 1]);
    if (!read_at(c, mask, idx, rm, e)) return 0;
  } else cpu_fmt(rm, sizeof rm, "1");
  sb_printf(b, "        if ((%s) != 0) { p_[e] = 1; ta_ = 1; }\n      }\n", rm);
  sb_printf(b, "      if (dlm_bsum((double)ta_) == 0) continue; /* every pair of the tile is masked */\n");
  /* key and value tiles */
  sb_printf(b, "      for (int64_t e = threadIdx.x; e < n_ * D_; e += blockDim.x) {\n        const int64_t j = j0 + e / D_, d = e %% D_;\n");
  cpu_fmt(idx, sizeof idx, "ok_ + j * %s + d * %s", sk[r - 2], sk[r - 1]);
  if (!read_at(c, k, idx, rk, e)) return 0;
  sb_printf(b, "        ks_[e] = (%s)%s;\n      }\n", ct, rk);
  sb_printf(b, "      for (int64_t e = threadIdx.x; e < n_ * DV_; e += blockDim.x) {\n        const int64_t j = j0 + e / DV_, d = e %% DV_;\n");
  cpu_fmt(idx, sizeof idx, "ov_ + j * %s + d * %s", sv[r - 2], sv[r - 1]);
  if (!read_at(c, v, idx, rv, e)) return 0;
  sb_printf(b, "        vs_[e] = (%s)%s;\n      }\n      __syncthreads();\n", ct, rv);
  /* scores */
  sb_printf(b, "      for (int64_t e = threadIdx.x; e < QT_ * TL_; e += blockDim.x) {\n        if (p_[e] == 0) { p_[e] = -INFINITY; continue; }\n");
  sb_printf(b, "        const int64_t rr = e / TL_, jj = e %% TL_;\n        %s s_ = 0;\n", ct);
  sb_printf(b, "        for (int64_t d = 0; d < D_; d++) s_ += qs_[rr * D_ + d] * ks_[jj * D_ + d];\n");
  sb_printf(b, "        s_ *= (%s)SC_;\n        p_[e] = (float)s_;\n      }\n      __syncthreads();\n", ct);
  /* each row's online softmax update */
  sb_printf(b, "      for (int64_t rr = threadIdx.x; rr < QT_; rr += blockDim.x) {\n        double tm_ = -INFINITY;\n        int any_ = 0;\n");
  sb_printf(b, "        for (int64_t jj = 0; jj < n_; jj++) {\n          const double x_ = p_[rr * TL_ + jj];\n          if (x_ == -INFINITY) continue;\n"
               "          any_ = 1;\n          tm_ = isnan(tm_) ? tm_ : isnan(x_) ? x_ : (x_ > tm_ ? x_ : tm_);\n        }\n");
  sb_printf(b, "        if (!any_) { cr_[rr] = 1; continue; }\n");
  sb_printf(b, "        const double mn_ = !an_[rr] || isnan(tm_) || tm_ > m_[rr] ? tm_ : m_[rr], c_ = an_[rr] ? exp(m_[rr] - mn_) : 0;\n");
  sb_printf(b, "        double ls_ = 0;\n        for (int64_t jj = 0; jj < n_; jj++) {\n          float *pe_ = &p_[rr * TL_ + jj];\n"
               "          const float e_ = *pe_ == -INFINITY ? 0.0f : expf((float)(*pe_ - mn_));\n          *pe_ = e_;\n          ls_ += e_;\n        }\n");
  sb_printf(b, "        l_[rr] = l_[rr] * c_ + ls_;\n        m_[rr] = mn_;\n        an_[rr] = 1;\n        cr_[rr] = c_;\n      }\n      __syncthreads();\n");
  /* accumulate */
  sb_printf(b, "      for (int64_t e = threadIdx.x; e < QT_ * DV_; e += blockDim.x) {\n        const int64_t rr = e / DV_, d = e %% DV_;\n");
  sb_printf(b, "        double a_ = acc_[e] * cr_[rr];\n        for (int64_t jj = 0; jj < n_; jj++) {\n          const float pv_ = p_[rr * TL_ + jj];\n"
               "          if (pv_ != 0 && pv_ != -INFINITY) a_ += (double)pv_ * (double)vs_[jj * DV_ + d];\n        }\n        acc_[e] = a_;\n      }\n    }\n");
  sb_printf(b, "    __syncthreads();\n    for (int64_t e = threadIdx.x; e < QT_ * DV_; e += blockDim.x) {\n");
  sb_printf(b, "      const int64_t rr = e / DV_, i = i0 + rr, d = e %% DV_;\n      if (i >= LQ_) continue;\n");
  cpu_fmt(w, sizeof w, "an_[rr] != 0 ? (%s)(acc_[e] / l_[rr]) : (%s)0", ct, ct);
  if (!write_out(c, id, "(bt * LQ_ + i) * DV_ + d", w, e)) return 0;
  sb_printf(b, "    }\n");
  cx_end(c, id);
  return 1;
}

/* ---------------------------------------------------------------- dispatch */
int cuda_emit_kernel(Cx *c, int id, DlmErr *e) {
  const Node *n = N_(c, id);
  switch (n->op) {
  case OP_SUM:
  case OP_MEAN:
  case OP_RMAX:
  case OP_LOGSUMEXP:
  case OP_ARGMAX: return emit_reduce(c, id, e);
  case OP_SUM_TO: return emit_sum_to(c, id, e);
  case OP_SOFTMAX:
  case OP_LOG_SOFTMAX: return emit_softmax(c, id, e);
  case OP_LAYER_NORM: return emit_layer_norm(c, id, e);
  case OP_CUMSUM: return emit_cumsum(c, id, e);
  case OP_SORT_DESC: return emit_sort(c, id);
  case OP_GATHER: return emit_gather(c, id, e);
  case OP_TAKE: return emit_take(c, id, e);
  case OP_SCATTER_ADD: return emit_scatter_add(c, id, e);
  case OP_MATMUL: return emit_matmul(c, id, e);
  case OP_ATTENTION: return emit_attention(c, id, e);
  case OP_CONST: case OP_IOTA: case OP_RAND: case OP_BROADCAST: case OP_TRANSPOSE: case OP_SLICE: case OP_PAD: case OP_CONCAT:
    return emit_map(c, id, e);
  default: break;
  }
  if (op_info[n->op].fclass == FC_ELEMWISE || op_info[n->op].fclass == FC_BROADCAST) return emit_map(c, id, e);
  err_set(e, n->loc, "cuda: no CUDA kernel for op %s", op_info[n->op].name);
  return 0;
}
