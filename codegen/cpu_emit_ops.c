/* cpu_emit_ops.c — one C kernel per IR op for the CPU backend. Elementwise, broadcast and layout
 * ops are strided loop nests over the output (the outer loop split over threads with OpenMP);
 * reductions, normalizations and scans are row kernels over (outer, axis, inner); an f32 matmul
 * calls dlm_sgemm (codegen/cpu_gemm.c) once per batch entry, the entries split over the threads
 * when there are at least as many as threads, else each call's rows split over them (one call with
 * all the rows when the right operand is shared and the left one is not transposed); f64 calls
 * cblas_dgemm (single-threaded) the same way, with blocks of rows over the threads; attention is a direct kernel per batch entry
 * (scores by gemm, masked softmax, weighted sum by gemm; in f32 with contiguous rows by the register
 * tiles and softmax rows of codegen/cpu_attn_prelude.c, possibly written straight into its merge_heads
 * transpose; loops when rows are broadcast; a query row with every key masked gives 0). Fusion decisions live here too: elementwise values (and
 * last-axis slices, pads and concats, evaluated at shifted positions: value_at) computed in their
 * readers' loop or in the sum_to / row sum that reads them, batched matmuls folded into the sum_to
 * that reduces their batch (one product with the batch in the contraction), and slices and
 * transposes read in place through their strides (CPU_INL_VIEW). Semantics follow ir/interp*.c. */
#include "cpu_emit_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAR_MIN "32768" /* elements below which a kernel stays on one thread */

static const Node *N_(const Em *em, int id) { return &em->f->nodes[id]; }
static const Type *T_(const Em *em, int id) { return &em->f->nodes[id].type; }

static int norm_axis(int64_t axis, int rank, int *out) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return 0;
  *out = (int)axis;
  return 1;
}

void cpu_bcast_strides(const Type *src, const Type *target, Strides st) {
  for (int d = 0; d < target->rank; d++) {
    int id = d - (target->rank - src->rank);
    if (id < 0 || (src->dims[id].k == 1 && src->dims[id].syms == 0)) cpu_fmt(st[d], CPU_EXPR, "0");
    else cpu_prod(src, id + 1, src->rank, st[d]);
  }
}

/* Strides of x (rank >= 2) against (batch dims of out..., x's last two dims). */
static void lead_strides(const Type *x, const Type *out, Strides st) {
  Type t = *out;
  t.dims[t.rank - 2] = x->dims[x->rank - 2];
  t.dims[t.rank - 1] = x->dims[x->rank - 1];
  cpu_bcast_strides(x, &t, st);
}

void cpu_emit_offsets(Em *em, const Type *t, int nd, const char *idx, int nops, const char *const *names,
                         Strides *const *st, const char *ind) {
  for (int k = 0; k < nops; k++) sb_printf(em->b, "%sint64_t %s = 0;\n", ind, names[k]);
  if (nd == 0) return;
  sb_printf(em->b, "%sint64_t t_ = %s;\n", ind, idx);
  for (int d = nd - 1; d >= 0; d--) {
    char db[CPU_EXPR];
    cpu_dim(t->dims[d], db);
    sb_printf(em->b, "%s{ const int64_t i_ = t_ %% %s;%s", ind, db, d ? " t_ /= " : "");
    if (d) sb_printf(em->b, "%s;", db);
    sb_printf(em->b, " (void)i_;");
    for (int k = 0; k < nops; k++)
      if (strcmp((*st[k])[d], "0") != 0) sb_printf(em->b, " %s += i_ * %s;", names[k], (*st[k])[d]);
    sb_printf(em->b, " }\n");
  }
  if (nd) sb_printf(em->b, "%s(void)t_;\n", ind);
}

/* ---------------------------------------------------------------- strided maps */


/* Open a loop over the elements k of shape t with operand offsets o<j>; reads[j] receives the read
 * of operand j at element k. Closed by map_end with the same parallel: 0 serial, 1 a parallel
 * loop, 2 a worksharing loop (static) inside an enclosing parallel region. row_pre (or NULL): code
 * run at the start of each row q, after its offsets.
 * A parallel loop gives each thread its static share of the first 7/8 of the rows (the rows a
 * thread wrote in the kernel before are mostly the ones it reads next) and then the threads take
 * the last eighth in chunks as they finish: one thread slowed down (another process on its core,
 * a slower memory phase) no longer leaves the other waiting at the end for a whole share. Each
 * element is computed alone, so the results do not depend on which thread computes it. */
static void map_begin(Em *em, const Type *t, int parallel, int nops, MapOp *ops, char reads[][CPU_EXPR], const char *row_pre) {
  char numel[CPU_EXPR], last[CPU_EXPR];
  int r = t->rank;
  cpu_prod(t, 0, r, numel);
  if (r) cpu_dim(t->dims[r - 1], last);
  else cpu_fmt(last, sizeof last, "1");
  sb_printf(em->b, "  {\n    const int64_t L_ = %s, Q_ = L_ ? %s / L_ : 0;\n", last, numel);
  if (parallel == 1) {
    sb_printf(em->b, "    const int64_t QS_ = Q_ - Q_ / 8, CH_ = Q_ / 64 > 1 ? Q_ / 64 : 1;\n    int64_t next_ = QS_;\n");
    sb_printf(em->b, "#pragma omp parallel if (Q_ * L_ > %s)\n    {\n", PAR_MIN);
    sb_printf(em->b, "    const int nt_ = omp_get_num_threads(), me_ = omp_get_thread_num();\n"
                     "    for (int64_t lo_ = QS_ * me_ / nt_, hi_ = QS_ * (me_ + 1) / nt_; lo_ < Q_;) {\n");
    sb_printf(em->b, "    for (int64_t q = lo_; q < hi_; q++) {\n");
  } else {
    if (parallel == 2) sb_printf(em->b, "#pragma omp for schedule(static)\n");
    sb_printf(em->b, "    for (int64_t q = 0; q < Q_; q++) {\n");
  }
  const char *names[CPU_MAX_LEAVES];
  Strides *sts[CPU_MAX_LEAVES];
  char nb[CPU_MAX_LEAVES][16];
  int nn = 0;
  for (int j = 0; j < nops; j++) {
    if (ops[j].id >= 0 && em->inl[ops[j].id] == CPU_INL_CONST) continue;
    cpu_fmt(nb[nn], sizeof nb[nn], "o%d", j);
    names[nn] = nb[nn];
    sts[nn] = &ops[j].st;
    nn++;
  }
  cpu_emit_offsets(em, t, r > 0 ? r - 1 : 0, "q", nn, names, sts, "      ");
  if (row_pre) sb_printf(em->b, "%s", row_pre);
  sb_printf(em->b, "      for (int64_t j = 0; j < L_; j++) {\n        const int64_t k = q * L_ + j;\n        (void)k;\n");
  for (int j = 0; j < nops; j++) {
    if (ops[j].id < 0) continue;
    const char *sl = r ? ops[j].st[r - 1] : "0";
    char off[3 * CPU_EXPR], ob[48];
    if (ops[j].base) cpu_fmt(ob, sizeof ob, "o%d + %lld", j, (long long)ops[j].base);
    else cpu_fmt(ob, sizeof ob, "o%d", j);
    if (strcmp(sl, "0") == 0) cpu_fmt(off, sizeof off, "%s", ob);
    else if (strcmp(sl, "1") == 0) cpu_fmt(off, sizeof off, "%s + j", ob);
    else cpu_fmt(off, sizeof off, "%s + j * %s", ob, sl);
    cpu_read(em, ops[j].id, off, reads[j]);
  }
}

static void map_end(Em *em, int parallel) {
  sb_printf(em->b, "      }\n    }\n");
  if (parallel == 1)
    sb_printf(em->b, "    lo_ = __atomic_fetch_add(&next_, CH_, __ATOMIC_RELAXED);\n    hi_ = lo_ + CH_ < Q_ ? lo_ + CH_ : Q_;\n    }\n    }\n");
  sb_printf(em->b, "  }\n");
}

/* ---------------------------------------------------------------- elementwise expressions */
/* ---------------------------------------------------------------- fusion of elementwise chains */
static int is_map_op(const Node *n) {
  FusionClass c = op_info[n->op].fclass;
  return (c == FC_ELEMWISE || c == FC_BROADCAST) && n->op != OP_RAND && n->op != OP_BROADCAST;
}

/* a value that can be computed inside its reader's loop: elementwise, no failure checks, kept in
 * its storage precision without a rounding pass */
/* a pad, slice or concat along the last axis: computed inside its reader's loop by reading its
 * inputs at shifted positions along that axis (value_at), so chunks, rotate-half and their
 * gradients' pads need no copies */
static int last_axis_layout(const Node *n) {
  if (n->op != OP_PAD && n->op != OP_SLICE && n->op != OP_CONCAT) return 0;
  if (n->op == OP_SLICE && n->attr.i[3] < 1) return 0;
  return n->type.rank > 0 && (n->attr.i[0] == n->type.rank - 1 || n->attr.i[0] == -1);
}

static int fusable_value(const Em *em, const Node *n) {
  if (last_axis_layout(n)) return n->type.dtype != DT_BF16 && n->type.dtype != DT_F16;
  if (n->op == OP_IOTA)
    return n->type.dtype != DT_BF16 && n->type.dtype != DT_F16 && n->attr.i[0] >= -n->type.rank && n->attr.i[0] < n->type.rank;
  if (!is_map_op(n) || n->type.dtype == DT_BF16 || n->type.dtype == DT_F16) return 0;
  DType tin = T_(em, n->in[n->op == OP_WHERE ? 1 : 0])->dtype;
  if (!dtype_is_float(tin) && (n->op == OP_DIV || n->op == OP_MOD || n->op == OP_POW)) return 0;
  if (n->op == OP_CAST && dtype_is_float(tin) && !dtype_is_float(n->type.dtype) && n->type.dtype != DT_BOOL) return 0;
  return 1;
}

static int same_dims(const Type *a, const Type *b) {
  if (a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (!dim_eq(a->dims[d], b->dims[d])) return 0;
  return 1;
}

/* The fused nodes feeding id (grp, in increasing order) and the other values they and id read
 * (leaves, distinct). Returns 0 when a limit is exceeded. */
static int fused_group(const Em *em, int id, int *grp, int *ng, int *leaves, int *nl) {
  const Node *n = N_(em, id);
  for (int j = 0; j < n->nin; j++) {
    int x = n->in[j], seen = 0;
    if (em->inl[x] == CPU_INL_FUSED) {
      for (int g = 0; g < *ng; g++) seen |= grp[g] == x;
      if (seen) continue;
      if (*ng == 64) return 0;
      grp[(*ng)++] = x;
      if (!fused_group(em, x, grp, ng, leaves, nl)) return 0;
    } else {
      for (int l = 0; l < *nl; l++) seen |= leaves[l] == x;
      if (seen) continue;
      if (*nl == CPU_MAX_LEAVES) return 0;
      leaves[(*nl)++] = x;
    }
  }
  return 1;
}

/* A matmul C_b = A_b^T B_b (the weight gradient of a batched product) read only by a sum_to
 * over all its batch dims, A and B with exactly C's batch dims (no broadcasting): the sum is one
 * product [A_0; A_1; ...]^T [B_0; B_1; ...] with the batch folded into the contraction. */
static int foldable_matmul(const Em *em, int id, int rd) {
  const Node *n = N_(em, id), *r = N_(em, rd);
  if (n->op != OP_MATMUL || r->op != OP_SUM_TO || r->in[0] != id) return 0;
  if (!(n->type.dtype == DT_F32 || n->type.dtype == DT_F64) || n->attr.i[0] == 0 || n->attr.i[1] != 0) return 0;
  const Type *ot = &n->type, *at = T_(em, n->in[0]), *bt = T_(em, n->in[1]);
  int rk = ot->rank;
  if (rk < 3 || at->rank != rk || bt->rank != rk || r->type.rank != 2) return 0;
  if (!dim_eq(r->type.dims[0], ot->dims[rk - 2]) || !dim_eq(r->type.dims[1], ot->dims[rk - 1])) return 0;
  for (int d = 0; d < rk - 2; d++)
    if (!dim_eq(at->dims[d], ot->dims[d]) || !dim_eq(bt->dims[d], ot->dims[d])) return 0;
  return 1;
}

/* A transpose's input x read in place when it is a slice along the last axis with step 1 (or a
 * reshape of one) used only there: the slice's rows of W elements lie P apart in its input (from
 * column `start`). Every dim of x after the first must be constant and split the row evenly (a
 * dim's row-major stride in x either divides W with the dim's extent, or is a multiple of W, which
 * becomes that many input rows; the first dim counts whole rows). Fills *src (the slice's node),
 * and returns 1 when all hold. */
static int slice_view_ok(const Em *em, int x, const int *uses, const char *live, int *src) {
  const Func *f = em->f;
  int s = N_(em, x)->op == OP_RESHAPE ? N_(em, x)->in[0] : x;
  const Node *sn = N_(em, s);
  const Type *xt = T_(em, x);
  if (sn->op != OP_SLICE || sn->attr.i[3] != 1 || uses[s] != 1 || (s != x && uses[x] != 1) || !live[s]) return 0;
  const Type *it = T_(em, sn->in[0]);
  int r = sn->type.rank;
  if (r < 1 || (sn->attr.i[0] != r - 1 && sn->attr.i[0] != -1) || sn->type.dtype == DT_BF16 || sn->type.dtype == DT_F16) return 0;
  if (sn->type.dims[r - 1].syms || it->dims[r - 1].syms) return 0;
  for (int k = 0; k < f->nout; k++)
    if (f->outs[k] == s || f->outs[k] == x) return 0;
  int64_t w = sn->type.dims[r - 1].k, rs = 1;
  for (int d = xt->rank - 1; d >= 1; d--) {
    if (xt->dims[d].syms) return 0;
    int64_t e = xt->dims[d].k;
    if (rs < w && (rs * e > w || w % (rs * e) != 0)) return 0;
    if (rs >= w && rs % w != 0) return 0;
    rs *= e;
  }
  if (xt->rank < 2 || rs % w != 0) return 0; /* the first dim counts whole rows */
  *src = s;
  return 1;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* The leaves of id's fused group (see fused_group), after a "fused here" comment for each of its
 * nodes in node order. Returns 0 with an error when a limit is exceeded. */
static int fused_leaves(Em *em, int id, int *leaves, int *nl, DlmErr *e) {
  int grp[64], ng = 0;
  *nl = 0;
  if (!fused_group(em, id, grp, &ng, leaves, nl)) {
    err_set(e, N_(em, id)->loc, "cpu: internal error: fused kernel over its limits");
    return 0;
  }
  qsort(grp, (size_t)ng, sizeof *grp, cmp_int);
  for (int g = 0; g < ng; g++) cpu_node_comment(em, grp[g], "fused here: ");
  return 1;
}

/* a reduction that computes an elementwise input inside its loop: sum_to, and f32 sum or mean
 * over the last axis */
int cpu_sum_alias(const Em *em, const Node *n) {
  if (n->op != OP_SUM && n->op != OP_MEAN) return 0;
  const Type *it = T_(em, n->in[0]);
  int axis;
  return norm_axis(n->attr.i[0], it->rank, &axis) && dim_is_const(it->dims[axis]) && it->dims[axis].k == 1 &&
         it->dtype == n->type.dtype && (it->dtype == DT_F32 || it->dtype == DT_F64);
}

static int sums_fused_input(const Em *em, const Node *r) {
  if (r->op == OP_SUM_TO) return 1;
  if ((r->op != OP_SUM && r->op != OP_MEAN) || cpu_sum_alias(em, r)) return 0;
  const Type *it = T_(em, r->in[0]);
  return it->dtype == DT_F32 && r->type.dtype == DT_F32 && it->rank > 0 &&
         (r->attr.i[0] == it->rank - 1 || r->attr.i[0] == -1);
}

/* an f32 softmax or log_softmax over the last axis: computes an elementwise input into a row first */
static int softmax_fused_input(const Em *em, const Node *r) {
  if (r->op != OP_SOFTMAX && r->op != OP_LOG_SOFTMAX) return 0;
  const Type *it = T_(em, r->in[0]);
  return it->dtype == DT_F32 && r->type.dtype == DT_F32 && it->rank > 0 && (r->attr.i[0] == it->rank - 1 || r->attr.i[0] == -1);
}

void cpu_mark_fusion(const Em *em, const char *live, const int *uses, const int *reader, char *inl) {
  const Func *f = em->f;
  for (int id = 0; id < f->nnodes; id++) {
    int is_out = 0;
    for (int k = 0; k < f->nout; k++) is_out |= f->outs[k] == id;
    const Node *n = N_(em, id);
    if (!live[id] || inl[id] || is_out || uses[id] != 1 || !fusable_value(em, n)) continue;
    const Node *r = N_(em, reader[id]);
    if ((is_map_op(r) && same_dims(&n->type, &r->type)) || ((sums_fused_input(em, r) || softmax_fused_input(em, r)) && n->op != OP_IOTA))
      inl[id] = CPU_INL_FUSED;
  }
  /* values read once by a last-axis layout op that is itself fused (the negated half of a
   * rotate-half concat) join its group, evaluated at shifted positions */
  for (int id = f->nnodes - 1; id >= 0; id--) {
    int is_out = 0;
    for (int k = 0; k < f->nout; k++) is_out |= f->outs[k] == id;
    const Node *n = N_(em, id);
    if (!live[id] || inl[id] || is_out || uses[id] != 1 || n->op == OP_IOTA || !fusable_value(em, n)) continue;
    if (last_axis_layout(N_(em, reader[id])) && inl[reader[id]] == CPU_INL_FUSED) inl[id] = CPU_INL_FUSED;
  }
  /* a value read several times, every read by a node of one fused group (as x * x, or the tanh of
   * the GELU derivative read twice), is computed once per element inside that group's loop too */
  for (int id = f->nnodes - 1; id >= 0; id--) {
    const Node *n = N_(em, id);
    if (!live[id] || inl[id] || uses[id] < 2 || !fusable_value(em, n)) continue;
    int root = -1, reads = 0, ok = 1;
    for (int r = id + 1; ok && r < f->nnodes; r++) {
      const Node *rn = N_(em, r);
      if (!live[r]) continue;
      for (int j = 0; ok && j < rn->nin; j++) {
        if (rn->in[j] != id) continue;
        reads++;
        int g = r;
        while (inl[g] == CPU_INL_FUSED) g = reader[g];
        ok = is_map_op(rn) && same_dims(&n->type, &rn->type) && !inl[g] && (root < 0 || root == g);
        root = g;
      }
    }
    if (ok && reads == uses[id]) inl[id] = CPU_INL_FUSED; /* uses counts outputs too */
  }
  /* an add, sub or mul of two buffers read only by elementwise nodes of its shape in two loops
   * (a bias add read by GELU and by GELU's derivative) is recomputed in both instead of stored:
   * two reads of its (one full-size) inputs cost less than a write and two reads */
  for (int id = f->nnodes - 1; id >= 0; id--) {
    const Node *n = N_(em, id);
    int is_out = 0, ok = 1, g1 = -1, g2 = -1;
    for (int k = 0; k < f->nout; k++) is_out |= f->outs[k] == id;
    if (!live[id] || inl[id] || is_out || uses[id] < 2 || !(n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL) ||
        !fusable_value(em, n))
      continue;
    for (int j = 0; j < n->nin; j++) ok &= inl[n->in[j]] != CPU_INL_FUSED;
    for (int r = id + 1; ok && r < f->nnodes; r++) {
      const Node *rn = N_(em, r);
      for (int j = 0; ok && live[r] && j < rn->nin; j++)
        if (rn->in[j] == id) {
          int g = r;
          while (inl[g] == CPU_INL_FUSED) g = reader[g];
          ok = is_map_op(rn) && same_dims(&n->type, &rn->type) && (g1 < 0 || g == g1 || g2 < 0 || g == g2);
          if (g1 < 0) g1 = g;
          else if (g != g1) g2 = g;
        }
    }
    if (ok && g2 >= 0) inl[id] = CPU_INL_FUSED;
  }
  /* groups over the limits are not fused */
  for (int id = f->nnodes - 1; id >= 0; id--) {
    if (!live[id] || inl[id] || !(is_map_op(N_(em, id)) || sums_fused_input(em, N_(em, id)) || softmax_fused_input(em, N_(em, id))))
      continue;
    int grp[64], ng = 0, leaves[CPU_MAX_LEAVES], nl = 0;
    if (fused_group(em, id, grp, &ng, leaves, &nl)) continue;
    /* unfuse the group: the fused values whose chain of readers ends at id */
    char *in_group = calloc((size_t)id + 1, 1);
    if (!in_group) { /* then fuse nothing */
      for (int x = 0; x < f->nnodes; x++)
        if (inl[x] == CPU_INL_FUSED) inl[x] = 0;
      return;
    }
    in_group[id] = 1;
    for (int x = id - 1; x >= 0; x--) in_group[x] = inl[x] == CPU_INL_FUSED && reader[x] <= id && in_group[reader[x]];
    for (int x = 0; x < id; x++)
      if (in_group[x]) inl[x] = 0;
    free(in_group);
    /* values recomputed in several groups stay fused: with the chain unfused, id's own group is id
     * and such values (at most 3 of them, of 2 inputs each), within the limits */
  }
  for (int id = 0; id < f->nnodes; id++) {
    int is_out = 0;
    for (int k = 0; k < f->nout; k++) is_out |= f->outs[k] == id;
    if (live[id] && !inl[id] && !is_out && uses[id] == 1 && foldable_matmul(em, id, reader[id])) inl[id] = CPU_INL_FOLDED;
  }
  for (int id = 0; id < f->nnodes; id++) {
    int s;
    if (!live[id] || inl[id] || N_(em, id)->op != OP_TRANSPOSE) continue;
    int x = N_(em, id)->in[0];
    if (inl[x] || !slice_view_ok(em, x, uses, live, &s) || inl[s]) continue;
    inl[s] = CPU_INL_VIEW;
    inl[x] = CPU_INL_VIEW;
  }
  /* such a transpose read only inside elementwise loops of its shape (up to the last axis) is a
   * leaf of those loops read through the view: not copied either (q and k of split_heads, read by
   * rotate-half) */
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = N_(em, id);
    int is_out = 0, ok = 1;
    for (int k = 0; k < f->nout; k++) is_out |= f->outs[k] == id;
    if (!live[id] || inl[id] || is_out || n->op != OP_TRANSPOSE || inl[n->in[0]] != CPU_INL_VIEW) continue;
    for (int r = id + 1; ok && r < f->nnodes; r++) {
      const Node *rn = N_(em, r);
      int reads = 0;
      for (int j = 0; live[r] && j < rn->nin; j++) reads |= rn->in[j] == id;
      if (!reads) continue;
      int g = r;
      while (inl[g] == CPU_INL_FUSED) g = reader[g];
      const Type *gt = T_(em, g);
      ok = (inl[r] == CPU_INL_FUSED || (inl[r] == 0 && is_map_op(rn))) && inl[g] == 0 && is_map_op(N_(em, g)) &&
           gt->rank == n->type.rank;
      for (int d = 0; ok && d + 1 < gt->rank; d++) ok = dim_eq(gt->dims[d], n->type.dims[d]);
    }
    if (ok) inl[id] = CPU_INL_VIEW;
  }
}

/* Reductions computed in the loop of another elementwise kernel X (at[S] = X) that runs over
 * their input's shape and reads some of the same buffers (or X's own value): an f32 sum_to (a bias
 * gradient, the adaLN modulation gradients summed over the sequence) accumulates per-thread
 * partial sums as its own kernel would over the same static split of the rows, and an f32 sum or
 * mean over the last axis (layer-norm backward) fills a row and sums it with dlm_sumf as
 * emit_row_sum_fused does: the same bits, without another pass over the shared tensors. S may come
 * before X in the function when every reader of S comes after X; everything S reads is computed
 * before X, or is a row sum of X's own loop (S a row sum too, such as the layer-norm variance
 * after the mean: its row is filled in a second pass over X's row once that sum is known). An f32
 * layer norm of X's own value is one too: each row normalized once X's row is done
 * (layer_norm_row, the code of its own kernel), saving a pass over the residual stream. */
#define CPU_MAX_SIDE 6
#define SIDE_WINDOW 512 /* nodes before or after S where X is looked for */
#define SIDE_MAX_ROW 1024 /* the longest row a row sum in another loop keeps on the stack */
#define SIDE_MAX_ROWS 4   /* and at most this many rows per kernel */
static int side_reduction(const Em *em, int s) {
  const Node *n = N_(em, s);
  const Type *it = n->nin == 1 ? T_(em, n->in[0]) : NULL;
  if (!it || it->rank < 1 || n->type.dtype != DT_F32 || it->dtype != DT_F32) return 0;
  if (n->op == OP_SUM_TO) return 1;
  Dim last = it->dims[it->rank - 1];
  if (!dim_is_const(last) || last.k <= 0 || last.k > SIDE_MAX_ROW) return 0;
  return sums_fused_input(em, n) || (n->op == OP_LAYER_NORM && !em->inl[n->in[0]]);
}

static int side_kernel(const Em *em, const char *live, const int *at, int x) {
  const Node *n = N_(em, x);
  return live[x] && !em->inl[x] && at[x] == x && is_map_op(n) && n->op != OP_RAND && n->type.dtype == DT_F32 &&
         n->type.rank > 0 && !cpu_attention_bw_at((const CpuCx *)em, x);
}

/* leaves of a's group not yet in set (nothing is added when they would exceed the limit); the
 * number added, or -1 */
static int add_leaves(const Em *em, int a, int skip, int *set, int *n) {
  int grp[64], ng = 0, lv[CPU_MAX_LEAVES], nl = 0, add = 0;
  if (!fused_group(em, a, grp, &ng, lv, &nl)) return -1;
  for (int l = 0; l < nl; l++) {
    int seen = lv[l] == skip;
    for (int k = 0; k < *n + add; k++) seen |= set[k] == lv[l];
    if (seen) continue;
    if (*n + add == CPU_MAX_LEAVES) return -1;
    set[*n + add++] = lv[l];
  }
  *n += add;
  return add;
}

void cpu_mark_side_sums(CpuCx *cx, const char *live, int *at) {
  const Em *em = &cx->em;
  const Func *f = em->f;
  int nn = f->nnodes;
  /* per kernel: its side reductions, the row sums among them; per value: its first reader */
  int *nside = calloc((size_t)(nn ? nn : 1), sizeof *nside), *nrow = calloc((size_t)(nn ? nn : 1), sizeof *nrow),
      *firstrd = malloc((size_t)(nn ? nn : 1) * sizeof *firstrd), *after = calloc((size_t)(nn ? nn : 1), sizeof *after);
  if (!nside || !nrow || !firstrd || !after) { /* then none */
    free(nside);
    free(nrow);
    free(firstrd);
    free(after);
    return;
  }
  for (int id = 0; id < nn; id++) firstrd[id] = nn;
  for (int r = nn - 1; r >= 0; r--)
    for (int j = 0; live[r] && j < f->nodes[r].nin; j++) firstrd[f->nodes[r].in[j]] = r;
  for (int s = 0; s < nn; s++) {
    if (!live[s] || em->inl[s] || at[s] != s || !side_reduction(em, s)) continue;
    const Type *it = T_(em, N_(em, s)->in[0]);
    int sl[CPU_MAX_LEAVES], nsl = 0, best = -1, best_shared = 0, best_after = 0;
    if (add_leaves(em, s, -1, sl, &nsl) < 0) continue;
    for (int x = s > SIDE_WINDOW ? s - SIDE_WINDOW : 0; x < nn && x <= s + SIDE_WINDOW; x++) {
      if (x == s || !side_kernel(em, live, at, x) || nside[x] == CPU_MAX_SIDE || (N_(em, s)->op != OP_SUM_TO && nrow[x] == SIDE_MAX_ROWS) ||
          !same_dims(&N_(em, x)->type, it))
        continue;
      if (x > s && firstrd[s] <= x) continue; /* S is read before X runs */
      if (N_(em, s)->op == OP_LAYER_NORM && N_(em, s)->in[0] != x) continue; /* normalizes X's own rows */
      int ok = 1, shared = 0, uses_row = 0;
      for (int l = 0; ok && l < nsl; l++) {
        int v = sl[l];
        if (v == x) { shared += 2; continue; }
        if (em->inl[v] == CPU_INL_CONST) continue;
        if (at[v] == x && v != x && !after[v] && (N_(em, v)->op == OP_SUM || N_(em, v)->op == OP_MEAN) &&
            (N_(em, s)->op == OP_SUM || N_(em, s)->op == OP_MEAN)) {
          uses_row = 1; /* a row sum of X's loop, known once X's row is done: S follows it */
          continue;
        }
        /* a reshape (or a length-1 sum) reads its source's buffer: that buffer's kernel must have run */
        while (!em->inl[v] && (N_(em, v)->op == OP_RESHAPE || cpu_sum_alias(em, N_(em, v)))) v = N_(em, v)->in[0];
        OpKind op = N_(em, v)->op;
        ok = em->inl[v] == CPU_INL_CONST || op == OP_ARG || op == OP_PARAM || (!em->inl[v] && at[v] < x);
      }
      if (!ok) continue;
      /* the buffers X's loop would read: its own leaves, those of its other side reductions, S's */
      int all[CPU_MAX_LEAVES], na = 0;
      if (add_leaves(em, x, -1, all, &na) < 0) continue;
      int base = na;
      for (int r = 0; ok && r < nn; r++)
        if (r != x && at[r] == x && r != s) ok = add_leaves(em, r, x, all, &na) >= 0;
      for (int l = 0; ok && l < nsl; l++)
        for (int k = 0; k < base; k++) shared += all[k] == sl[l];
      if (!ok || add_leaves(em, s, x, all, &na) < 0 || !shared) continue;
      if (shared > best_shared || (shared == best_shared && abs(x - s) < abs(best - s))) best = x, best_shared = shared, best_after = uses_row;
    }
    if (best >= 0) {
      at[s] = best;
      after[s] = best_after;
      nside[best]++;
      nrow[best] += N_(em, s)->op != OP_SUM_TO;
    }
  }
  free(nside);
  free(nrow);
  free(firstrd);
  free(after);
}

/* The value of iota node n in a map loop (q: the row, jx: the position along the last axis): jx
 * itself when it counts along the last axis, else the row's digit of its axis. */
static void iota_expr(const Node *n, const char *jx, char *out) {
  int axis = (int)(n->attr.i[0] < 0 ? n->attr.i[0] + n->type.rank : n->attr.i[0]);
  char mid[CPU_EXPR], len[CPU_EXPR];
  if (axis == n->type.rank - 1) { cpu_fmt(out, 4 * CPU_EXPR, "(%s)%s", cpu_ctype(n->type.dtype), jx); return; }
  cpu_prod(&n->type, axis + 1, n->type.rank - 1, mid);
  cpu_dim(n->type.dims[axis], len);
  cpu_fmt(out, 4 * CPU_EXPR, "(%s)((q / %s) %% %s)", cpu_ctype(n->type.dtype), mid, len);
}

/* The fused group being emitted: its leaves (read through ops / reads), and the values already
 * computed, by node and position variable. */
typedef struct {
  int x;
  char jx[24], name[32];
} EwVal;
typedef struct {
  Em *em;
  const int *leaves;
  int root, nl, rank, nvar, nval, cap, checks, ok;
  const MapOp *ops;            /* the map loop's operands: leaf l is ops[ooff + l], offset o<ooff + l> */
  char (*reads)[CPU_EXPR];
  EwVal *vals;
  DlmErr *e;
  int ooff;
} EwCx;

/* Emit the statements computing fused value x (or reading leaf x) at position jx along the last
 * axis of its own shape ("j": the loop's position, which every leaf read there has); its name in
 * *name. Shifted positions come from last-axis slices, pads and concats: a leaf read at one is
 * guarded by the leaf's extent (a masked read), and a pad or concat selects among its pieces. */
static void value_at(EwCx *c, int x, const char *jx, char *name) {
  Em *em = c->em;
  for (int i = 0; i < c->nval; i++)
    if (c->vals[i].x == x && strcmp(c->vals[i].jx, jx) == 0) { strcpy(name, c->vals[i].name); return; }
  const Node *xn = N_(em, x);
  const char *ct = cpu_ctype(xn->type.dtype);
  char nm[32], body[4 * CPU_EXPR];
  if (strcmp(jx, "j") == 0) cpu_fmt(nm, sizeof nm, "t%d", x);
  else cpu_fmt(nm, sizeof nm, "t%d_%d", x, c->nvar++);
  if (x != c->root && em->inl[x] != CPU_INL_FUSED) { /* a leaf */
    int l = 0;
    while (c->leaves[l] != x) l++;
    l += c->ooff;
    const char *sl = c->rank ? c->ops[l].st[c->rank - 1] : "0";
    if (strcmp(jx, "j") == 0) cpu_fmt(body, sizeof body, "%s", c->reads[l]);
    else if (em->inl[x] == CPU_INL_CONST) cpu_read(em, x, "0", body);
    else if (strcmp(sl, "0") == 0) { /* broadcast along the last axis */
      char off[64];
      cpu_fmt(off, sizeof off, "o%d + %lld", l, (long long)c->ops[l].base);
      cpu_read(em, c->ops[l].id, off, body);
    } else {
      char len[CPU_EXPR], off[2 * CPU_EXPR], rd[CPU_EXPR];
      cpu_dim(xn->type.dims[xn->type.rank - 1], len);
      cpu_fmt(off, sizeof off, "o%d + %lld + %s * %s", l, (long long)c->ops[l].base, jx, sl);
      cpu_read(em, c->ops[l].id, off, rd);
      cpu_fmt(body, sizeof body, "%s >= 0 && %s < %s ? %s : (%s)0", jx, jx, len, rd, ct);
    }
  } else if (xn->op == OP_IOTA) {
    iota_expr(xn, jx, body);
  } else if (xn->op == OP_SLICE || xn->op == OP_PAD) {
    char iv[24], in[32], len[CPU_EXPR];
    cpu_fmt(iv, sizeof iv, "i%d_", c->nvar++);
    if (xn->op == OP_SLICE)
      sb_printf(em->b, "        const int64_t %s = %lld + %s * %lld;\n", iv, (long long)xn->attr.i[1], jx, (long long)xn->attr.i[3]);
    else sb_printf(em->b, "        const int64_t %s = %s - %lld;\n", iv, jx, (long long)xn->attr.i[1]);
    value_at(c, xn->in[0], iv, in);
    if (xn->op == OP_SLICE) cpu_fmt(body, sizeof body, "%s", in);
    else {
      const Type *it = T_(em, xn->in[0]);
      cpu_dim(it->dims[it->rank - 1], len);
      cpu_fmt(body, sizeof body, "%s >= 0 && %s < %s ? %s : (%s)0", iv, iv, len, in, ct);
    }
  } else if (xn->op == OP_CONCAT) {
    char at[CPU_EXPR] = "0";
    int n = 0;
    body[0] = 0;
    for (int i = 0; i < xn->nin && c->ok; i++) {
      char iv[24], in[32], d[CPU_EXPR], nx[3 * CPU_EXPR];
      const Type *it = T_(em, xn->in[i]);
      cpu_fmt(iv, sizeof iv, "i%d_", c->nvar++);
      sb_printf(em->b, "        const int64_t %s = %s - (%s);\n", iv, jx, at);
      value_at(c, xn->in[i], iv, in);
      cpu_dim(it->dims[it->rank - 1], d);
      if (i + 1 < xn->nin) n += cpu_fmt(body + n, sizeof body - (size_t)n, "%s < %s ? %s : ", iv, d, in);
      else n += cpu_fmt(body + n, sizeof body - (size_t)n, "%s", in);
      cpu_fmt(nx, sizeof nx, "%s + %s", at, d);
      if (strlen(nx) >= CPU_EXPR) { err_set(c->e, xn->loc, "concat: too many inputs for the CPU backend"); c->ok = 0; return; }
      memcpy(at, nx, strlen(nx) + 1);
    }
  } else {
    char ch[3][CPU_EXPR];
    for (int j = 0; j < xn->nin && c->ok; j++) value_at(c, xn->in[j], jx, ch[j]);
    if (!c->ok) return;
    DType tin = T_(em, xn->in[xn->op == OP_WHERE ? 1 : 0])->dtype;
    int ck;
    if (!c_elem_expr(&cpu_c_dialect, xn, tin, ch, body, &ck)) {
      err_set(c->e, xn->loc, "cpu: %s is not defined on %s values", op_info[xn->op].name, dtype_name(tin));
      c->ok = 0;
      return;
    }
    c->checks |= ck;
  }
  if (!c->ok) return;
  sb_printf(em->b, "        const %s %s = %s;\n", ct, nm, body);
  if (c->nval == c->cap) {
    int cap = c->cap ? 2 * c->cap : 64;
    EwVal *v = realloc(c->vals, (size_t)cap * sizeof *v);
    if (!v) { err_set(c->e, xn->loc, "cpu: out of memory"); c->ok = 0; return; }
    c->vals = v;
    c->cap = cap;
  }
  EwVal *v = &c->vals[c->nval++];
  v->x = x;
  cpu_fmt(v->jx, sizeof v->jx, "%s", jx);
  cpu_fmt(v->name, sizeof v->name, "%s", nm);
  strcpy(name, nm);
}

/* f32 sums into a per-thread double accumulator (a sum_to: its own kernel, or in another kernel's
 * loop) stage up to STAGE_ROWS rows of the loop in a float row on the stack, added into the double
 * row (dlm_stage_flush) when the row's target moves, when the count is reached and at the end: one
 * float add per element instead of a conversion and a double add, with at most STAGE_ROWS float
 * additions per element before it joins the double sum (as in the attention row sums). Both
 * places emit it alike, so fused and unfused sums keep the same bits. Targets contiguous along the
 * loop's last axis (sl "1") of constant length up to SIDE_MAX_ROW; others add in double. */
#define STAGE_ROWS 8
typedef struct { int n; long long len; Sb pre; } Stage;

static int stage_fits(const Node *sum, const Type *it, const char *sl) {
  if (sum->type.dtype != DT_F32 || it->dtype != DT_F32 || it->rank < 1 || strcmp(sl, "1") != 0) return 0;
  Dim last = it->dims[it->rank - 1];
  return dim_is_const(last) && last.k > 0 && last.k <= SIDE_MAX_ROW;
}

/* a staged target whose row starts at my_[idx]: its slot; the row code goes into st->pre */
static int stage_add(Stage *st, const Type *it, const char *idx) {
  st->len = it->dims[it->rank - 1].k;
  int i = st->n++;
  sb_printf(&st->pre, "      if (stgo_[%d] != %s || stgn_[%d] == %d) {\n", i, idx, i, STAGE_ROWS);
  sb_printf(&st->pre, "        if (stgo_[%d] >= 0) dlm_stage_flush(my_ + stgo_[%d], stg_ + %lld, %lld);\n", i, i, i * st->len, st->len);
  sb_printf(&st->pre, "        stgo_[%d] = %s;\n        stgn_[%d] = 0;\n      }\n      stgn_[%d]++;\n", i, idx, i, i);
  return i;
}

/* the staging rows, in the parallel region before the loop */
static void stage_decl(Em *em, const Stage *st) {
  if (!st->n) return;
  sb_printf(em->b, "      float stg_[%lld] = {0};\n      int64_t stgo_[%d];\n      int stgn_[%d];\n", st->n * st->len, st->n, st->n);
  sb_printf(em->b, "      for (int i_ = 0; i_ < %d; i_++) { stgo_[i_] = -1; stgn_[i_] = 0; }\n", st->n);
}

/* the last staged rows, after the loop */
static void stage_end(Em *em, const Stage *st) {
  if (!st->n) return;
  sb_printf(em->b, "      for (int i_ = 0; i_ < %d; i_++)\n        if (stgo_[i_] >= 0) dlm_stage_flush(my_ + stgo_[i_], stg_ + i_ * %lld, %lld);\n",
            st->n, st->len, st->len);
}

/* 1 if side reduction s of kernel x is a row sum that reads another side reduction of x (so its
 * row is filled after x's row is done: cpu_mark_side_sums) */
static int side_after(const Em *em, const int *at, int s, int x) {
  int grp[64], ng = 0, lv[CPU_MAX_LEAVES], nl = 0;
  if (N_(em, s)->op == OP_SUM_TO || !fused_group(em, s, grp, &ng, lv, &nl)) return 0;
  for (int l = 0; l < nl; l++)
    if (lv[l] != x && at[lv[l]] == x) return 1;
  return 0;
}

/* An f32 layer norm of the contiguous row x (n elements) into row o: the statistics by partial
 * sums in double that vectorize; the normalization in float with the mean in two parts (x - hi is
 * exact near the mean, lo carries the rest): within a few float roundings of the double result, at
 * a third of the instructions. Its own kernel and a layer norm in its input's loop (side
 * reductions) emit the same code, so they give the same bits. */
static void layer_norm_row(Em *em, const char *x, const char *o, const char *n, double eps) {
  sb_printf(em->b, "      {\n        const float *xr_ = %s;\n        float *or_ = %s;\n", x, o);
  sb_printf(em->b, "        const double mean_ = dlm_sumf(xr_, %s) / (double)%s;\n"
                   "        const double var_ = dlm_sumsqdevf(xr_, %s, mean_) / (double)%s;\n", n, n, n, n);
  sb_printf(em->b, "        const double inv_ = 1 / sqrt(var_ + %.17g);\n", eps);
  sb_printf(em->b, "        const float mh_ = (float)mean_, ml_ = (float)(mean_ - (double)mh_), if_ = (float)inv_;\n"
                   "        for (int64_t j = 0; j < %s; j++) or_[j] = ((xr_[j] - mh_) - ml_) * if_;\n      }\n", n);
}

/* The map loop operands of a fused group's leaves, over shape t (a transpose of a slice view is
 * read through the view). */
static void group_ops(Em *em, const Type *t, const int *leaves, int nl, MapOp *ops) {
  for (int l = 0; l < nl; l++) {
    ops[l].id = leaves[l];
    ops[l].base = 0;
    if (em->inl[leaves[l]] == CPU_INL_VIEW) cpu_view_read(em, leaves[l], &ops[l]);
    else cpu_bcast_strides(T_(em, leaves[l]), t, ops[l].st);
  }
}

static int emit_elementwise(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  const CpuCx *cx = (const CpuCx *)em;
  int leaves[CPU_MAX_LEAVES], nl = 0, side[CPU_MAX_SIDE], ns = 0, nrow = 0, slot[CPU_MAX_SIDE];
  Stage stg = {0};
  for (int i = 0; i < CPU_MAX_SIDE; i++) slot[i] = -1;
  if (!fused_leaves(em, id, leaves, &nl, e)) return 0;
  for (int s = 0; s < em->f->nnodes && ns < CPU_MAX_SIDE; s++)
    if (s != id && cx->at[s] == id && (N_(em, s)->op == OP_SUM_TO || N_(em, s)->op == OP_SUM || N_(em, s)->op == OP_MEAN ||
                                       N_(em, s)->op == OP_LAYER_NORM)) {
      cpu_node_comment(em, s, "reduced here: ");
      side[ns++] = s;
      if (add_leaves(em, s, id, leaves, &nl) < 0) {
        err_set(e, n->loc, "cpu: internal error: fused kernel over its limits");
        return 0;
      }
      if (N_(em, s)->op != OP_SUM_TO) nrow++;
    }
  /* where each sum_to's partial sums start in a thread's row of sacc_ (soff), and that row's length */
  char soff[CPU_MAX_SIDE][CPU_EXPR], stot[CPU_EXPR] = "0";
  for (int i = 0; i < ns; i++) {
    if (N_(em, side[i])->op != OP_SUM_TO) continue;
    char no[CPU_EXPR], nx[3 * CPU_EXPR];
    strcpy(soff[i], stot);
    cpu_prod(T_(em, side[i]), 0, T_(em, side[i])->rank, no);
    cpu_fmt(nx, sizeof nx, "%s + %s", stot, no);
    if (strlen(nx) >= CPU_EXPR) {
      err_set(e, n->loc, "cpu: too many reductions in one loop");
      return 0;
    }
    strcpy(stot, nx);
  }
  MapOp *ops = malloc((size_t)(nl + ns + 1) * sizeof *ops);
  char (*reads)[CPU_EXPR] = malloc((size_t)(nl + ns + 1) * sizeof *reads);
  if (!ops || !reads) {
    free(ops);
    free(reads);
    err_set(e, n->loc, "cpu: out of memory");
    return 0;
  }
  group_ops(em, &n->type, leaves, nl, ops);
  int nop = nl;
  if (ns) { /* per-thread double partial sums of the sum_tos (as emit_sum_to makes them), rows of the row sums */
    char numel[CPU_EXPR];
    cpu_prod(&n->type, 0, n->type.rank, numel);
    sb_printf(em->b, "  {\n    const int NT_ = %s > %s ? omp_get_max_threads() : 1;\n    const int64_t NS_ = %s", numel, PAR_MIN, stot);
    /* the rows are a local array (known not to alias the buffers, so the loop still vectorizes) */
    sb_printf(em->b, ";\n    double *sacc_ = (double *)malloc((size_t)NT_ * (size_t)(NS_ > 0 ? NS_ : 1) * sizeof *sacc_);\n"
                     "    if (!sacc_) { rc = -1; goto done; }\n#pragma omp parallel num_threads(NT_)\n    {\n"
                     "      const int nt_ = omp_get_num_threads();\n"
                     "      double *my_ = sacc_ + (int64_t)omp_get_thread_num() * NS_;\n      float row_[%lld];\n"
                     "      (void)nt_; (void)my_; (void)row_;\n      memset(my_, 0, (size_t)NS_ * sizeof *my_);\n",
              nrow ? (long long)nrow * n->type.dims[n->type.rank - 1].k : 1LL);
    for (int i = 0; i < ns; i++)
      if (N_(em, side[i])->op == OP_SUM_TO) {
        ops[nop].id = -1;
        ops[nop].base = 0;
        cpu_bcast_strides(T_(em, side[i]), &n->type, ops[nop].st);
        char idx[2 * CPU_EXPR];
        cpu_fmt(idx, sizeof idx, "%s + o%d", soff[i], nop);
        slot[i] = stage_fits(N_(em, side[i]), &n->type, ops[nop].st[n->type.rank - 1]) ? stage_add(&stg, &n->type, idx) : -1;
        nop++;
      }
    stage_decl(em, &stg);
  }
  map_begin(em, &n->type, ns ? 2 : 1, nop, ops, reads, stg.n ? stg.pre.s : NULL);
  sb_free(&stg.pre);
  EwCx c = {em, leaves, id, nl, n->type.rank, 0, 0, 0, 0, 1, ops, reads, NULL, e, 0};
  char top[32];
  value_at(&c, id, "j", top);
  if (c.ok) sb_printf(em->b, "        v%d[k] = %s;\n", id, top);
  /* rowi: a row sum's row in row_; late: a row sum that reads another one of this loop (filled in
   * a second pass over the row once that one is known) */
  int rowi[CPU_MAX_SIDE], late[CPU_MAX_SIDE], nlate = 0;
  for (int i = 0, r = 0; i < ns; i++) {
    rowi[i] = N_(em, side[i])->op == OP_SUM_TO ? -1 : r++;
    late[i] = rowi[i] >= 0 && side_after(em, cx->at, side[i], id);
    nlate += late[i];
  }
  char rowval[CPU_MAX_SIDE][32];
  for (int i = 0, a = nl; c.ok && i < ns; i++) {
    const Node *sn = N_(em, side[i]);
    char val[32];
    if (late[i]) continue;
    value_at(&c, sn->in[0], "j", val);
    if (!c.ok) break;
    if (sn->op == OP_SUM_TO) {
      const char *sl = ops[a].st[n->type.rank - 1];
      if (slot[i] >= 0) sb_printf(em->b, "        stg_[%lld + j] += %s;\n", slot[i] * stg.len, val);
      else sb_printf(em->b, "        my_[%s + o%d + j * %s] += (double)%s;\n", soff[i], a, sl, val);
      a++;
    } else { /* a row sum or layer norm of a value another one already keeps reads that row */
      int same = -1;
      for (int k = 0; k < i; k++)
        if (rowi[k] >= 0 && !late[k] && strcmp(rowval[k], val) == 0) same = k;
      if (same >= 0) rowi[i] = rowi[same];
      else sb_printf(em->b, "        row_[%d * L_ + j] = %s;\n", rowi[i], val);
      strcpy(rowval[i], val);
    }
  }
  int checks = c.checks, ok = c.ok;
  free(c.vals);
  if (ok && ns) {
    sb_printf(em->b, "      }\n");   /* the row q is complete: its row sums */
    for (int i = 0; i < ns; i++)
      if (N_(em, side[i])->op == OP_LAYER_NORM) {
        char xr[32], orow[48];
        cpu_fmt(xr, sizeof xr, "row_ + %d * L_", rowi[i]);
        cpu_fmt(orow, sizeof orow, "v%d + q * L_", side[i]);
        layer_norm_row(em, xr, orow, "L_", N_(em, side[i])->attr.f[0]);
      } else if (rowi[i] >= 0 && !late[i])
        sb_printf(em->b, "      v%d[q] = (float)(dlm_sumf(row_ + %d * L_, L_)%s);\n", side[i], rowi[i], N_(em, side[i])->op == OP_MEAN ? " / (double)L_" : "");
    if (nlate) { /* the second pass: the values again (leaves read as in the first, in cache) */
      EwCx c2 = {em, leaves, id, nl, n->type.rank, 0, 0, 0, 0, 1, ops, reads, NULL, e, 0};
      sb_printf(em->b, "      for (int64_t j = 0; j < L_; j++) {\n        const int64_t k = q * L_ + j;\n        (void)k;\n");
      for (int i = 0; c2.ok && i < ns; i++) {
        char val[32];
        if (!late[i]) continue;
        value_at(&c2, N_(em, side[i])->in[0], "j", val);
        if (c2.ok) sb_printf(em->b, "        row_[%d * L_ + j] = %s;\n", rowi[i], val);
      }
      sb_printf(em->b, "      }\n");
      for (int i = 0; i < ns; i++)
        if (late[i])
          sb_printf(em->b, "      v%d[q] = (float)(dlm_sumf(row_ + %d * L_, L_)%s);\n", side[i], rowi[i], N_(em, side[i])->op == OP_MEAN ? " / (double)L_" : "");
      checks |= c2.checks;
      ok = c2.ok;
      free(c2.vals);
    }
  }
  free(ops);
  free(reads);
  if (!ok) return 0;
  if (!ns) map_end(em, 1);
  else {
    sb_printf(em->b, "    }\n");
    stage_end(em, &stg);
    /* the threads' sums added in thread order, split over the threads once all are in */
    sb_printf(em->b, "  }\n#pragma omp barrier\n");
    for (int i = 0; i < ns; i++) {
      const Node *sn = N_(em, side[i]);
      if (sn->op != OP_SUM_TO) continue;
      char no[CPU_EXPR];
      cpu_prod(&sn->type, 0, sn->type.rank, no);
      sb_printf(em->b, "#pragma omp for schedule(static) nowait\n    for (int64_t k = 0; k < %s; k++) {\n      double s_ = 0;\n"
                       "      for (int t = 0; t < nt_; t++) s_ += sacc_[(int64_t)t * NS_ + %s + k];\n      v%d[k] = (float)s_;\n    }\n",
                no, soff[i], side[i]);
    }
    sb_printf(em->b, "    }\n    free(sacc_);\n  }\n");
  }
  if (checks) {
    char msg[128];
    cpu_fmt(msg, sizeof msg, "%s: %s", op_info[n->op].name,
             n->op == OP_CAST ? "value out of range for the integer type" :
             n->op == OP_POW ? "integer base to a negative integer power" : "integer division by zero");
    cpu_fail(em, id, msg);
  }
  return 1;
}

/* The read of transpose t's elements in place: through its input's permuted strides, or when
 * that input is a slice view (CPU_INL_VIEW), from the slice's input, from column `start`, through
 * the view's strides (slice_view_ok). */
void cpu_view_read(const Em *em, int t, MapOp *op) {
  const Node *n = N_(em, t);
  const Type *it = T_(em, n->in[0]);
  if (em->inl[n->in[0]] != CPU_INL_VIEW) {
    op->id = n->in[0];
    op->base = 0;
    for (int d = 0; d < n->type.rank; d++) cpu_prod(it, (int)n->attr.i[d] + 1, it->rank, op->st[d]);
    return;
  }
  const Node *sn = N_(em, N_(em, n->in[0])->op == OP_RESHAPE ? N_(em, n->in[0])->in[0] : n->in[0]);
  const Type *st = T_(em, sn->in[0]);
  int64_t w = sn->type.dims[sn->type.rank - 1].k, p = st->dims[st->rank - 1].k;
  op->id = sn->in[0];
  op->base = sn->attr.i[1];
  for (int d = 0; d < n->type.rank; d++) {
    int dd = (int)n->attr.i[d];
    if (dd == 0) { /* the leading dim: whole rows of the input */
      char rest[CPU_EXPR];
      cpu_prod(it, 1, it->rank, rest);
      cpu_fmt(op->st[d], CPU_EXPR, "(%s / %lld * %lld)", rest, (long long)w, (long long)p);
      continue;
    }
    int64_t rs = 1;
    for (int e = dd + 1; e < it->rank; e++) rs *= it->dims[e].k;
    cpu_fmt(op->st[d], CPU_EXPR, "%lld", (long long)(rs >= w ? rs / w * p : rs));
  }
}

/* broadcast_to and transpose: a copy through strides (a transpose of a slice view reads the
 * slice's input through the view's strides) */
static void emit_copy_map(Em *em, int id) {
  const Node *n = N_(em, id);
  MapOp op;
  char reads[1][CPU_EXPR];
  const Type *it = T_(em, n->in[0]);
  op.id = n->in[0];
  op.base = 0;
  if (n->op == OP_TRANSPOSE && em->inl[n->in[0]] == CPU_INL_VIEW) cpu_view_read(em, id, &op);
  else if (n->op == OP_TRANSPOSE)
    for (int d = 0; d < n->type.rank; d++) cpu_prod(it, (int)n->attr.i[d] + 1, it->rank, op.st[d]);
  else cpu_bcast_strides(it, &n->type, op.st);
  map_begin(em, &n->type, 1, 1, &op, reads, NULL);
  sb_printf(em->b, "        v%d[k] = %s;\n", id, reads[0]);
  map_end(em, 1);
}

/* ---------------------------------------------------------------- sources */
static void emit_fill(Em *em, int id, const char *what) {
  const Node *n = N_(em, id);
  char numel[CPU_EXPR];
  cpu_prod(&n->type, 0, n->type.rank, numel);
  sb_printf(em->b, "#pragma omp parallel for if (%s > %s) schedule(static)\n", numel, PAR_MIN);
  sb_printf(em->b, "  for (int64_t k = 0; k < %s; k++) v%d[k] = %s;\n", numel, id, what);
}

static int emit_source(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  char x[4 * CPU_EXPR];
  int axis;
  switch (n->op) {
  case OP_CONST: {
    char lit[CPU_EXPR];
    cpu_const_literal(n, lit);
    emit_fill(em, id, lit);
    return 1;
  }
  case OP_IOTA: {
    char outer_in[CPU_EXPR], len[CPU_EXPR];
    if (!norm_axis(n->attr.i[0], n->type.rank, &axis)) { err_set(e, n->loc, "iota: axis out of range"); return 0; }
    cpu_prod(&n->type, axis + 1, n->type.rank, outer_in);
    cpu_dim(n->type.dims[axis], len);
    cpu_fmt(x, sizeof x, "(%s)((k / %s) %% %s)", cpu_ctype(n->type.dtype), outer_in, len);
    emit_fill(em, id, x);
    return 1;
  }
  case OP_RAND: {
    char seed[CPU_EXPR], off[CPU_EXPR];
    cpu_read(em, n->in[0], "0", seed);
    cpu_read(em, n->in[1], "0", off);
    cpu_fmt(x, sizeof x, "(%s)dlm_philox_u((uint64_t)%s, (uint64_t)%s, %uu, (uint64_t)k, %d)",
             cpu_ctype(n->type.dtype), seed, off, (unsigned)n->attr.i[0], n->type.dtype == DT_F64);
    emit_fill(em, id, x);
    return 1;
  }
  default: return 0;
  }
}

/* ---------------------------------------------------------------- reductions and row kernels */
/* Open a parallel loop over q in [0, OU_*IN_) with base_ = the row start along axis of type t. */
static void rows_begin(Em *em, const Type *t, int axis) {
  char ou[CPU_EXPR], len[CPU_EXPR], in[CPU_EXPR];
  cpu_prod(t, 0, axis, ou);
  cpu_dim(t->dims[axis], len);
  cpu_prod(t, axis + 1, t->rank, in);
  sb_printf(em->b, "  {\n    const int64_t OU_ = %s, LEN_ = %s, IN_ = %s;\n", ou, len, in);
  sb_printf(em->b, "#pragma omp parallel for if (OU_ * LEN_ * IN_ > %s) schedule(static)\n", PAR_MIN);
  sb_printf(em->b, "    for (int64_t q = 0; q < OU_ * IN_; q++) {\n      const int64_t base_ = (q / IN_) * LEN_ * IN_ + q %% IN_;\n      (void)base_;\n");
}

static void rows_end(Em *em) { sb_printf(em->b, "    }\n  }\n"); }

/* the running maximum of row reads (NaN wins) into double mx_ */
static void emit_row_max(Em *em, const char *rd) {
  sb_printf(em->b, "      double mx_ = -INFINITY;\n      for (int64_t j = 0; j < LEN_; j++) {\n"
                   "        const double x_ = %s;\n        if (isnan(x_)) { mx_ = x_; break; }\n        if (x_ > mx_) mx_ = x_;\n      }\n", rd);
}

/* The start of a parallel kernel over the rows (last axis) of id's fused f32 elementwise input:
 * each thread allocates a row buffer named row (a failure sets bad, and the row is then not
 * stored), and the loop over a row computes its values into it; the code that follows is inside
 * the loop over the rows (index q, length L_). Returns 0 with an error on failure. */
static int fused_rows_begin(Em *em, int id, const int *leaves, int nl, const char *row, DlmErr *e) {
  const Type *it = T_(em, N_(em, id)->in[0]);
  MapOp ops[CPU_MAX_LEAVES];
  char rd[CPU_MAX_LEAVES][CPU_EXPR], len[CPU_EXPR], numel[CPU_EXPR], in[32];
  group_ops(em, it, leaves, nl, ops);
  cpu_dim(it->dims[it->rank - 1], len);
  cpu_prod(it, 0, it->rank, numel);
  sb_printf(em->b, "#pragma omp parallel if (%s > %s)\n  {\n    float *%s = (float *)dlm_alloc(%s, sizeof(float));\n    if (!%s) bad = 1;\n",
            numel, PAR_MIN, row, len, row);
  map_begin(em, it, 2, nl, ops, rd, NULL);
  EwCx c = {em, leaves, -1, nl, it->rank, 0, 0, 0, 0, 1, ops, rd, NULL, e, 0};
  value_at(&c, N_(em, id)->in[0], "j", in);
  free(c.vals);
  if (!c.ok) return 0;
  sb_printf(em->b, "        if (%s) %s[j] = %s;\n      }\n", row, row, in);
  return 1;
}

/* sum or mean over the last axis of an f32 elementwise expression fused into it (layer norm's
 * gradient): each row's values go to a per-thread row buffer, summed by dlm_sumf. */
static int emit_row_sum_fused(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  const Type *it = T_(em, n->in[0]);
  int leaves[CPU_MAX_LEAVES], nl = 0;
  if (!fused_leaves(em, id, leaves, &nl, e)) return 0;
  char len[CPU_EXPR], nout[CPU_EXPR];
  cpu_dim(it->dims[it->rank - 1], len);
  cpu_prod(&n->type, 0, n->type.rank, nout);
  sb_printf(em->b, "  if (%s == 0) memset(v%d, 0, (size_t)%s * sizeof(float)); /* sums over an empty axis */\n", len, id, nout);
  if (!fused_rows_begin(em, id, leaves, nl, "row_", e)) return 0;
  sb_printf(em->b, "      v%d[q] = row_ ? (float)(dlm_sumf(row_, L_)%s) : 0;\n    }\n  }\n", id, n->op == OP_MEAN ? " / (double)L_" : "");
  sb_printf(em->b, "    free(row_);\n  }\n");
  cpu_fail(em, id, "out of memory");
  return 1;
}

static int emit_reduce(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  const Type *it = T_(em, n->in[0]);
  int axis;
  if (!norm_axis(n->attr.i[0], it->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  char rd[CPU_EXPR], rb[CPU_EXPR], ww[4 * CPU_EXPR];
  const char *ct = cpu_ctype(n->type.dtype);
  int fl = dtype_is_float(it->dtype);
  if (n->op == OP_RMAX || n->op == OP_ARGMAX || n->op == OP_MEAN) {
    char len[CPU_EXPR], numel[CPU_EXPR];
    cpu_dim(it->dims[axis], len);
    cpu_prod(&n->type, 0, n->type.rank, numel);
    sb_printf(em->b, "  bad = %s == 0 && %s > 0;\n", len, numel);
    char msg[96];
    cpu_fmt(msg, sizeof msg, "%s: reduction over an empty axis", op_info[n->op].name);
    cpu_fail(em, id, msg);
  }
  if (em->inl[n->in[0]] == CPU_INL_FUSED) return emit_row_sum_fused(em, id, e);
  cpu_read(em, n->in[0], "base_ + j * IN_", rd);
  rows_begin(em, it, axis);
  switch (n->op) {
  case OP_SUM:
  case OP_MEAN:
    if (it->dtype == DT_F32 && axis == it->rank - 1 && em->inl[n->in[0]] == 0) /* contiguous rows */
      sb_printf(em->b, "      v%d[q] = (%s)(dlm_sumf(v%d + base_, LEN_)%s);\n", id, ct, n->in[0], n->op == OP_MEAN ? " / (double)LEN_" : "");
    else if (fl) {
      sb_printf(em->b, "      double s_ = 0;\n      for (int64_t j = 0; j < LEN_; j++) s_ += %s;\n", rd);
      sb_printf(em->b, "      v%d[q] = (%s)(s_%s);\n", id, ct, n->op == OP_MEAN ? " / (double)LEN_" : "");
    } else {
      sb_printf(em->b, "      uint64_t s_ = 0;\n      for (int64_t j = 0; j < LEN_; j++) s_ += (uint64_t)%s;\n", rd);
      c_wrap_int(n->type.dtype, "s_", ww);
      sb_printf(em->b, "      v%d[q] = %s;\n", id, ww);
    }
    break;
  case OP_RMAX:
    if (fl) {
      emit_row_max(em, rd);
      sb_printf(em->b, "      v%d[q] = (%s)mx_;\n", id, ct);
    } else {
      cpu_read(em, n->in[0], "base_", rb);
      sb_printf(em->b, "      int64_t mx_ = %s;\n      for (int64_t j = 0; j < LEN_; j++) if (%s > mx_) mx_ = %s;\n", rb, rd, rd);
      sb_printf(em->b, "      v%d[q] = (%s)mx_;\n", id, ct);
    }
    break;
  case OP_LOGSUMEXP:
    emit_row_max(em, rd);
    sb_printf(em->b, "      double s_ = 0;\n      if (!isnan(mx_) && !isinf(mx_)) for (int64_t j = 0; j < LEN_; j++) s_ += exp(%s - mx_);\n", rd);
    sb_printf(em->b, "      v%d[q] = (%s)(isnan(mx_) || isinf(mx_) ? mx_ : mx_ + log(s_));\n", id, ct);
    break;
  case OP_ARGMAX:
    cpu_read(em, n->in[0], "base_ + best_ * IN_", rb);
    sb_printf(em->b, "      int64_t best_ = 0;\n      for (int64_t j = %d; j < LEN_; j++) {\n", fl ? 0 : 1);
    if (fl) sb_printf(em->b, "        if (isnan(%s)) { best_ = j; break; }\n", rd);
    sb_printf(em->b, "        if (%s > %s) best_ = j;\n      }\n      v%d[q] = (%s)best_;\n", rd, rb, id, ct);
    break;
  default: return 0;
  }
  rows_end(em);
  return 1;
}

/* The f32 softmax or log_softmax of row x_ into row o_ (n elements): the maximum by dlm_maxf_row
 * (a NaN still makes the whole row NaN, through its exponential and the sum), the exponentials by
 * dlm_exp_le0 into the output row, their sum by dlm_sumf: loops that vectorize. */
static void softmax_row(Em *em, OpKind op, const char *n) {
  sb_printf(em->b, "      const float mf_ = dlm_maxf_row(x_, %s);\n", n);
  sb_printf(em->b, "      for (int64_t j = 0; j < %s; j++) o_[j] = dlm_exp_le0(x_[j] - mf_);\n", n);
  sb_printf(em->b, "      const double s_ = dlm_sumf(o_, %s);\n", n);
  if (op == OP_SOFTMAX) /* times the float reciprocal of the sum (a division per element is slow) */
    sb_printf(em->b, "      const float inv_ = (float)(1 / s_);\n      for (int64_t j = 0; j < %s; j++) o_[j] *= inv_;\n", n);
  else sb_printf(em->b, "      const double ls_ = log(s_);\n      for (int64_t j = 0; j < %s; j++) o_[j] = (float)(((double)x_[j] - (double)mf_) - ls_);\n", n);
}

/* softmax_fused_input: each row of the fused elementwise input is computed into a per-thread row
 * (the values the unfused input's buffer would hold), then normalized into the output row */
static int emit_softmax_fused(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  int leaves[CPU_MAX_LEAVES], nl = 0;
  if (!fused_leaves(em, id, leaves, &nl, e)) return 0;
  if (!fused_rows_begin(em, id, leaves, nl, "xr_", e)) return 0;
  sb_printf(em->b, "      if (!xr_) continue;\n      const float *x_ = xr_;\n      float *o_ = v%d + q * L_;\n", id);
  softmax_row(em, n->op, "L_");
  sb_printf(em->b, "    }\n  }\n    free(xr_);\n  }\n");
  cpu_fail(em, id, "out of memory");
  return 1;
}

static int emit_softmax(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  const Type *it = T_(em, n->in[0]);
  int axis;
  if (!norm_axis(n->attr.i[0], it->rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  char rd[CPU_EXPR];
  const char *ct = cpu_ctype(n->type.dtype);
  const char *ex = n->type.dtype == DT_F64 ? "exp" : "expf";
  if (em->inl[n->in[0]] == CPU_INL_FUSED) return emit_softmax_fused(em, id, e);
  cpu_read(em, n->in[0], "base_ + j * IN_", rd);
  rows_begin(em, it, axis);
  if (n->type.dtype == DT_F32 && axis == it->rank - 1 && em->inl[n->in[0]] == 0) {
    sb_printf(em->b, "      const float *x_ = v%d + base_;\n      float *o_ = v%d + base_;\n", n->in[0], id);
    softmax_row(em, n->op, "LEN_");
    rows_end(em);
    return 1;
  }
  emit_row_max(em, rd);
  if (n->op == OP_SOFTMAX) { /* the exponentials go to the output, then are scaled */
    sb_printf(em->b, "      double s_ = 0;\n      for (int64_t j = 0; j < LEN_; j++) {\n        const %s e_ = %s((%s)(%s - mx_));\n"
                     "        v%d[base_ + j * IN_] = e_;\n        s_ += e_;\n      }\n", ct, ex, ct, rd, id);
    sb_printf(em->b, "      for (int64_t j = 0; j < LEN_; j++) v%d[base_ + j * IN_] = (%s)(v%d[base_ + j * IN_] / s_);\n", id, ct, id);
  } else {
    sb_printf(em->b, "      double s_ = 0;\n      for (int64_t j = 0; j < LEN_; j++) s_ += %s((%s)(%s - mx_));\n", ex, ct, rd);
    sb_printf(em->b, "      const double ls_ = log(s_);\n      for (int64_t j = 0; j < LEN_; j++) v%d[base_ + j * IN_] = (%s)((%s - mx_) - ls_);\n",
              id, ct, rd);
  }
  rows_end(em);
  return 1;
}

static int emit_layer_norm(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  const Type *it = T_(em, n->in[0]);
  if (it->rank == 0) { err_set(e, n->loc, "layer_norm: needs an input of rank >= 1"); return 0; }
  char rd[CPU_EXPR];
  cpu_read(em, n->in[0], "base_ + j * IN_", rd);
  rows_begin(em, it, it->rank - 1);
  if (it->dtype == DT_F32 && em->inl[n->in[0]] == 0) {
    char xr[32], orow[32];
    cpu_fmt(xr, sizeof xr, "v%d + base_", n->in[0]);
    cpu_fmt(orow, sizeof orow, "v%d + base_", id);
    layer_norm_row(em, xr, orow, "LEN_", n->attr.f[0]);
    rows_end(em);
    return 1;
  }
  sb_printf(em->b, "      double mean_ = 0, var_ = 0;\n      for (int64_t j = 0; j < LEN_; j++) mean_ += %s;\n      mean_ /= (double)LEN_;\n", rd);
  sb_printf(em->b, "      for (int64_t j = 0; j < LEN_; j++) { const double d_ = %s - mean_; var_ += d_ * d_; }\n", rd);
  sb_printf(em->b, "      var_ /= (double)LEN_;\n      const double inv_ = 1 / sqrt(var_ + %.17g);\n", n->attr.f[0]);
  sb_printf(em->b, "      for (int64_t j = 0; j < LEN_; j++) v%d[base_ + j * IN_] = (%s)((%s - mean_) * inv_);\n", id,
            cpu_ctype(n->type.dtype), rd);
  rows_end(em);
  return 1;
}

static int emit_cumsum(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  const Type *it = T_(em, n->in[0]);
  int axis;
  if (!norm_axis(n->attr.i[0], it->rank, &axis)) { err_set(e, n->loc, "cumsum: axis out of range"); return 0; }
  char rd[CPU_EXPR], ww[4 * CPU_EXPR];
  cpu_read(em, n->in[0], "base_ + j * IN_", rd);
  rows_begin(em, it, axis);
  if (dtype_is_float(it->dtype)) {
    sb_printf(em->b, "      double s_ = 0;\n      for (int64_t j = 0; j < LEN_; j++) { s_ += %s; v%d[base_ + j * IN_] = (%s)s_; }\n",
              rd, id, cpu_ctype(n->type.dtype));
  } else {
    c_wrap_int(n->type.dtype, "s_", ww);
    sb_printf(em->b, "      uint64_t s_ = 0;\n      for (int64_t j = 0; j < LEN_; j++) { s_ += (uint64_t)%s; v%d[base_ + j * IN_] = %s; }\n",
              rd, id, ww);
  }
  rows_end(em);
  return 1;
}

static int emit_sort(Em *em, int id) {
  const Node *n = N_(em, id);
  const Type *it = T_(em, n->in[0]);
  char len[CPU_EXPR], numel[CPU_EXPR];
  cpu_dim(it->dims[it->rank - 1], len);
  cpu_prod(it, 0, it->rank, numel);
  const char *fn = it->dtype == DT_F64 ? "dlm_sort_f64" : it->dtype == DT_I32 ? "dlm_sort_i32" :
                   it->dtype == DT_I64 ? "dlm_sort_i64" : "dlm_sort_f32";
  sb_printf(em->b, "  {\n    const int64_t LEN_ = %s, ROWS_ = LEN_ ? %s / LEN_ : 0;\n", len, numel);
  sb_printf(em->b, "    int64_t *ix_ = (int64_t *)dlm_alloc(2 * LEN_, sizeof(int64_t));\n    if (!ix_) { rc = -1; goto done; }\n");
  sb_printf(em->b, "    for (int64_t r = 0; r < ROWS_; r++) {\n      %s(v%d + r * LEN_, ix_, ix_ + LEN_, LEN_);\n", fn, n->in[0]);
  sb_printf(em->b, "      for (int64_t j = 0; j < LEN_; j++) v%d[r * LEN_ + j] = v%d[r * LEN_ + ix_[j]];\n    }\n    free(ix_);\n  }\n",
            id, n->in[0]);
  return 1;
}

/* sum_to and scatter_add accumulate in double (floats) or uint64 (integers): each thread into its
 * own copy of the output (my_, zeroed by its thread), summed in thread order at the end, the
 * output's elements split over the threads (an f32 sum_to through float rows of a few
 * input rows each: see Stage). The body between acc_begin and acc_end runs in
 * a parallel region (work: the element count that decides whether it is worth threads). */
static const char *acc_type(const Node *n) { return dtype_is_float(n->type.dtype) ? "double" : "uint64_t"; }

static void acc_begin(Em *em, const Node *n, const char *numel, const char *work) {
  const char *at = acc_type(n);
  sb_printf(em->b, "  {\n    const int64_t NO_ = %s;\n    const int NT_ = %s > %s ? omp_get_max_threads() : 1;\n", numel, work, PAR_MIN);
  sb_printf(em->b, "    %s *acc_ = (%s *)malloc((size_t)NT_ * (size_t)(NO_ > 0 ? NO_ : 1) * sizeof *acc_);\n", at, at);
  sb_printf(em->b, "    if (!acc_) { rc = -1; goto done; }\n#pragma omp parallel num_threads(NT_)\n    {\n");
  sb_printf(em->b, "      const int nt_ = omp_get_num_threads();\n      %s *my_ = acc_ + (int64_t)omp_get_thread_num() * NO_;\n", at);
  sb_printf(em->b, "      memset(my_, 0, (size_t)NO_ * sizeof *my_);\n");
}

static void acc_end(Em *em, int id) {
  const Node *n = N_(em, id);
  char ww[4 * CPU_EXPR];
  if (dtype_is_float(n->type.dtype)) cpu_fmt(ww, sizeof ww, "(%s)s_", cpu_ctype(n->type.dtype));
  else c_wrap_int(n->type.dtype, "s_", ww);
  sb_printf(em->b, "#pragma omp barrier\n#pragma omp for schedule(static) nowait\n    for (int64_t k = 0; k < NO_; k++) {\n      %s s_ = 0;\n", acc_type(n));
  sb_printf(em->b, "      for (int t = 0; t < nt_; t++) s_ += acc_[(int64_t)t * NO_ + k];\n      v%d[k] = %s;\n    }\n    }\n    free(acc_);\n  }\n", id, ww);
}

/* sum_to: each thread adds its share of the input into its own copy of the output; an
 * elementwise input fused into it (a product summed over the batch) is computed in the loop */
static int emit_sum_to(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  const Type *it = T_(em, n->in[0]);
  char numel[CPU_EXPR], in[CPU_EXPR], work[CPU_EXPR];
  int leaves[CPU_MAX_LEAVES], nl = 0;
  if (!fused_leaves(em, id, leaves, &nl, e)) return 0;
  cpu_prod(&n->type, 0, n->type.rank, numel);
  cpu_prod(it, 0, it->rank, work);
  MapOp ops[1 + CPU_MAX_LEAVES];
  char rd[1 + CPU_MAX_LEAVES][CPU_EXPR];
  ops[0].id = -1;
  ops[0].base = 0;
  cpu_bcast_strides(&n->type, it, ops[0].st);
  int fused = em->inl[n->in[0]] == CPU_INL_FUSED;
  if (fused) group_ops(em, it, leaves, nl, ops + 1);
  acc_begin(em, n, numel, work);
  const char *sl = it->rank ? ops[0].st[it->rank - 1] : "0";
  Stage stg = {0};
  if (stage_fits(n, it, sl)) stage_add(&stg, it, "o0");
  stage_decl(em, &stg);
  map_begin(em, it, 2, fused ? 1 + nl : 1, ops, rd, stg.n ? stg.pre.s : NULL);
  sb_free(&stg.pre);
  if (fused) {
    EwCx c = {em, leaves, -1, nl, it->rank, 0, 0, 0, 0, 1, ops, rd, NULL, e, 1};
    value_at(&c, n->in[0], "j", in);
    free(c.vals);
    if (!c.ok) return 0;
  } else cpu_read(em, n->in[0], "k", in);
  if (stg.n) sb_printf(em->b, "        stg_[j] += %s;\n", in);
  else sb_printf(em->b, "        my_[o0 + j * %s] += (%s)%s;\n", sl, acc_type(n), in);
  sb_printf(em->b, "      }\n    }\n");
  stage_end(em, &stg);
  sb_printf(em->b, "  }\n");
  acc_end(em, id);
  return 1;
}

/* scatter_add: a counting sort of the indices lists, for each output row, the source rows added
 * into it in ascending order; then threads take output rows and sum each in blocks of 16 columns
 * held in local accumulators (double or uint64) across the row's source rows. Every element is the
 * interpreter's sum in its order, whatever the number of threads, the source is read once and no
 * thread needs a copy of the output. */
static void emit_scatter_add(Em *em, int id) {
  const Node *n = N_(em, id);
  const Type *ix = T_(em, n->in[1]), *src = T_(em, n->in[0]);
  const char *at = acc_type(n);
  char rows[CPU_EXPR], row[CPU_EXPR], ni[CPU_EXPR], ri[CPU_EXPR], rs[CPU_EXPR], w16[4 * CPU_EXPR], w1[4 * CPU_EXPR], work[CPU_EXPR];
  cpu_dim(n->type.dims[0], rows);
  cpu_prod(&n->type, 1, n->type.rank, row);
  cpu_prod(ix, 0, ix->rank, ni);
  cpu_prod(src, 0, src->rank, work);
  cpu_read(em, n->in[1], "k", ri);
  cpu_read(em, n->in[0], "k * ROW_ + j", rs);
  if (dtype_is_float(n->type.dtype)) {
    cpu_fmt(w16, sizeof w16, "(%s)s_[u]", cpu_ctype(n->type.dtype));
    cpu_fmt(w1, sizeof w1, "(%s)s1_", cpu_ctype(n->type.dtype));
  } else {
    c_wrap_int(n->type.dtype, "s_[u]", w16);
    c_wrap_int(n->type.dtype, "s1_", w1);
  }
  sb_printf(em->b, "  {\n    const int64_t ROWS_ = %s, ROW_ = %s, NI_ = %s;\n", rows, row, ni);
  /* st_[r] .. st_[r + 1]: row r's entries of ord_ (source rows, ascending); at_[r]: the next free one */
  sb_printf(em->b, "    int64_t *st_ = (int64_t *)calloc((size_t)(2 * ROWS_ + 1 + NI_), sizeof(int64_t));\n"
                   "    if (!st_) { rc = -1; goto done; }\n    int64_t *at_ = st_ + ROWS_ + 1, *ord_ = at_ + ROWS_;\n");
  sb_printf(em->b, "    for (int64_t k = 0; k < NI_; k++) {\n      const int64_t r_ = (int64_t)%s;\n"
                   "      if (r_ < 0 || r_ >= ROWS_) { bad = 1; break; }\n      st_[r_ + 1]++;\n    }\n", ri);
  sb_printf(em->b, "    if (!bad) {\n      for (int64_t r = 0; r < ROWS_; r++) { st_[r + 1] += st_[r]; at_[r] = st_[r]; }\n"
                   "      for (int64_t k = 0; k < NI_; k++) ord_[at_[(int64_t)%s]++] = k;\n", ri);
  sb_printf(em->b, "#pragma omp parallel for if (%s > %s) schedule(dynamic, 8)\n      for (int64_t r = 0; r < ROWS_; r++) {\n"
                   "        const int64_t e0_ = st_[r], e1_ = st_[r + 1];\n        int64_t j0_ = 0;\n", work, PAR_MIN);
  sb_printf(em->b, "        for (; j0_ + 16 <= ROW_; j0_ += 16) {\n          %s s_[16] = {0};\n"
                   "          for (int64_t e_ = e0_; e_ < e1_; e_++) {\n            const int64_t k = ord_[e_];\n"
                   "            for (int u = 0; u < 16; u++) {\n              const int64_t j = j0_ + u;\n              s_[u] += (%s)%s;\n"
                   "            }\n          }\n", at, at, rs);
  sb_printf(em->b, "          for (int u = 0; u < 16; u++) v%d[r * ROW_ + j0_ + u] = %s;\n        }\n", id, w16);
  sb_printf(em->b, "        for (; j0_ < ROW_; j0_++) {\n          const int64_t j = j0_;\n          %s s1_ = 0;\n"
                   "          for (int64_t e_ = e0_; e_ < e1_; e_++) {\n            const int64_t k = ord_[e_];\n            s1_ += (%s)%s;\n          }\n",
            at, at, rs);
  sb_printf(em->b, "          v%d[r * ROW_ + j] = %s;\n        }\n      }\n    }\n    free(st_);\n  }\n", id, w1);
  cpu_fail(em, id, "scatter_add: index out of range");
}

/* ---------------------------------------------------------------- layout */
/* Copy rows along axis: a slice takes input rows start, start + step, ... (olen of them) of each
 * outer block; pad / concat place the whole input at row `at` of the output axis. With step 1 (or
 * pad / concat) each outer block is one contiguous run of CNT_ x IN_ elements on both sides,
 * copied by one loop (a slice or pad of the last axis would otherwise be one element per outer
 * iteration), and zero_rest (pad) zeroes the rest of the output block in the same pass; with
 * step > 1, one run of IN_ per row. */
static void emit_rows_copy(Em *em, int id, int src, int axis, const char *olen, int64_t start, int64_t step, const char *at,
                           int zero_rest) {
  const Type *it = T_(em, src);
  char ou[CPU_EXPR], len[CPU_EXPR], in[CPU_EXPR], rd[CPU_EXPR];
  cpu_prod(it, 0, axis, ou);
  cpu_dim(it->dims[axis], len);
  cpu_prod(it, axis + 1, it->rank, in);
  cpu_read(em, src, "sb_ + i", rd);
  sb_printf(em->b, "  {\n    const int64_t OU_ = %s, LEN_ = %s, IN_ = %s, OLEN_ = %s, CNT_ = %s;\n", ou, len, in, olen,
            step ? olen : len);
  if (step == 1 || step == 0) {
    sb_printf(em->b, "#pragma omp parallel for if (OU_ * CNT_ * IN_ > %s && OU_ > 1) schedule(static)\n", PAR_MIN);
    sb_printf(em->b, "    for (int64_t o_ = 0; o_ < OU_; o_++) {\n");
    if (step) sb_printf(em->b, "      const int64_t sb_ = (o_ * LEN_ + %lld) * IN_, db_ = o_ * CNT_ * IN_;\n", (long long)start);
    else sb_printf(em->b, "      const int64_t sb_ = o_ * CNT_ * IN_, db_ = (o_ * OLEN_ + %s) * IN_;\n", at);
    if (zero_rest)
      sb_printf(em->b, "      for (int64_t i = o_ * OLEN_ * IN_; i < db_; i++) v%d[i] = 0;\n"
                       "      for (int64_t i = db_ + CNT_ * IN_; i < (o_ + 1) * OLEN_ * IN_; i++) v%d[i] = 0;\n", id, id);
    sb_printf(em->b, "      for (int64_t i = 0; i < CNT_ * IN_; i++) v%d[db_ + i] = %s;\n    }\n", id, rd);
  } else {
    sb_printf(em->b, "#pragma omp parallel for if (OU_ * CNT_ * IN_ > %s) schedule(static)\n", PAR_MIN);
    sb_printf(em->b, "    for (int64_t q = 0; q < OU_ * CNT_; q++) {\n      const int64_t o_ = q / CNT_, jj_ = q %% CNT_;\n");
    sb_printf(em->b, "      const int64_t sb_ = (o_ * LEN_ + %lld + jj_ * %lld) * IN_, db_ = q * IN_;\n", (long long)start, (long long)step);
    sb_printf(em->b, "      for (int64_t i = 0; i < IN_; i++) v%d[db_ + i] = %s;\n    }\n", id, rd);
  }
  sb_printf(em->b, "    (void)OLEN_;\n    (void)LEN_;\n  }\n");
}

static int emit_layout(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  int axis;
  char olen[CPU_EXPR];
  if (!norm_axis(n->attr.i[0], n->type.rank, &axis)) { err_set(e, n->loc, "%s: axis out of range", op_info[n->op].name); return 0; }
  cpu_dim(n->type.dims[axis], olen);
  if (n->op == OP_SLICE) {
    if (n->attr.i[3] < 1) { err_set(e, n->loc, "slice: step must be >= 1"); return 0; }
    emit_rows_copy(em, id, n->in[0], axis, olen, n->attr.i[1], n->attr.i[3], "0", 0);
  } else if (n->op == OP_PAD) {
    char at[32];
    cpu_fmt(at, sizeof at, "%lld", (long long)n->attr.i[1]);
    emit_rows_copy(em, id, n->in[0], axis, olen, 0, 0, at, 1);
  } else { /* concat */
    char at[CPU_EXPR] = "0";
    for (int j = 0; j < n->nin; j++) {
      const Type *it = T_(em, n->in[j]);
      emit_rows_copy(em, id, n->in[j], axis, olen, 0, 0, at, 0);
      char d[CPU_EXPR], nx[CPU_EXPR * 3];
      cpu_dim(it->dims[axis], d);
      cpu_fmt(nx, sizeof nx, "%s + %s", at, d);
      if (strlen(nx) >= CPU_EXPR) { err_set(e, n->loc, "concat: too many inputs for the CPU backend"); return 0; }
      memcpy(at, nx, strlen(nx) + 1);
    }
  }
  return 1;
}

static void emit_gather(Em *em, int id) {
  const Node *n = N_(em, id);
  const Type *tt = T_(em, n->in[0]), *ix = T_(em, n->in[1]);
  char rows[CPU_EXPR], row[CPU_EXPR], ni[CPU_EXPR], ri[CPU_EXPR], rt[CPU_EXPR];
  cpu_dim(tt->dims[0], rows);
  cpu_prod(tt, 1, tt->rank, row);
  cpu_prod(ix, 0, ix->rank, ni);
  cpu_read(em, n->in[1], "k", ri);
  cpu_read(em, n->in[0], "r_ * ROW_ + j", rt);
  sb_printf(em->b, "  {\n    const int64_t ROWS_ = %s, ROW_ = %s, NI_ = %s;\n", rows, row, ni);
  sb_printf(em->b, "#pragma omp parallel for if (NI_ * ROW_ > %s) schedule(static)\n", PAR_MIN);
  sb_printf(em->b, "    for (int64_t k = 0; k < NI_; k++) {\n      const int64_t r_ = (int64_t)%s;\n", ri);
  sb_printf(em->b, "      if (r_ < 0 || r_ >= ROWS_) { bad = 1; continue; }\n");
  sb_printf(em->b, "      for (int64_t j = 0; j < ROW_; j++) v%d[k * ROW_ + j] = %s;\n    }\n  }\n", id, rt);
  cpu_fail(em, id, "gather: index out of range");
}

static void emit_take(Em *em, int id) {
  const Node *n = N_(em, id);
  const Type *xt = T_(em, n->in[0]);
  char nx[CPU_EXPR], kk[CPU_EXPR], numel[CPU_EXPR], ri[CPU_EXPR], rx[CPU_EXPR];
  cpu_dim(xt->dims[xt->rank - 1], nx);
  cpu_dim(n->type.dims[n->type.rank - 1], kk);
  cpu_prod(&n->type, 0, n->type.rank, numel);
  cpu_read(em, n->in[1], "k", ri);
  cpu_read(em, n->in[0], "(k / KK_) * NX_ + p_", rx);
  sb_printf(em->b, "  {\n    const int64_t NX_ = %s, KK_ = %s;\n", nx, kk);
  sb_printf(em->b, "#pragma omp parallel for if (%s > %s) schedule(static)\n", numel, PAR_MIN);
  sb_printf(em->b, "    for (int64_t k = 0; k < %s; k++) {\n      const int64_t p_ = (int64_t)%s;\n", numel, ri);
  sb_printf(em->b, "      if (p_ < 0 || p_ >= NX_) { bad = 1; continue; }\n      v%d[k] = %s;\n    }\n  }\n", id, rx);
  cpu_fail(em, id, "take_along: index out of range");
}

/* ---------------------------------------------------------------- contractions */
static void emit_matmul(Em *em, int id) {
  const Node *n = N_(em, id);
  int a = n->in[0], b = n->in[1];
  const Type *at = T_(em, a), *bt = T_(em, b), *ot = &n->type;
  int ta = n->attr.i[0] != 0, tb = n->attr.i[1] != 0, r = ot->rank;
  Strides sa, sb;
  lead_strides(at, ot, sa);
  lead_strides(bt, ot, sb);
  char M[CPU_EXPR], N[CPU_EXPR], K[CPU_EXPR], NB[CPU_EXPR], lda[CPU_EXPR], ldb[CPU_EXPR];
  cpu_dim(ot->dims[r - 2], M);
  cpu_dim(ot->dims[r - 1], N);
  cpu_dim(at->dims[at->rank - (ta ? 2 : 1)], K);
  cpu_prod(ot, 0, r - 2, NB);
  cpu_dim(at->dims[at->rank - 1], lda);
  cpu_dim(bt->dims[bt->rank - 1], ldb);
  int fold = !ta && at->rank == r;
  for (int d = 0; d < r - 2; d++) fold = fold && strcmp(sb[d], "0") == 0 && dim_eq(at->dims[d], ot->dims[d]);
  DType dt = ot->dtype;
  sb_printf(em->b, "  {\n    const int64_t M_ = %s, N_ = %s, K_ = %s, NB_ = %s;\n", M, N, K, NB);
  if (dt == DT_I32 || dt == DT_I64) {
    /* integer matmul: plain loops with wrapping accumulation */
    char ww[4 * CPU_EXPR];
    c_wrap_int(dt, "s_", ww);
    sb_printf(em->b, "    for (int64_t bt = 0; bt < NB_; bt++) {\n");
    const char *names[2] = {"oa_", "ob_"};
    Strides *sts[2] = {&sa, &sb};
    cpu_emit_offsets(em, ot, r - 2, "bt", 2, names, sts, "      ");
    sb_printf(em->b, "      for (int64_t i = 0; i < M_; i++)\n        for (int64_t j = 0; j < N_; j++) {\n          uint64_t s_ = 0;\n");
    sb_printf(em->b, "          for (int64_t p = 0; p < K_; p++) s_ += (uint64_t)v%d[oa_ + i * %s + p * %s] * (uint64_t)v%d[ob_ + p * %s + j * %s];\n",
              a, ta ? sa[r - 1] : sa[r - 2], ta ? sa[r - 2] : sa[r - 1], b, tb ? sb[r - 1] : sb[r - 2], tb ? sb[r - 2] : sb[r - 1]);
    sb_printf(em->b, "          v%d[(bt * M_ + i) * N_ + j] = %s;\n        }\n    }\n  }\n", id, ww);
    return;
  }
  if (cpu_is_floatish(dt)) { /* f32, and bf16 / f16 stored as float */
    /* dlm_sgemm (codegen/cpu_gemm.c) over all the threads: one product of NB_ * M_ rows when B is
     * shared, else one call per batch entry, the entries split over the threads when there are
     * enough of them */
    sb_printf(em->b, "    const int NT_ = NB_ * M_ * N_ * K_ > 262144 ? omp_get_max_threads() : 1;\n");
    if (fold) {
      sb_printf(em->b, "    dlm_sgemm(0, %d, NB_ * M_, N_, K_, 1.0f, v%d, %s, v%d, %s, 0.0f, v%d, N_, NT_);\n  }\n", tb, a, lda, b, ldb, id);
      return;
    }
    const char *names[2] = {"oa_", "ob_"};
    Strides *sts[2] = {&sa, &sb};
    /* (two loops: a parallel region around the threaded calls, even an inactive one, would make
     * theirs nested, with a new thread team each time) */
    for (int par = 1; par >= 0; par--) {
      if (par) sb_printf(em->b, "    if (NT_ > 1 && NB_ >= NT_) {\n#pragma omp parallel for schedule(static)\n");
      else sb_printf(em->b, "    } else {\n");
      sb_printf(em->b, "    for (int64_t bt = 0; bt < NB_; bt++) {\n");
      cpu_emit_offsets(em, ot, r - 2, "bt", 2, names, sts, "      ");
      sb_printf(em->b, "      dlm_sgemm(%d, %d, M_, N_, K_, 1.0f, v%d + oa_, %s, v%d + ob_, %s, 0.0f, v%d + bt * M_ * N_, N_, %s);\n    }\n",
                ta, tb, a, lda, b, ldb, id, par ? "1" : "NT_");
    }
    sb_printf(em->b, "    }\n  }\n");
    return;
  }
  const char *gemm = "cblas_dgemm", *ct = cpu_ctype(dt);
  sb_printf(em->b, "    const int LDA_ = (int)(%s > 0 ? %s : 1), LDB_ = (int)(%s > 0 ? %s : 1);\n", lda, lda, ldb, ldb);
  sb_printf(em->b, "    if (K_ == 0) memset(v%d, 0, (size_t)(NB_ * M_ * N_) * sizeof *v%d);\n", id, id);
  sb_printf(em->b, "    else if (M_ > 0 && N_ > 0 && NB_ > 0) {\n");
  if (fold) { /* one product with NB_ * M_ rows, split into one block of rows per thread (each
               * gemm call packs all of B, so fewer, taller calls are cheaper) */
    sb_printf(em->b, "      const int64_t R_ = NB_ * M_, NT_ = R_ * N_ * K_ > 262144 ? omp_get_max_threads() : 1;\n");
    sb_printf(em->b, "      const int64_t NC_ = NT_ < (R_ + 63) / 64 ? NT_ : (R_ + 63) / 64, CR_ = (R_ + NC_ - 1) / NC_;\n");
    sb_printf(em->b, "#pragma omp parallel for if (NC_ > 1) schedule(static)\n");
    sb_printf(em->b, "      for (int64_t c = 0; c < NC_; c++) {\n        const int64_t r0_ = c * CR_, nr_ = R_ - r0_ < CR_ ? R_ - r0_ : CR_;\n        if (nr_ <= 0) continue;\n");
    sb_printf(em->b, "        %s(101, 111, %d, (int)nr_, (int)N_, (int)K_, (%s)1, v%d + r0_ * LDA_, LDA_, v%d, LDB_, (%s)0, v%d + r0_ * N_, (int)N_);\n      }\n",
              gemm, tb ? 112 : 111, ct, a, b, ct, id);
  } else {
    /* batch entries over the threads; with fewer entries than threads (a weight gradient: one
     * product with a long K), each entry's rows are split too */
    sb_printf(em->b, "      const int64_t NT_ = NB_ * M_ * N_ * K_ > 262144 ? omp_get_max_threads() : 1;\n");
    sb_printf(em->b, "      const int64_t MW_ = NB_ >= NT_ ? 1 : (NT_ + NB_ - 1) / NB_, MC_ = MW_ < (M_ + 31) / 32 ? MW_ : (M_ + 31) / 32;\n");
    sb_printf(em->b, "      const int64_t MS_ = (M_ + MC_ - 1) / MC_;\n");
    sb_printf(em->b, "#pragma omp parallel for if (NT_ > 1 && NB_ * MC_ > 1) schedule(static)\n");
    sb_printf(em->b, "      for (int64_t t_ = 0; t_ < NB_ * MC_; t_++) {\n");
    sb_printf(em->b, "        const int64_t bt = t_ / MC_, m0_ = (t_ %% MC_) * MS_, mn_ = M_ - m0_ < MS_ ? M_ - m0_ : MS_;\n        if (mn_ <= 0) continue;\n");
    const char *names[2] = {"oa_", "ob_"};
    Strides *sts[2] = {&sa, &sb};
    cpu_emit_offsets(em, ot, r - 2, "bt", 2, names, sts, "        ");
    sb_printf(em->b, "        %s(101, %d, %d, (int)mn_, (int)N_, (int)K_, (%s)1, v%d + oa_ + m0_ * %s, LDA_, v%d + ob_, LDB_, (%s)0, v%d + (bt * M_ + m0_) * N_, (int)N_);\n",
              gemm, ta ? 112 : 111, tb ? 112 : 111, ct, a, ta ? "1" : "LDA_", b, ct, id);
    sb_printf(em->b, "      }\n");
  }
  sb_printf(em->b, "    }\n  }\n");
}

/* sum_to(matmul(A, B, ta = 1, tb = 0)) over the batch (foldable_matmul): one product with
 * K = batch * K. f32: dlm_sgemm (its weight-gradient path: both operands read in place, the
 * threads splitting C's tiles or panels); f64: cblas_dgemm, the threads splitting the longer of
 * C's two sides, so that the operand every thread packs in full is the smaller one. */
static void emit_folded_matmul(Em *em, int id) {
  const Node *mm = N_(em, N_(em, id)->in[0]);
  int a = mm->in[0], b = mm->in[1], r = mm->type.rank;
  char M[CPU_EXPR], N[CPU_EXPR], K[CPU_EXPR], NB[CPU_EXPR];
  cpu_dim(mm->type.dims[r - 2], M);
  cpu_dim(mm->type.dims[r - 1], N);
  cpu_dim(T_(em, a)->dims[r - 2], K);
  cpu_prod(&mm->type, 0, r - 2, NB);
  DType dt = mm->type.dtype;
  cpu_node_comment(em, N_(em, id)->in[0], "folded here: ");
  sb_printf(em->b, "  {\n    const int64_t M_ = %s, N_ = %s, K_ = %s * %s;\n", M, N, NB, K);
  if (cpu_is_floatish(dt)) {
    sb_printf(em->b, "    dlm_sgemm(1, 0, M_, N_, K_, 1.0f, v%d, M_, v%d, N_, 0.0f, v%d, N_, M_ * N_ * K_ > 262144 ? omp_get_max_threads() : 1);\n  }\n",
              a, b, id);
    return;
  }
  const char *gemm = "cblas_dgemm", *ct = cpu_ctype(dt);
  sb_printf(em->b, "    if (K_ == 0) memset(v%d, 0, (size_t)(M_ * N_) * sizeof *v%d);\n    else if (M_ > 0 && N_ > 0) {\n", id, id);
  sb_printf(em->b, "      const int64_t NT_ = M_ * N_ * K_ > 262144 ? omp_get_max_threads() : 1, ROWS_ = M_ >= N_, SIDE_ = ROWS_ ? M_ : N_;\n");
  sb_printf(em->b, "      const int64_t NC_ = NT_ < (SIDE_ + 31) / 32 ? NT_ : (SIDE_ + 31) / 32, CS_ = (SIDE_ + NC_ - 1) / NC_;\n");
  sb_printf(em->b, "#pragma omp parallel for if (NC_ > 1) schedule(static)\n");
  sb_printf(em->b, "      for (int64_t c = 0; c < NC_; c++) {\n        const int64_t s0_ = c * CS_, sn_ = SIDE_ - s0_ < CS_ ? SIDE_ - s0_ : CS_;\n        if (sn_ <= 0) continue;\n");
  sb_printf(em->b, "        if (ROWS_) %s(101, 112, 111, (int)sn_, (int)N_, (int)K_, (%s)1, v%d + s0_, (int)M_, v%d, (int)N_, (%s)0, v%d + s0_ * N_, (int)N_);\n",
            gemm, ct, a, b, ct, id);
  sb_printf(em->b, "        else %s(101, 112, 111, (int)M_, (int)sn_, (int)K_, (%s)1, v%d, (int)M_, v%d + s0_, (int)N_, (%s)0, v%d + s0_, (int)N_);\n",
            gemm, ct, a, b, ct, id);
  sb_printf(em->b, "      }\n    }\n  }\n");
}

/* attention in f32 with contiguous rows of q, k, v: per batch entry K^T packed once, then blocks of
 * RB_ query rows (K^T packed only for 16 rows or more): scores = SC_ q k^T, the softmax of each row (unmasked: the block's rows
 * together, dlm_attn_exp_rows; masked: row by row, a row with no key allowed is 0; rows left
 * unnormalized, out scaled by 1 / sum instead), out = p v, by the helpers of
 * codegen/cpu_attn_prelude.c; the block's scores stay in L1. rm: the mask read at (i, j), or NULL.
 * The output rows go to v<dst> at the strides so (dst: id, or the transpose of it, cpu_emit_attn.c). */
static void emit_attention_f32(Em *em, int id, int dst, const int *qkv, const int64_t *base, const char *rm, int nop,
                               const char **names, Strides **sts, Strides *so) {
  int r = N_(em, id)->type.rank;
  const char *an[5] = {names[0], names[1], names[2], "oo_", names[3]};
  Strides *ast[5] = {sts[0], sts[1], sts[2], so, sts[3]};
  /* (inv_ on each thread's stack: small heap blocks of two threads can share a cache line) */
  sb_printf(em->b, "#pragma omp parallel\n    {\n      enum { RB_ = 30 };\n      float inv_[RB_];\n");
  /* q or k computed here (a rotary embedding, cpu_emit_attn.c): per entry into qr_ / kr_ */
  const CpuRope *rq = cpu_rope_of(em, N_(em, id)->in[0]), *rk = cpu_rope_of(em, N_(em, id)->in[1]);
  sb_printf(em->b, "      float *s_ = (float *)dlm_alloc(RB_ * LK_, sizeof(float)), *kt_ = (float *)dlm_alloc(LK_ * D_, sizeof(float));\n");
  sb_printf(em->b, "      float *qr_ = %s, *kr_ = %s;\n", rq ? "(float *)dlm_alloc(LQ_ * D_, sizeof(float))" : "NULL",
            rk ? "(float *)dlm_alloc(LK_ * D_, sizeof(float))" : "NULL");
  sb_printf(em->b, "      const int ok_ = s_ && kt_%s%s;\n      if (!ok_) bad = 1;\n", rq ? " && qr_" : "", rk ? " && kr_" : "");
  sb_printf(em->b, "#pragma omp for schedule(static)\n      for (int64_t bt = 0; bt < NB_; bt++) {\n        if (!ok_) continue;\n");
  cpu_emit_offsets(em, &N_(em, id)->type, r - 2, "bt", nop + 1, an, ast, "        ");
  char qp[CPU_EXPR], kp[CPU_EXPR];
  if (rq) cpu_fmt(qp, sizeof qp, "qr_");
  else cpu_fmt(qp, sizeof qp, "v%d + oq_ + %lld", qkv[0], (long long)base[0]);
  if (rk) cpu_fmt(kp, sizeof kp, "kr_");
  else cpu_fmt(kp, sizeof kp, "v%d + ok_k + %lld", qkv[1], (long long)base[1]);
  if (rq) cpu_emit_rope_rows(em, rq, &N_(em, id)->type, "LQ_", "qr_", "        ");
  if (rk) cpu_emit_rope_rows(em, rk, &N_(em, id)->type, "LK_", "kr_", "        ");
  MapOp nx[3];
  for (int i = 0; i < 3; i++) {
    const CpuRope *rp = i == 0 ? rq : i == 1 ? rk : NULL;
    if (rp) cpu_rope_src(em, rp, &nx[i]);
    else {
      nx[i].id = qkv[i];
      nx[i].base = base[i];
      memcpy(nx[i].st, *sts[i], sizeof nx[i].st);
    }
  }
  const char *nrows[3] = {"LQ_", "LK_", "LK_"}, *nw[3] = {"D_", "D_", "DV_"};
  cpu_emit_attn_next(em, &N_(em, id)->type, 3, nx, nrows, nw, "        ");
  sb_printf(em->b, "        (void)oq_;\n        (void)ok_k;\n        (void)qr_;\n        (void)kr_;\n");
  sb_printf(em->b, "        const float *q_ = %s, *k_ = %s, *v_ = v%d + ov_ + %lld;\n", qp, kp, qkv[2], (long long)base[2]);
  sb_printf(em->b, "        const int64_t LDQ_ = %s, LDK_ = %s, LDV_ = %s, LDO_ = %s;\n", rq ? "D_" : (*sts[0])[r - 2], rk ? "D_" : (*sts[1])[r - 2],
            (*sts[2])[r - 2], (*so)[r - 2]);
  /* K^T packed for the register tiles when at least 16 query rows share it (else, e.g. a KV-cache
   * step's few rows against all keys, one cblas_sgemm reads K as it is) */
  sb_printf(em->b, "        float *o_ = v%d + oo_;\n        const int pk_ = LQ_ >= 16;\n        if (pk_) dlm_attn_pack_t(LK_, D_, k_, LDK_, kt_);\n", dst);
  sb_printf(em->b, "        for (int64_t i0 = 0; i0 < LQ_; i0 += RB_) {\n          const int64_t nb_ = LQ_ - i0 < RB_ ? LQ_ - i0 : RB_;\n");
  sb_printf(em->b, "          if (pk_) dlm_attn_gemm(nb_, LK_, D_, SC_, q_ + i0 * LDQ_, LDQ_, 1, kt_, LK_, s_, LK_, 0);\n"
                   "          else dlm_attn_gemm_nt(nb_, LK_, D_, SC_, q_ + i0 * LDQ_, LDQ_, k_, LDK_, s_, LK_);\n");
  if (rm) {
    sb_printf(em->b, "          for (int64_t i = i0; i < i0 + nb_; i++) {\n            float *p_ = s_ + (i - i0) * LK_;\n");
    sb_printf(em->b, "            int any_ = 0;\n            for (int64_t j = 0; j < LK_; j++) {\n              const int keep_ = (%s) != 0;\n", rm);
    sb_printf(em->b, "              p_[j] = keep_ ? p_[j] : -INFINITY;\n              any_ |= keep_;\n            }\n");
    sb_printf(em->b, "            if (!any_) memset(p_, 0, (size_t)LK_ * sizeof *p_);\n            inv_[i - i0] = any_ ? dlm_attn_exp_row(p_, LK_) : 0.0f;\n          }\n");
  } else sb_printf(em->b, "          dlm_attn_exp_rows(s_, nb_, LK_, LK_, inv_);\n");
  sb_printf(em->b, "          dlm_attn_gemm(nb_, DV_, LK_, 1.0f, s_, LK_, 1, v_, LDV_, o_ + i0 * LDO_, LDO_, 0);\n");
  sb_printf(em->b, "          for (int64_t i = 0; i < nb_; i++) dlm_attn_scale_row(o_ + (i0 + i) * LDO_, DV_, inv_[i]);\n");
  sb_printf(em->b, "          if (pk_) dlm_attn_prefetch(pfp_, pfl_, pfn_, pfw_, 3, i0 / RB_, (LQ_ + RB_ - 1) / RB_);\n        }\n");
  sb_printf(em->b, "      }\n      free(s_);\n      free(kt_);\n      free(qr_);\n      free(kr_);\n    }\n  }\n");
  cpu_fail(em, id, "attention: out of memory");
}

/* the operands of attention node id as its kernel reads them: ids (transposes marked CPU_INL_VIEW,
 * split_heads of v, replaced by what they read in place), element offsets and strides */
static void attention_operands(const Em *em, int id, int *qkv, int64_t *base, Strides *st) {
  const Node *n = N_(em, id);
  for (int i = 0; i < 3; i++) {
    qkv[i] = n->in[i];
    base[i] = 0;
    lead_strides(T_(em, qkv[i]), &n->type, st[i]);
    if (em->inl[qkv[i]] == CPU_INL_VIEW) {
      MapOp vw;
      cpu_view_read(em, qkv[i], &vw);
      qkv[i] = vw.id;
      base[i] = vw.base;
      memcpy(st[i], vw.st, sizeof vw.st);
    }
  }
}

/* 1 when q, k and v have contiguous rows (last stride 1, rows apart) */
static int attention_rows(const Strides *st, int r) {
  for (int i = 0; i < 3; i++)
    if (strcmp(st[i][r - 1], "1") || !strcmp(st[i][r - 2], "0")) return 0;
  return 1;
}

int cpu_attention_f32_rows(const Em *em, int id) {
  int qkv[3], r = N_(em, id)->type.rank;
  int64_t base[3];
  Strides st[3];
  if (N_(em, id)->type.dtype != DT_F32) return 0;
  attention_operands(em, id, qkv, base, st);
  return attention_rows(st, r);
}

/* attention node id; its output goes to v<dst>: v<id>, or (f32 rows only) the buffer of dst, a
 * transpose of it that keeps the last axis (cpu_emit_attn.c's cpu_mark_attention_views) */
static void emit_attention(Em *em, int id, int dst) {
  const Node *n = N_(em, id);
  const Type *ot = &n->type;
  int mask = n->nin == 4 ? n->in[3] : -1, r = ot->rank;
  if (mask >= 0 && N_(em, mask)->op == OP_CONST && N_(em, mask)->attr.f[0] != 0) mask = -1; /* all true (MDLM's full mask) */
  const Type *qt = T_(em, n->in[0]), *kt = T_(em, n->in[1]), *vt = T_(em, n->in[2]);
  int qkv[3];
  int64_t base[3];
  Strides s3[3], sm;
  attention_operands(em, id, qkv, base, s3);
  int q = qkv[0], k = qkv[1], v = qkv[2];
  int64_t qbase = base[0], kbase = base[1], vbase = base[2];
  if (mask >= 0) {
    Type scores = *ot;
    scores.dims[r - 2] = qt->dims[qt->rank - 2];
    scores.dims[r - 1] = kt->dims[kt->rank - 2];
    cpu_bcast_strides(T_(em, mask), &scores, sm);
  }
  char LQ[CPU_EXPR], LK[CPU_EXPR], D[CPU_EXPR], DV[CPU_EXPR], NB[CPU_EXPR], rm[4 * CPU_EXPR];
  cpu_dim(qt->dims[qt->rank - 2], LQ);
  cpu_dim(kt->dims[kt->rank - 2], LK);
  cpu_dim(qt->dims[qt->rank - 1], D);
  cpu_dim(vt->dims[vt->rank - 1], DV);
  cpu_prod(ot, 0, r - 2, NB);
  const char *ct = cpu_ctype(ot->dtype), *ex = ot->dtype == DT_F64 ? "exp" : "expf";
  sb_printf(em->b, "  {\n    const int64_t LQ_ = %s, LK_ = %s, D_ = %s, DV_ = %s, NB_ = %s;\n    const %s SC_ = (%s)%.17g;\n",
            LQ, LK, D, DV, NB, ct, ct, n->attr.f[0]);
  const char *names[4] = {"oq_", "ok_k", "ov_", "om_"};
  Strides *sts[4] = {&s3[0], &s3[1], &s3[2], &sm};
  int nop = mask >= 0 && em->inl[mask] != CPU_INL_CONST ? 4 : 3;
  if (mask >= 0) {
    char off[3 * CPU_EXPR];
    cpu_fmt(off, sizeof off, "om_ + i * %s + j * %s", sm[r - 2], sm[r - 1]);
    cpu_read(em, mask, off, rm);
  } else cpu_fmt(rm, sizeof rm, "1");
  if (attention_rows(s3, r)) {
    if (ot->dtype == DT_F32) {
      Strides so;
      if (dst == id)
        for (int d = 0; d < r; d++) cpu_prod(ot, d + 1, r, so[d]);
      else
        for (int p = 0; p < r; p++) cpu_prod(T_(em, dst), p + 1, r, so[N_(em, dst)->attr.i[p]]);
      emit_attention_f32(em, id, dst, qkv, base, mask >= 0 ? rm : NULL, nop, names, sts, &so);
      return;
    }
    /* rows of q, k, v are contiguous: per batch entry, scores = q k^T and out = p v by gemm */
    const char *gemm = ot->dtype == DT_F64 ? "cblas_dgemm" : "cblas_sgemm";
    sb_printf(em->b, "#pragma omp parallel\n    {\n      %s *s_ = (%s *)dlm_alloc(LQ_ * LK_, sizeof(%s));\n      if (!s_) bad = 1;\n", ct, ct, ct);
    sb_printf(em->b, "#pragma omp for schedule(static)\n      for (int64_t bt = 0; bt < NB_; bt++) {\n        if (!s_) continue;\n");
    cpu_emit_offsets(em, ot, r - 2, "bt", nop, names, sts, "        ");
    sb_printf(em->b, "        oq_ += %lld;\n        ok_k += %lld;\n        ov_ += %lld;\n", (long long)qbase, (long long)kbase, (long long)vbase);
    sb_printf(em->b, "        if (D_ > 0) %s(101, 111, 112, (int)LQ_, (int)LK_, (int)D_, SC_, v%d + oq_, (int)%s, v%d + ok_k, (int)%s, (%s)0, s_, (int)(LK_ > 0 ? LK_ : 1));\n",
              gemm, q, s3[0][r - 2], k, s3[1][r - 2], ct);
    sb_printf(em->b, "        else memset(s_, 0, (size_t)(LQ_ * LK_) * sizeof *s_);\n");
    sb_printf(em->b, "        for (int64_t i = 0; i < LQ_; i++) {\n          %s *p_ = s_ + i * LK_;\n          double sum_ = 0;\n          int any_ = 0;\n", ct);
    if (ot->dtype == DT_F32) { /* loops that vectorize: a masked score is -inf, whose e^-inf = 0 */
      if (mask >= 0)
        sb_printf(em->b, "          for (int64_t j = 0; j < LK_; j++) {\n            const int keep_ = (%s) != 0;\n"
                         "            p_[j] = keep_ ? p_[j] : -INFINITY;\n            any_ |= keep_;\n          }\n", rm);
      else sb_printf(em->b, "          any_ = LK_ > 0;\n");
      sb_printf(em->b, "          if (!any_) { memset(p_, 0, (size_t)LK_ * sizeof *p_); continue; }\n          const float mf_ = dlm_maxf_row(p_, LK_);\n");
      sb_printf(em->b, "          for (int64_t j = 0; j < LK_; j++) p_[j] = dlm_exp_le0(p_[j] - mf_);\n          sum_ = dlm_sumf(p_, LK_);\n");
    } else {
      sb_printf(em->b, "          double mx_ = -INFINITY;\n          for (int64_t j = 0; j < LK_; j++) {\n            if ((%s) == 0) { p_[j] = -INFINITY; continue; }\n", rm);
      sb_printf(em->b, "            if (!any_ || p_[j] > mx_) mx_ = p_[j];\n            any_ = 1;\n          }\n");
      sb_printf(em->b, "          for (int64_t j = 0; j < LK_; j++) {\n            p_[j] = any_ && p_[j] != -INFINITY ? %s((%s)(p_[j] - mx_)) : 0;\n            sum_ += p_[j];\n          }\n", ex, ct);
    }
    sb_printf(em->b, "          const %s inv_ = any_ ? (%s)(1 / sum_) : 0;\n          for (int64_t j = 0; j < LK_; j++) p_[j] *= inv_;\n        }\n", ct, ct);
    sb_printf(em->b, "        if (LK_ > 0 && DV_ > 0) %s(101, 111, 111, (int)LQ_, (int)DV_, (int)LK_, (%s)1, s_, (int)LK_, v%d + ov_, (int)%s, (%s)0, v%d + bt * LQ_ * DV_, (int)DV_);\n",
              gemm, ct, v, s3[2][r - 2], ct, id);
    sb_printf(em->b, "        else memset(v%d + bt * LQ_ * DV_, 0, (size_t)(LQ_ * DV_) * sizeof *v%d);\n      }\n      free(s_);\n    }\n  }\n", id, id);
    cpu_fail(em, id, "attention: out of memory");
    return;
  }
  sb_printf(em->b, "#pragma omp parallel\n    {\n");
  sb_printf(em->b, "      %s *kt_ = (%s *)dlm_alloc(LK_ * D_, sizeof(%s)), *p_ = (%s *)dlm_alloc(LK_, sizeof(%s)), *acc_ = (%s *)dlm_alloc(DV_, sizeof(%s));\n",
            ct, ct, ct, ct, ct, ct, ct);
  sb_printf(em->b, "      uint8_t *keep_ = (uint8_t *)dlm_alloc(LK_, 1);\n      const int ok_ = kt_ && p_ && acc_ && keep_;\n      if (!ok_) bad = 1;\n");
  sb_printf(em->b, "#pragma omp for schedule(static)\n      for (int64_t bt = 0; bt < NB_; bt++) {\n        if (!ok_) continue;\n");
  cpu_emit_offsets(em, ot, r - 2, "bt", nop, names, sts, "        ");
  sb_printf(em->b, "        oq_ += %lld;\n        ok_k += %lld;\n        ov_ += %lld;\n", (long long)qbase, (long long)kbase, (long long)vbase);
  sb_printf(em->b, "        for (int64_t j = 0; j < LK_; j++)\n          for (int64_t d = 0; d < D_; d++) kt_[d * LK_ + j] = v%d[ok_k + j * %s + d * %s];\n",
            k, s3[1][r - 2], s3[1][r - 1]);
  sb_printf(em->b, "        for (int64_t i = 0; i < LQ_; i++) {\n          for (int64_t j = 0; j < LK_; j++) p_[j] = 0;\n");
  sb_printf(em->b, "          for (int64_t d = 0; d < D_; d++) {\n            const %s qd_ = v%d[oq_ + i * %s + d * %s];\n", ct, q, s3[0][r - 2], s3[0][r - 1]);
  sb_printf(em->b, "            for (int64_t j = 0; j < LK_; j++) p_[j] += qd_ * kt_[d * LK_ + j];\n          }\n");
  sb_printf(em->b, "          double mx_ = -INFINITY, s_ = 0;\n          int any_ = 0;\n");
  sb_printf(em->b, "          for (int64_t j = 0; j < LK_; j++) {\n            keep_[j] = (%s) != 0;\n            if (!keep_[j]) continue;\n", rm);
  sb_printf(em->b, "            p_[j] *= SC_;\n            if (!any_ || p_[j] > mx_) mx_ = p_[j];\n            any_ = 1;\n          }\n");
  sb_printf(em->b, "          for (int64_t j = 0; j < LK_; j++) {\n            p_[j] = keep_[j] ? %s((%s)(p_[j] - mx_)) : 0;\n            s_ += p_[j];\n          }\n", ex, ct);
  sb_printf(em->b, "          for (int64_t d = 0; d < DV_; d++) acc_[d] = 0;\n");
  sb_printf(em->b, "          for (int64_t j = 0; j < LK_; j++) {\n            if (!keep_[j]) continue;\n            const %s pj_ = p_[j];\n", ct);
  sb_printf(em->b, "            for (int64_t d = 0; d < DV_; d++) acc_[d] += pj_ * v%d[ov_ + j * %s + d * %s];\n          }\n", v, s3[2][r - 2], s3[2][r - 1]);
  sb_printf(em->b, "          for (int64_t d = 0; d < DV_; d++) v%d[(bt * LQ_ + i) * DV_ + d] = any_ ? (%s)(acc_[d] / s_) : 0;\n        }\n      }\n", id, ct);
  sb_printf(em->b, "      free(kt_);\n      free(p_);\n      free(acc_);\n      free(keep_);\n    }\n  }\n");
  cpu_fail(em, id, "attention: out of memory");
}

/* ---------------------------------------------------------------- dispatch */
int cpu_op_needs_buffers(OpKind op) {
  return op == OP_RESHAPE || op == OP_MATMUL || op == OP_ATTENTION || op == OP_SORT_DESC;
}

int cpu_emit_kernel(Em *em, int id, DlmErr *e) {
  const Node *n = N_(em, id);
  switch (op_info[n->op].fclass) {
  case FC_ELEMWISE:
  case FC_BROADCAST:
    if (n->op == OP_RAND) return emit_source(em, id, e);
    if (n->op == OP_BROADCAST) { emit_copy_map(em, id); return 1; }
    if (cpu_emit_attention_bw((CpuCx *)em, id)) return 1; /* the sum of a qkv product's gradient pads */
    return emit_elementwise(em, id, e);
  default: break;
  }
  switch (n->op) {
  case OP_CONST:
  case OP_IOTA: return emit_source(em, id, e);
  case OP_SUM:
  case OP_MEAN:
  case OP_RMAX:
  case OP_LOGSUMEXP:
  case OP_ARGMAX:
  case OP_SUM_TO:
    if (((CpuCx *)em)->at[id] != id) {
      sb_printf(em->b, "  /* reduced in the loop of %%%d */\n", ((CpuCx *)em)->at[id]);
      return 1;
    }
    if (n->op != OP_SUM_TO) return emit_reduce(em, id, e);
    if (em->inl[n->in[0]] == CPU_INL_FOLDED) {
      emit_folded_matmul(em, id);
      return 1;
    }
    return emit_sum_to(em, id, e);
  case OP_SOFTMAX:
  case OP_LOG_SOFTMAX: return emit_softmax(em, id, e);
  case OP_LAYER_NORM:
    if (((CpuCx *)em)->at[id] != id) {
      sb_printf(em->b, "  /* normalized in the loop of %%%d */\n", ((CpuCx *)em)->at[id]);
      return 1;
    }
    return emit_layer_norm(em, id, e);
  case OP_CUMSUM: return emit_cumsum(em, id, e);
  case OP_SORT_DESC: return emit_sort(em, id);
  case OP_TRANSPOSE:
    if (cpu_emit_attention_bw((CpuCx *)em, id)) return 1;
    if (((CpuCx *)em)->at[id] != id) {
      sb_printf(em->b, "  /* computed by the attention backward at %%%d */\n", ((CpuCx *)em)->at[id]);
      return 1;
    }
    if (em->inl[n->in[0]] == CPU_INL_ATTN && N_(em, n->in[0])->op == OP_ATTENTION) {
      cpu_node_comment(em, n->in[0], "written transposed here: ");
      emit_attention(em, n->in[0], id);
    } else emit_copy_map(em, id);
    return 1;
  case OP_SLICE:
  case OP_PAD:
  case OP_CONCAT: return emit_layout(em, id, e);
  case OP_GATHER: emit_gather(em, id); return 1;
  case OP_TAKE: emit_take(em, id); return 1;
  case OP_SCATTER_ADD: emit_scatter_add(em, id); return 1;
  case OP_MATMUL: {
    CpuCx *cx = (CpuCx *)em;
    if (cpu_emit_attention_bw(cx, id)) return 1;
    if (cx->at[id] != id) sb_printf(em->b, "  /* computed by the attention backward at %%%d */\n", cx->at[id]);
    else emit_matmul(em, id);
    return 1;
  }
  case OP_ATTENTION: emit_attention(em, id, id); return 1;
  default:
    err_set(e, n->loc, "cpu: no kernel for op %s", op_info[n->op].name);
    return 0;
  }
}
