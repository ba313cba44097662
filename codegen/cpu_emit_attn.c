/* cpu_emit_attn.c — the fused attention backward of the CPU backend. Autodiff's attention rule
 * (passes/autodiff_rules_contract.c) recomputes the probabilities and builds the gradients from
 * whole [batch, Lq, Lk] tensors:
 *   S0 = matmul(Q, K, 0, 1); S1 = S0 * c; S2 = where(mask, S1, neg); P0 = softmax(S2, last);
 *   P = where(mask, P0, 0); dV = matmul(P, G, 1, 0); dP = matmul(G, V, 0, 1);
 *   dS = (P * (dP - sum(dP * P, last, keep))) * c; dQ = matmul(dS, K, 0, 0); dK = matmul(dS, Q, 1, 0)
 * (without a mask S2 = S1 and P = P0). When every intermediate is read only inside that cluster,
 * one kernel per batch entry computes it with the scores, probabilities and dP in per-thread
 * Lq x Lk buffers that stay in cache, K^T and V^T packed once per entry: the products and rows by
 * the helpers of codegen/cpu_attn_prelude.c (AVX-512 register tiles, or cblas_sgemm), the same
 * operations and precision as the separate kernels (sums in double), so results agree with them
 * within rounding. When dV's only reader is a later transpose keeping the last axis (the gradient
 * of split_heads), the kernel runs at that transpose and writes dV's rows into its buffer; when dQ
 * or dK goes only through the gradient of a rotary embedding into such a transpose, the kernel
 * applies that gradient and writes the transpose (running at the last transpose it writes). When
 * those three transposes are the column blocks of a qkv product's gradient (each padded along the
 * last axis and summed by one fused add), the kernel runs at that add and writes them straight
 * into its columns instead (no transpose buffers, no pad + add loop). Also
 * here: the in-place reads of transposes by attention kernels, the forward attentions written
 * straight into their merge_heads transpose, and rotary embeddings of q and k read only by
 * attention kernels, which those kernels compute per batch entry instead of reading a buffer
 * (cpu_mark_attention_views, cpu_emit_rope_rows). */
#include "cpu_emit_internal.h"
#include <stdlib.h>
#include <string.h>

static const Node *N_(const Em *em, int id) { return &em->f->nodes[id]; }

/* the readers of x among the live nodes (at most cap; returns the count, cap + 1 when more) */
static int readers(const Em *em, const char *live, int x, int *out, int cap) {
  int n = 0;
  for (int id = x + 1; id < em->f->nnodes; id++) {
    if (!live[id]) continue;
    const Node *r = N_(em, id);
    for (int j = 0; j < r->nin; j++)
      if (r->in[j] == x) {
        if (n == cap) return cap + 1;
        out[n++] = id;
        break;
      }
  }
  return n;
}

static int is_op(const Em *em, int id, OpKind op) { return id >= 0 && N_(em, id)->op == op; }

static int is_mm(const Em *em, int id, int ta, int tb) {
  return is_op(em, id, OP_MATMUL) && (N_(em, id)->attr.i[0] != 0) == ta && (N_(em, id)->attr.i[1] != 0) == tb;
}

/* a rank-0 f32 const; its value in *v */
static int scalar_const(const Em *em, int id, double *v) {
  const Node *n = N_(em, id);
  if (n->op != OP_CONST || n->type.rank != 0 || n->type.dtype != DT_F32) return 0;
  *v = n->attr.f[0];
  return 1;
}

/* mul(x, c) or mul(c, x) with c a scalar const: x, and c's value in *cv; else -1 */
static int mul_by_const(const Em *em, int id, double *cv) {
  if (!is_op(em, id, OP_MUL)) return -1;
  const Node *n = N_(em, id);
  if (scalar_const(em, n->in[1], cv)) return n->in[0];
  if (scalar_const(em, n->in[0], cv)) return n->in[1];
  return -1;
}

/* the other operand of binary node id when one of its operands is x; else -1 */
static int other(const Em *em, int id, int x) {
  const Node *n = N_(em, id);
  if (n->nin != 2) return -1;
  return n->in[0] == x ? n->in[1] : n->in[1] == x ? n->in[0] : -1;
}

static int same_type(const Type *a, const Type *b) {
  if (a->rank != b->rank || a->dtype != b->dtype) return 0;
  for (int d = 0; d < a->rank; d++)
    if (!dim_eq(a->dims[d], b->dims[d])) return 0;
  return 1;
}

/* Q, K, V, G: f32 with the batch dims of S0 (no broadcasting) */
static int operand_ok(const Em *em, int x, const Type *s0) {
  const Type *t = &N_(em, x)->type;
  if (t->dtype != DT_F32 || t->rank != s0->rank) return 0;
  for (int d = 0; d < s0->rank - 2; d++)
    if (!dim_eq(t->dims[d], s0->dims[d])) return 0;
  return 1;
}

/* a slice of x along the last axis, [start, end) with step 1 */
static int last_slice(const Em *em, int id, int x, int64_t start, int64_t end) {
  const Node *n = N_(em, id);
  int r = n->type.rank;
  return n->op == OP_SLICE && n->in[0] == x && (n->attr.i[0] == r - 1 || n->attr.i[0] == -1) && n->attr.i[1] == start &&
         n->attr.i[2] == end && n->attr.i[3] == 1;
}

/* a pad of x along the last axis by (before, after) */
static int last_pad(const Em *em, int id, int x, int64_t before, int64_t after) {
  const Node *n = N_(em, id);
  int r = n->type.rank;
  return n->op == OP_PAD && n->in[0] == x && (n->attr.i[0] == r - 1 || n->attr.i[0] == -1) && n->attr.i[1] == before &&
         n->attr.i[2] == after;
}

/* the operand of binary node id other than x, when id is op and reads x; else -1 */
static int op_other(const Em *em, int id, OpKind op, int x) { return is_op(em, id, op) ? other(em, id, x) : -1; }

/* an f32 buffer broadcast to type t with its last axis dense */
static int dense_rows_operand(const Em *em, int id, const Type *t) {
  const Type *xt = &N_(em, id)->type;
  Strides st;
  if (em->inl[id] || xt->dtype != DT_F32 || xt->rank > t->rank) return 0;
  cpu_bcast_strides(xt, t, st);
  return !strcmp(st[t->rank - 1], "1");
}

/* o (dQ or dK) read only by the gradient of a rotary embedding (autodiff's, of rotate-half): a =
 * add(add(mul(o, c), pad(neg(slice(m, 0, h)), h, 0)), pad(slice(m, h, 2h), 0, h)) with m = mul(o, s)
 * (the operands of each add and mul in either order), the nodes after m fused into a's loop, a read
 * only by a transpose keeping the last axis. Fills c->rb*[i]. */
static int rope_bw_match(const Em *em, const char *live, const int *uses, int o, CpuAttnBw *c, int i) {
  const Type *ot = &N_(em, o)->type;
  int r = ot->rank, rd[3];
  if (ot->dtype != DT_F32 || !dim_is_const(ot->dims[r - 1]) || ot->dims[r - 1].k % 2 || uses[o] != 2) return 0;
  int64_t h = ot->dims[r - 1].k / 2;
  if (readers(em, live, o, rd, 2) != 2) return 0;
  for (int w = 0; w < 2; w++) {
    int m = rd[w], mc = rd[1 - w], sv = op_other(em, m, OP_MUL, o), cv = op_other(em, mc, OP_MUL, o);
    if (sv < 0 || cv < 0 || em->inl[m] || em->inl[mc] != CPU_INL_FUSED || uses[m] != 2 || uses[mc] != 1) continue;
    int ms[3];
    if (readers(em, live, m, ms, 2) != 2) continue;
    int lo = last_slice(em, ms[0], m, 0, h) ? ms[0] : ms[1], hi = lo == ms[0] ? ms[1] : ms[0];
    if (!last_slice(em, hi, m, h, 2 * h) || !last_slice(em, lo, m, 0, h)) continue;
    int ng[2], p1[2], p2[2], x1[2], a[2], t[2];
    if (readers(em, live, lo, ng, 1) != 1 || !is_op(em, ng[0], OP_NEG) || readers(em, live, ng[0], p1, 1) != 1 ||
        !last_pad(em, p1[0], ng[0], h, 0) || readers(em, live, hi, p2, 1) != 1 || !last_pad(em, p2[0], hi, 0, h))
      continue;
    if (readers(em, live, mc, x1, 1) != 1 || other(em, x1[0], mc) != p1[0] || !is_op(em, x1[0], OP_ADD)) continue;
    if (readers(em, live, x1[0], a, 1) != 1 || other(em, a[0], x1[0]) != p2[0] || !is_op(em, a[0], OP_ADD) || em->inl[a[0]]) continue;
    const int fused[6] = {hi, lo, ng[0], p1[0], p2[0], x1[0]};
    int ok = 1;
    for (int k = 0; k < 6; k++) ok &= em->inl[fused[k]] == CPU_INL_FUSED && uses[fused[k]] == 1;
    if (!ok || uses[a[0]] != 1 || readers(em, live, a[0], t, 1) != 1 || !is_op(em, t[0], OP_TRANSPOSE) || em->inl[t[0]] ||
        N_(em, t[0])->attr.i[r - 1] != r - 1 || !dense_rows_operand(em, cv, ot) || !dense_rows_operand(em, sv, ot))
      continue;
    for (int k = 0; k < em->f->nout; k++) ok &= em->f->outs[k] != m && em->f->outs[k] != a[0];
    if (!ok) continue;
    c->rbt[i] = t[0], c->rbm[i] = m, c->rba[i] = a[0], c->rbc[i] = cv, c->rbs[i] = sv;
    return 1;
  }
  return 0;
}

/* 1 if a live node in (w, to] reads w or a reshape of it, other than through reshapes */
static int read_between(const Em *em, const char *live, int w, int to) {
  char *alias = calloc((size_t)em->f->nnodes, 1);
  if (!alias) return 1;
  alias[w] = 1;
  int found = 0;
  for (int id = w + 1; !found && id <= to && id < em->f->nnodes; id++) {
    const Node *n = N_(em, id);
    for (int j = 0; live[id] && j < n->nin; j++)
      if (alias[n->in[j]]) {
        if (n->op == OP_RESHAPE) alias[id] = 1;
        else found = 1;
      }
  }
  free(alias);
  return found;
}

/* late transpose t read only by a last-axis pad (through a reshape that merges its trailing dims
 * into the pad's last axis, or directly): the pad in *pad, the reshape in *rs (-1 if none) */
static int piece_pad(const Em *em, const char *live, const int *uses, int t, int *rs, int *pad) {
  const Type *tt = &N_(em, t)->type;
  int rd[2];
  *rs = -1;
  if (uses[t] != 1 || readers(em, live, t, rd, 1) != 1) return 0;
  int x = t;
  if (is_op(em, rd[0], OP_RESHAPE)) {
    x = *rs = rd[0];
    if (em->inl[x] || uses[x] != 1 || readers(em, live, x, rd, 1) != 1) return 0;
  }
  const Type *xt = &N_(em, x)->type;
  int k = xt->rank - 1;
  if (!is_op(em, rd[0], OP_PAD) || N_(em, rd[0])->in[0] != x || em->inl[rd[0]] != CPU_INL_FUSED || uses[rd[0]] != 1 || k < 0 ||
      k >= tt->rank || !last_pad(em, rd[0], x, N_(em, rd[0])->attr.i[1], N_(em, rd[0])->attr.i[2]) || !dim_is_const(xt->dims[k]))
    return 0;
  int64_t row = 1;
  for (int d = 0; d < tt->rank; d++) {
    if (d < k && !dim_eq(xt->dims[d], tt->dims[d])) return 0;
    if (d >= k && !dim_is_const(tt->dims[d])) return 0;
    if (d >= k) row *= tt->dims[d].k;
  }
  *pad = rd[0];
  return row == xt->dims[k].k;
}

/* 1 if x is an f32 sum of type t, by fused adds, of pads among pads[0..np) (each once: *seen) */
static int pad_sum(const Em *em, int x, const Type *t, const int *pads, int np, int *seen) {
  for (int i = 0; i < np; i++)
    if (x == pads[i]) {
      if ((*seen & (1 << i)) || !same_type(&N_(em, x)->type, t)) return 0;
      *seen |= 1 << i;
      return 1;
    }
  const Node *n = N_(em, x);
  return n->op == OP_ADD && em->inl[x] == CPU_INL_FUSED && same_type(&n->type, t) && pad_sum(em, n->in[0], t, pads, np, seen) &&
         pad_sum(em, n->in[1], t, pads, np, seen);
}

/* The gradient of a qkv product (see CpuAttnBw.cat): dV's, dQ's and dK's transposes padded along
 * the last axis into disjoint column ranges that cover it, and summed by one fused add kernel
 * that reads nothing else. Then the kernel can run at that add and write the columns directly
 * (x + 0 is x, so the same values; only an exact -0 keeps its sign where the add gave +0). Sets
 * c->cat and c->coff when found (c->cat = -1 otherwise). */
static void qkv_find(const Em *em, const char *live, const int *uses, CpuAttnBw *c) {
  const int ts[3] = {c->dvt, c->rbt[0], c->rbt[1]};
  int rs, pads[3], a = -1;
  c->cat = -1;
  for (int i = 0; i < 3; i++) {
    if (ts[i] < 0 || !piece_pad(em, live, uses, ts[i], &rs, &pads[i])) return;
    int x = pads[i], rd[2];
    while (em->inl[x] == CPU_INL_FUSED) {
      if (uses[x] != 1 || readers(em, live, x, rd, 1) != 1) return;
      x = rd[0];
    }
    if (i > 0 && x != a) return;
    a = x;
  }
  const Node *an = N_(em, a);
  const Type *aty = &an->type;
  int seen = 0;
  if (an->op != OP_ADD || em->inl[a] || aty->dtype != DT_F32 || !dim_is_const(aty->dims[aty->rank - 1]) ||
      !pad_sum(em, an->in[0], aty, pads, 3, &seen) || !pad_sum(em, an->in[1], aty, pads, 3, &seen) || seen != 7)
    return;
  /* the pads' column ranges, in order, cover [0, W) */
  int64_t end = 0;
  for (int n = 0; n < 3; n++) {
    int nxt = -1;
    for (int i = 0; i < 3; i++)
      if (N_(em, pads[i])->attr.i[1] == end) nxt = i;
    if (nxt < 0) return;
    c->coff[nxt] = end;
    end += N_(em, N_(em, pads[nxt])->in[0])->type.dims[aty->rank - 1].k;
  }
  if (end == aty->dims[aty->rank - 1].k) c->cat = a;
}

/* Match the cluster whose softmax is p0; fills *c and the list of its intermediates. */
static int match(const Em *em, const char *live, const int *uses, int p0, CpuAttnBw *c, int *mid, int *nmid) {
  const Node *pn = N_(em, p0);
  const Type *st = &pn->type;
  int r = st->rank, rd[4];
  if (st->dtype != DT_F32 || r < 3 || (pn->attr.i[0] != r - 1 && pn->attr.i[0] != -1)) return 0;
  *nmid = 0;
  memset(c, 0, sizeof *c);
  c->mask = c->neg = c->zero = c->dv = c->dq = c->dk = c->cat = -1;
  /* forward side: S0 -> S1 -> [S2] -> P0 -> [P] */
  int s2 = pn->in[0], s1 = s2, p = p0;
  if (is_op(em, s2, OP_WHERE)) {
    const Node *w = N_(em, s2);
    double nv;
    if (!scalar_const(em, w->in[2], &nv) || uses[s2] != 1) return 0;
    c->mask = w->in[0];
    c->neg = w->in[2];
    s1 = w->in[1];
    mid[(*nmid)++] = s2;
    if (uses[p0] != 1 || readers(em, live, p0, rd, 1) != 1 || !is_op(em, rd[0], OP_WHERE)) return 0;
    const Node *w2 = N_(em, rd[0]);
    double zv;
    if (w2->in[0] != c->mask || w2->in[1] != p0 || !scalar_const(em, w2->in[2], &zv) || zv != 0) return 0;
    c->zero = w2->in[2];
    p = rd[0];
    mid[(*nmid)++] = p0;
  }
  const Type *mt = c->mask >= 0 ? &N_(em, c->mask)->type : NULL;
  if (mt && (mt->dtype != DT_BOOL || mt->rank > r)) return 0;
  double scale;
  int s0 = mul_by_const(em, s1, &scale);
  if (s0 < 0 || uses[s1] != 1 || !is_mm(em, s0, 0, 1) || uses[s0] != 1 || !same_type(&N_(em, s0)->type, st)) return 0;
  mid[(*nmid)++] = s1;
  mid[(*nmid)++] = s0;
  c->s0 = s0;
  c->scale = scale;
  c->q = N_(em, s0)->in[0];
  c->k = N_(em, s0)->in[1];
  /* backward side: P's readers are dV (optional), X = dP * P and Y = P * (dP - R) */
  int pr[4], npr = readers(em, live, p, pr, 3);
  if (npr > 3 || uses[p] != npr) return 0;
  int x = -1, y = -1;
  for (int i = 0; i < npr; i++) {
    if (is_mm(em, pr[i], 1, 0) && N_(em, pr[i])->in[0] == p && c->dv < 0) c->dv = pr[i];
    else if (is_op(em, pr[i], OP_MUL) && is_op(em, other(em, pr[i], p), OP_SUB) && y < 0) y = pr[i];
    else if (is_op(em, pr[i], OP_MUL) && x < 0) x = pr[i];
    else return 0;
  }
  if (x < 0 || y < 0) return 0;
  int dp = other(em, x, p), dd = other(em, y, p);
  if (!is_mm(em, dp, 0, 1) || uses[dp] != 2 || uses[x] != 1 || uses[dd] != 1 || uses[y] != 1) return 0;
  const Node *ddn = N_(em, dd), *dpn = N_(em, dp);
  int rsum = ddn->in[1];
  if (ddn->in[0] != dp || !is_op(em, rsum, OP_SUM) || uses[rsum] != 1) return 0;
  const Node *sn = N_(em, rsum);
  if (sn->in[0] != x || (sn->attr.i[0] != r - 1 && sn->attr.i[0] != -1) || sn->attr.i[1] == 0) return 0;
  if (c->mask >= 0 && N_(em, c->mask)->op == OP_CONST && N_(em, c->mask)->attr.f[0] != 0) c->mask = -1; /* all true */
  c->g = dpn->in[0];
  c->v = dpn->in[1];
  if (c->dv >= 0 && N_(em, c->dv)->in[1] != c->g) return 0;
  double scale2;
  int dsr[2], nds;
  /* dS = Y * c, read by dQ and / or dK */
  int yr[2];
  if (readers(em, live, y, yr, 1) != 1) return 0;
  int ds = yr[0];
  if (mul_by_const(em, ds, &scale2) != y || scale2 != scale) return 0;
  nds = readers(em, live, ds, dsr, 2);
  if (nds < 1 || nds > 2 || uses[ds] != nds) return 0;
  for (int i = 0; i < nds; i++) {
    const Node *m = N_(em, dsr[i]);
    if (is_mm(em, dsr[i], 0, 0) && m->in[0] == ds && m->in[1] == c->k && c->dq < 0) c->dq = dsr[i];
    else if (is_mm(em, dsr[i], 1, 0) && m->in[0] == ds && m->in[1] == c->q && c->dk < 0) c->dk = dsr[i];
    else return 0;
  }
  if (c->dv >= 0 && uses[c->dv] < 1) return 0;
  if (!operand_ok(em, c->q, st) || !operand_ok(em, c->k, st) || !operand_ok(em, c->v, st) || !operand_ok(em, c->g, st)) return 0;
  int more[] = {p, dp, x, rsum, dd, y, ds};
  for (size_t i = 0; i < sizeof more / sizeof *more; i++) mid[(*nmid)++] = more[i];
  c->at = c->dv > c->dq ? c->dv : c->dq;
  if (c->dk > c->at) c->at = c->dk;
  /* dV read only by a later transpose that keeps the last axis (merge_heads' gradient): the
   * kernel runs there and writes dV's rows into the transpose's buffer */
  c->dvt = -1;
  if (c->dv >= 0 && uses[c->dv] == 1 && readers(em, live, c->dv, rd, 1) == 1 && rd[0] > c->at && is_op(em, rd[0], OP_TRANSPOSE) &&
      !em->inl[rd[0]] && N_(em, rd[0])->attr.i[r - 1] == r - 1 && N_(em, rd[0])->type.dtype == DT_F32) {
    int is_out = 0;
    for (int k = 0; k < em->f->nout; k++) is_out |= em->f->outs[k] == c->dv;
    if (!is_out) c->dvt = c->at = rd[0];
  }
  /* dQ, dK through the gradient of a rotary embedding into its transpose: the kernel runs at the
   * last of the transposes it writes, and nothing may read those before */
  const int dqk[2] = {c->dq, c->dk};
  for (int i = 0; i < 2; i++) {
    c->rbt[i] = c->rbm[i] = c->rba[i] = c->rbc[i] = c->rbs[i] = -1;
    if (dqk[i] >= 0 && !em->inl[dqk[i]] && rope_bw_match(em, live, uses, dqk[i], c, i) && c->rbt[i] > c->at) c->at = c->rbt[i];
  }
  /* the late transposes are read only by the qkv gradient's pads (the kernel then runs at their
   * sum), or nothing reads them before the kernel */
  const int late[3] = {c->dvt, c->rbt[0], c->rbt[1]};
  qkv_find(em, live, uses, c);
  if (c->cat >= 0) c->at = c->cat;
  for (int i = 0; i < 3; i++)
    if (c->cat < 0 && late[i] >= 0 && late[i] < c->at && read_between(em, live, late[i], c->at)) return 0;
  /* the outputs are written at c->at: nothing may read them before (but dV's transpose there) */
  int outs[3] = {c->dv, c->dq, c->dk};
  for (int i = 0; i < 3; i++) {
    if (outs[i] < 0 || (i > 0 && c->rbt[i - 1] >= 0)) continue;
    if (em->inl[outs[i]]) return 0;
    for (int id = outs[i] + 1; id <= c->at; id++) {
      const Node *rn = N_(em, id);
      for (int j = 0; live[id] && id != c->dvt && j < rn->nin; j++)
        if (rn->in[j] == outs[i]) return 0;
    }
  }
  return 1;
}

void cpu_mark_attention_bw(CpuCx *cx, const char *live, const int *uses, char *inl, int *at) {
  const Em *em = &cx->em;
  for (int id = 0; id < em->f->nnodes && cx->nabw < CPU_MAX_ATTN_BW; id++) {
    if (!live[id] || N_(em, id)->op != OP_SOFTMAX) continue;
    CpuAttnBw c;
    int mid[24], nmid = 0;
    if (!match(em, live, uses, id, &c, mid, &nmid)) continue;
    int outs[3] = {c.dv, c.dq, c.dk}, is_out = 0;
    for (int i = 0; i < nmid; i++)
      for (int k = 0; k < em->f->nout; k++) is_out |= em->f->outs[k] == mid[i];
    if (is_out) continue;
    if (c.dvt >= 0) mid[nmid++] = c.dv;
    for (int i = 0; i < 2; i++)
      if (c.rbt[i] >= 0) {
        mid[nmid++] = outs[i + 1];
        mid[nmid++] = c.rbm[i];
        mid[nmid++] = c.rba[i];
      }
    for (int i = 0; i < nmid; i++) {
      inl[mid[i]] = CPU_INL_ATTN;
      at[mid[i]] = c.at;
    }
    for (int i = 0; i < 3; i++)
      if (outs[i] >= 0) at[outs[i]] = c.at;
    const int late[3] = {c.dvt, c.rbt[0], c.rbt[1]};
    for (int i = 0; i < 3; i++)
      if (late[i] >= 0) at[late[i]] = c.at;
    for (int i = 0; i < 3 && c.cat >= 0; i++) { /* the late transposes (and reshapes) get no buffers */
      int rs, pad;
      piece_pad(em, live, uses, late[i], &rs, &pad);
      inl[late[i]] = CPU_INL_ATTN;
      if (rs >= 0) inl[rs] = CPU_INL_ATTN, at[rs] = c.at;
    }
    cx->abw[cx->nabw++] = c;
  }
}

/* 1 if node r, a reader of t, reads it as q, k, v or g of a fused attention backward */
static int read_by_cluster(const CpuCx *cx, const char *inl, int r, int t) {
  for (int i = 0; i < cx->nabw; i++) {
    const CpuAttnBw *c = &cx->abw[i];
    int member = c->at == cx->at[r] && (inl[r] == CPU_INL_ATTN || r == c->dv || r == c->dq || r == c->dk);
    if (member && (t == c->q || t == c->k || t == c->v || t == c->g)) return 1;
  }
  return 0;
}

/* q = add(mul(x, c), mul(concat(neg(slice(x, h, 2h)), slice(x, 0, h)), s)) in f32 (either operand
 * order of the add and the muls), x with q's type and rows read in place, c and s buffers of f32
 * broadcast to q's type with the last axis dense */
static int rope_match(const Em *em, int q, CpuRope *rp) {
  const Node *n = N_(em, q);
  const Type *qt = &n->type;
  int r = qt->rank;
  if (n->op != OP_ADD || qt->dtype != DT_F32 || r < 3 || !dim_is_const(qt->dims[r - 1]) || qt->dims[r - 1].k % 2) return 0;
  int64_t h = qt->dims[r - 1].k / 2;
  for (int o = 0; o < 2; o++) {
    int ma = n->in[o], mb = n->in[1 - o];
    if (!is_op(em, ma, OP_MUL) || !is_op(em, mb, OP_MUL)) continue;
    for (int p = 0; p < 2; p++) {
      int cat = N_(em, mb)->in[p], sv = N_(em, mb)->in[1 - p];
      if (!is_op(em, cat, OP_CONCAT) || N_(em, cat)->nin != 2) continue;
      const Node *cn = N_(em, cat);
      if (cn->attr.i[0] != r - 1 && cn->attr.i[0] != -1) continue;
      int ng = cn->in[0], lo = cn->in[1];
      if (!is_op(em, ng, OP_NEG) || !is_op(em, N_(em, ng)->in[0], OP_SLICE) || !is_op(em, lo, OP_SLICE)) continue;
      int x = N_(em, lo)->in[0];
      if (!last_slice(em, lo, x, 0, h) || !last_slice(em, N_(em, ng)->in[0], x, h, 2 * h)) continue;
      int cv = other(em, ma, x);
      if (cv < 0 || !same_type(&N_(em, x)->type, qt) || (em->inl[x] && em->inl[x] != CPU_INL_VIEW)) continue;
      int ok = dense_rows_operand(em, cv, qt) && dense_rows_operand(em, sv, qt);
      if (ok && em->inl[x] == CPU_INL_VIEW) {
        MapOp vw;
        cpu_view_read(em, x, &vw);
        ok = !strcmp(vw.st[r - 1], "1");
      }
      if (!ok) continue;
      *rp = (CpuRope){q, x, cv, sv};
      return 1;
    }
  }
  return 0;
}

/* every reader of q reads it as q or k of an f32 attention kernel on rows with q's batch dims, or
 * of a fused attention backward; q is not an output */
static int rope_readers_ok(const CpuCx *cx, const char *live, const char *inl, int q) {
  const Em *em = &cx->em;
  const Func *f = em->f;
  const Type *qt = &N_(em, q)->type;
  int nr = 0;
  for (int k = 0; k < f->nout; k++)
    if (f->outs[k] == q) return 0;
  for (int rd = q + 1; rd < f->nnodes; rd++) {
    const Node *rn = N_(em, rd);
    for (int j = 0; live[rd] && j < rn->nin; j++) {
      if (rn->in[j] != q) continue;
      nr++;
      if (rn->op == OP_ATTENTION) {
        if (j > 1 || !cpu_attention_f32_rows(em, rd) || rn->type.rank != qt->rank) return 0;
        for (int d = 0; d < qt->rank - 2; d++)
          if (!dim_eq(rn->type.dims[d], qt->dims[d])) return 0;
        continue;
      }
      int in_cluster = 0;
      for (int i = 0; i < cx->nabw; i++) {
        const CpuAttnBw *c = &cx->abw[i];
        int member = c->at == cx->at[rd] && (inl[rd] == CPU_INL_ATTN || rd == c->dv || rd == c->dq || rd == c->dk);
        in_cluster |= member && (q == c->q || q == c->k) && q != c->v && q != c->g;
      }
      if (!in_cluster) return 0;
    }
  }
  return nr > 0;
}

void cpu_mark_attention_views(CpuCx *cx, const char *live, char *inl, int *at) {
  const Em *em = &cx->em;
  const Func *f = em->f;
  for (int t = 0; t < f->nnodes; t++) {
    const Node *n = N_(em, t);
    int rk = n->type.rank, x = n->in[0], is_out = 0, ok = 1, nr = 0;
    if (!live[t] || inl[t] || n->op != OP_TRANSPOSE || rk < 3 || n->attr.i[rk - 1] != rk - 1 || n->type.dtype != DT_F32) continue;
    for (int k = 0; k < f->nout; k++) is_out |= f->outs[k] == t;
    if (is_out || (inl[x] && inl[x] != CPU_INL_VIEW)) continue;
    for (int r = t + 1; ok && r < f->nnodes; r++) {
      const Node *rn = N_(em, r);
      for (int j = 0; ok && live[r] && j < rn->nin; j++) {
        if (rn->in[j] != t) continue;
        nr++;
        if (rn->op == OP_ATTENTION && j < 3) {
          ok = rn->type.rank == rk;
          for (int d = 0; ok && d < rk - 2; d++) ok = dim_eq(rn->type.dims[d], n->type.dims[d]);
        } else ok = read_by_cluster(cx, inl, r, t);
      }
    }
    if (ok && nr > 0) inl[t] = CPU_INL_VIEW;
  }
  /* an f32 attention read only by a transpose that keeps the last axis (merge_heads) writes its
   * rows into that transpose's buffer, in its kernel (cpu_emit_ops.c) */
  for (int a = 0; a < f->nnodes; a++) {
    if (!live[a] || inl[a] || N_(em, a)->op != OP_ATTENTION || !cpu_attention_f32_rows(em, a)) continue;
    int is_out = 0, nr = 0, t = -1;
    for (int k = 0; k < f->nout; k++) is_out |= f->outs[k] == a;
    for (int r = a + 1; r < f->nnodes; r++)
      for (int j = 0; live[r] && j < N_(em, r)->nin; j++)
        if (N_(em, r)->in[j] == a) {
          nr++;
          t = r;
        }
    if (is_out || nr != 1 || N_(em, t)->op != OP_TRANSPOSE || inl[t]) continue;
    int rk = N_(em, t)->type.rank;
    if (N_(em, t)->attr.i[rk - 1] != rk - 1) continue;
    inl[a] = CPU_INL_ATTN;
    at[a] = t;
  }
  /* rotary embeddings of q and k read only by these kernels are computed inside them */
  for (int a = 0; a < f->nnodes; a++) {
    if (!live[a]) continue;
    int cand[2] = {-1, -1};
    if (N_(em, a)->op == OP_ATTENTION) cand[0] = N_(em, a)->in[0], cand[1] = N_(em, a)->in[1];
    for (int i = 0; i < cx->nabw; i++)
      if (cx->abw[i].s0 == a) cand[0] = cx->abw[i].q, cand[1] = cx->abw[i].k;
    for (int i = 0; i < 2 && cx->nrope < CPU_MAX_ROPE; i++) {
      CpuRope rp;
      if (cand[i] >= 0 && !inl[cand[i]] && rope_match(em, cand[i], &rp) && rope_readers_ok(cx, live, inl, cand[i])) {
        inl[cand[i]] = CPU_INL_FUSED;
        cx->rope[cx->nrope++] = rp;
      }
    }
  }
}

const CpuRope *cpu_rope_of(const Em *em, int id) {
  const CpuCx *cx = (const CpuCx *)em;
  for (int i = 0; em->inl[id] == CPU_INL_FUSED && i < cx->nrope; i++)
    if (cx->rope[i].q == id) return &cx->rope[i];
  return NULL;
}

/* the rotary embedding rp's input x, cos and sin as read in rows of its output's batch entries */
static void rope_ops(const Em *em, const CpuRope *rp, MapOp *ops) {
  const Type *qt = &N_(em, rp->q)->type;
  const int ids[3] = {rp->x, rp->c, rp->s};
  for (int i = 0; i < 3; i++) {
    if (em->inl[ids[i]] == CPU_INL_VIEW) cpu_view_read(em, ids[i], &ops[i]);
    else {
      ops[i].id = ids[i];
      ops[i].base = 0;
      cpu_bcast_strides(&N_(em, ids[i])->type, qt, ops[i].st);
    }
  }
}

void cpu_rope_src(const Em *em, const CpuRope *rp, MapOp *op) {
  MapOp ops[3];
  rope_ops(em, rp, ops);
  *op = ops[0];
}

void cpu_emit_attn_next(Em *em, const Type *lead, int n, const MapOp *ops, const char *const *rows, const char *const *width,
                        const char *ind) {
  static const char *const names[4] = {"pf0_", "pf1_", "pf2_", "pf3_"};
  int r = lead->rank;
  Strides *sts[4];
  char in2[64];
  cpu_fmt(in2, sizeof in2, "%s  ", ind);
  sb_printf(em->b, "%s/* the next entry's rows, prefetched a part at a time while this one computes */\n", ind);
  sb_printf(em->b, "%sconst float *pfp_[%d] = {NULL", ind, n);
  for (int i = 1; i < n; i++) sb_printf(em->b, ", NULL");
  sb_printf(em->b, "};\n%sconst int64_t pfl_[%d] = {", ind, n);
  for (int i = 0; i < n; i++) sb_printf(em->b, "%s%s", i ? ", " : "", ops[i].st[r - 2]);
  sb_printf(em->b, "}, pfn_[%d] = {", n);
  for (int i = 0; i < n; i++) sb_printf(em->b, "%s%s", i ? ", " : "", rows[i]);
  sb_printf(em->b, "}, pfw_[%d] = {", n);
  for (int i = 0; i < n; i++) sb_printf(em->b, "%s%s", i ? ", " : "", width[i]);
  sb_printf(em->b, "};\n%sif (bt + 1 < NB_) {\n", ind);
  for (int i = 0; i < n; i++) sts[i] = (Strides *)&ops[i].st;
  cpu_emit_offsets(em, lead, r - 2, "bt + 1", n, names, sts, in2);
  for (int i = 0; i < n; i++) sb_printf(em->b, "%spfp_[%d] = v%d + %s + %lld;\n", in2, i, ops[i].id, names[i], (long long)ops[i].base);
  sb_printf(em->b, "%s}\n", ind);
}

void cpu_emit_rope_rows(Em *em, const CpuRope *rp, const Type *lead, const char *rows, const char *buf, const char *ind) {
  const Type *qt = &N_(em, rp->q)->type;
  int r = qt->rank;
  MapOp ops[3];
  rope_ops(em, rp, ops);
  const char *names[3] = {"rx_", "rc_", "rs_"};
  Strides *sts[3] = {&ops[0].st, &ops[1].st, &ops[2].st};
  char D[CPU_EXPR], in2[64];
  cpu_dim(qt->dims[r - 1], D);
  cpu_fmt(in2, sizeof in2, "%s  ", ind);
  sb_printf(em->b, "%s{ /* %%%d = rotary embedding of %%%d, computed here */\n", ind, rp->q, rp->x);
  cpu_emit_offsets(em, lead, r - 2, "bt", 3, names, sts, in2);
  sb_printf(em->b, "%s  dlm_attn_rope_rows(%s, %s, v%d + rx_ + %lld, %s, v%d + rc_ + %lld, %s, v%d + rs_ + %lld, %s, %s);\n%s}\n", ind, rows, D,
            ops[0].id, (long long)ops[0].base, ops[0].st[r - 2], ops[1].id, (long long)ops[1].base, ops[1].st[r - 2], ops[2].id,
            (long long)ops[2].base, ops[2].st[r - 2], buf, ind);
}

/* Where late transpose t (piece w: dV's 0, dQ's 1, dK's 2) of c is written: its element at
 * input digits i is at v<returned> + *base + the sum of i[d] * st[d]; its own buffer, or c->cat's
 * columns from c->coff[w] (the dims of t from cat's last axis on stay dense, those before step
 * over whole rows of cat) */
static int late_dest(const Em *em, const CpuAttnBw *c, int t, int w, Strides st, int64_t *base) {
  const Node *tn = N_(em, t);
  int r = tn->type.rank, k = c->cat >= 0 ? N_(em, c->cat)->type.rank - 1 : 0;
  char W[CPU_EXPR] = "", pr[CPU_EXPR];
  if (c->cat >= 0) cpu_dim(N_(em, c->cat)->type.dims[k], W);
  for (int p = 0; p < r; p++) {
    char *sp = st[tn->attr.i[p]];
    if (p >= k) cpu_prod(&tn->type, p + 1, r, sp);
    else {
      cpu_prod(&tn->type, p + 1, k, pr);
      cpu_fmt(sp, CPU_EXPR, "(%s*%s)", W, pr);
    }
  }
  *base = c->cat >= 0 ? c->coff[w] : 0;
  return c->cat >= 0 ? c->cat : t;
}

static const CpuAttnBw *bw_at(const CpuCx *cx, int id) {
  for (int i = 0; i < cx->nabw; i++)
    if (cx->abw[i].at == id) return &cx->abw[i];
  return NULL;
}

int cpu_attention_bw_at(const CpuCx *cx, int id) { return bw_at(cx, id) != NULL; }

int cpu_emit_attention_bw(CpuCx *cx, int id) {
  Em *em = &cx->em;
  const CpuAttnBw *c = bw_at(cx, id);
  if (!c) return 0;
  const Type *st = &N_(em, c->s0)->type, *qt = &N_(em, c->q)->type, *vt = &N_(em, c->v)->type;
  int r = st->rank;
  char LQ[CPU_EXPR], LK[CPU_EXPR], D[CPU_EXPR], DV[CPU_EXPR], NB[CPU_EXPR], rm[4 * CPU_EXPR], neg[CPU_EXPR], sc[CPU_EXPR];
  cpu_dim(st->dims[r - 2], LQ);
  cpu_dim(st->dims[r - 1], LK);
  cpu_dim(qt->dims[r - 1], D);
  cpu_dim(vt->dims[r - 1], DV);
  cpu_prod(st, 0, r - 2, NB);
  cpu_fmt(sc, sizeof sc, "%.17g", (double)(float)c->scale);
  sb_printf(em->b, "  /* fused attention backward: dV %%%d, dQ %%%d, dK %%%d (-1: not needed)%s%s%s */\n", c->dv, c->dq, c->dk,
            c->dvt >= 0 ? ", dV written transposed here" : "", c->rbt[0] >= 0 ? ", dQ's rotary gradient written transposed" : "",
            c->rbt[1] >= 0 ? ", dK's rotary gradient written transposed" : "");
  if (c->cat >= 0)
    sb_printf(em->b, "  /* dV, dQ, dK (transposed) written into the columns %lld, %lld, %lld of %%%d (their pads' sum) */\n", (long long)c->coff[0],
              (long long)c->coff[1], (long long)c->coff[2], c->cat);
  sb_printf(em->b, "  {\n    const int64_t LQ_ = %s, LK_ = %s, D_ = %s, DV_ = %s, NB_ = %s;\n    const float SC_ = (float)%s;\n", LQ, LK, D, DV, NB, sc);
  Strides sm;
  const char *names[1] = {"om_"};
  Strides *sts[1] = {&sm};
  int nop = 0;
  if (c->mask >= 0) {
    cpu_bcast_strides(&N_(em, c->mask)->type, st, sm);
    char off[3 * CPU_EXPR];
    cpu_fmt(off, sizeof off, "om_ + i * %s + j * %s", sm[r - 2], sm[r - 1]);
    cpu_read(em, c->mask, off, rm);
    cpu_const_literal(N_(em, c->neg), neg);
    nop = em->inl[c->mask] != CPU_INL_CONST;
  }
  /* x_ (LQ_ + LK_ floats of scratch: per-row sums, or a row) at the end of d_'s block: a small
   * block of its own, written in the inner loop, could share a cache line with the other thread's */
  sb_printf(em->b, "#pragma omp parallel\n    {\n      float *s_ = (float *)dlm_alloc(LQ_ * LK_, sizeof(float)), *d_ = (float *)dlm_alloc(LQ_ * LK_ + LQ_ + LK_, sizeof(float));\n");
  sb_printf(em->b, "      float *x_ = d_ ? d_ + LQ_ * LK_ : NULL, *kt_ = (float *)dlm_alloc(LK_ * D_, sizeof(float));\n");
  /* q or k computed here (a rotary embedding, cpu_mark_attention_views): per entry into qr_ / kr_ */
  const CpuRope *rq = cpu_rope_of(em, c->q), *rk = cpu_rope_of(em, c->k);
  sb_printf(em->b, "      float *vt_ = (float *)dlm_alloc(LK_ * DV_, sizeof(float));\n");
  sb_printf(em->b, "      float *qr_ = %s, *kr_ = %s;\n", rq ? "(float *)dlm_alloc(LQ_ * D_, sizeof(float))" : "NULL",
            rk ? "(float *)dlm_alloc(LK_ * D_, sizeof(float))" : "NULL");
  /* rg_: dQ or dK rows before the rotary gradient */
  int rgn = c->rbt[0] >= 0 || c->rbt[1] >= 0;
  sb_printf(em->b, "      float *rg_ = %s;\n", rgn ? "(float *)dlm_alloc((LQ_ > LK_ ? LQ_ : LK_) * D_, sizeof(float))" : "NULL");
  sb_printf(em->b, "      const int ok_ = s_ && d_ && kt_ && vt_%s%s%s;\n      if (!ok_) bad = 1;\n", rq ? " && qr_" : "", rk ? " && kr_" : "",
            rgn ? " && rg_" : "");
  sb_printf(em->b, "#pragma omp for schedule(static)\n      for (int64_t bt = 0; bt < NB_; bt++) {\n        if (!ok_) continue;\n");
  /* q, k, v, g: dense, or transposes read in place (CPU_INL_VIEW: split_heads of v, the gradient
   * of merge_heads); their rows are contiguous, LD*_ apart */
  const int xs[4] = {c->q, c->k, c->v, c->g};
  const char *an[12] = {"aq_", "ak_", "av_", "ag_", names[0]}, *pn[4] = {"q_", "k_", "v_", "g_"}, *ln[4] = {"LDQ_", "LDK_", "LDV_", "LDG_"};
  MapOp ops[4];
  Strides *asts[12] = {NULL, NULL, NULL, NULL, sts[0]};
  for (int i = 0; i < 4; i++) {
    const Type *xt = &N_(em, xs[i])->type;
    if (em->inl[xs[i]] == CPU_INL_VIEW) cpu_view_read(em, xs[i], &ops[i]);
    else {
      ops[i].id = xs[i];
      ops[i].base = 0;
      for (int d = 0; d < r; d++) cpu_prod(xt, d + 1, r, ops[i].st[d]);
    }
    asts[i] = &ops[i].st;
  }
  /* dV's element (.., j, c) in its transpose's buffer (c->dvt >= 0): ot_ + j * sdt[r - 2] + c */
  Strides sdt, srt[2], src[2], srs[2];
  int nops = 4 + nop;
  int dvb = -1, rtb[2] = {-1, -1};
  int64_t dvo = 0, rto[2] = {0, 0};
  if (c->dvt >= 0) {
    dvb = late_dest(em, c, c->dvt, 0, sdt, &dvo);
    an[nops] = "ot_";
    asts[nops++] = &sdt;
  }
  /* dQ / dK through a rotary embedding's gradient (c->rbt[i] >= 0): rows of the rotary's cos (rc*)
   * and sin (rs*), and the element (.., i, c) of the transpose written: o*t_ + i * srt[i][r - 2] + c */
  static const char *const rbn[2][3] = {{"oqt_", "rcq_", "rsq_"}, {"okt_", "rck_", "rsk_"}};
  for (int i = 0; i < 2; i++) {
    if (c->rbt[i] < 0) continue;
    const Type *ot = &N_(em, i ? c->dk : c->dq)->type;
    rtb[i] = late_dest(em, c, c->rbt[i], i + 1, srt[i], &rto[i]);
    cpu_bcast_strides(&N_(em, c->rbc[i])->type, ot, src[i]);
    cpu_bcast_strides(&N_(em, c->rbs[i])->type, ot, srs[i]);
    an[nops] = rbn[i][0], asts[nops++] = &srt[i];
    an[nops] = rbn[i][1], asts[nops++] = &src[i];
    an[nops] = rbn[i][2], asts[nops++] = &srs[i];
  }
  cpu_emit_offsets(em, st, r - 2, "bt", nops, an, asts, "        ");
  const CpuRope *rqk[2] = {rq, rk};
  if (rq) cpu_emit_rope_rows(em, rq, st, "LQ_", "qr_", "        ");
  if (rk) cpu_emit_rope_rows(em, rk, st, "LK_", "kr_", "        ");
  MapOp nx[4];
  for (int i = 0; i < 4; i++) {
    if (i < 2 && rqk[i]) cpu_rope_src(em, rqk[i], &nx[i]);
    else nx[i] = ops[i];
  }
  const char *nrows[4] = {"LQ_", "LK_", "LK_", "LQ_"}, *nw[4] = {"D_", "D_", "DV_", "DV_"};
  cpu_emit_attn_next(em, st, 4, nx, nrows, nw, "        ");
  sb_printf(em->b, "        (void)aq_;\n        (void)ak_;\n        (void)qr_;\n        (void)kr_;\n        (void)rg_;\n");
  for (int i = 0; i < 4; i++) {
    if (i < 2 && rqk[i]) {
      sb_printf(em->b, "        const float *%s = %s;\n        const int64_t %s = D_;\n", pn[i], i ? "kr_" : "qr_", ln[i]);
      continue;
    }
    sb_printf(em->b, "        const float *%s = v%d + %s + %lld;\n        const int64_t %s = %s > 0 ? %s : 1;\n", pn[i], ops[i].id, an[i],
              (long long)ops[i].base, ln[i], ops[i].st[r - 2], ops[i].st[r - 2]);
  }
  /* P: scores (scaled in the product's store, as S0 * c), mask, softmax (cpu_attn_prelude's row), mask */
  /* K^T and V^T packed for the register tiles when at least 16 query rows share them */
  sb_printf(em->b, "        const int pk_ = LQ_ >= 16;\n        if (pk_) {\n          dlm_attn_pack_t(LK_, D_, k_, LDK_, kt_);\n"
                   "          dlm_attn_pack_t(LK_, DV_, v_, LDV_, vt_);\n        }\n");
  sb_printf(em->b, "        if (pk_) dlm_attn_gemm(LQ_, LK_, D_, SC_, q_, LDQ_, 1, kt_, LK_, s_, LK_, 0);\n"
                   "        else dlm_attn_gemm_nt(LQ_, LK_, D_, SC_, q_, LDQ_, k_, LDK_, s_, LK_);\n");
  sb_printf(em->b, "        if (pk_) dlm_attn_prefetch(pfp_, pfl_, pfn_, pfw_, 4, 0, 4);\n");
  if (c->mask >= 0) {
    sb_printf(em->b, "        for (int64_t i = 0; i < LQ_; i++) {\n          float *p_ = s_ + i * LK_;\n");
    sb_printf(em->b, "          for (int64_t j = 0; j < LK_; j++) p_[j] = (%s) != 0 ? p_[j] : %s;\n", rm, neg);
    sb_printf(em->b, "          dlm_attn_softmax_row(p_, LK_);\n");
    sb_printf(em->b, "          for (int64_t j = 0; j < LK_; j++) p_[j] = (%s) != 0 ? p_[j] : 0.0f;\n        }\n", rm);
  } else sb_printf(em->b, "        dlm_attn_softmax_rows(s_, LQ_, LK_, LK_, x_);\n");
  sb_printf(em->b, "        if (pk_) dlm_attn_prefetch(pfp_, pfl_, pfn_, pfw_, 4, 1, 4);\n");
  if (c->dvt >= 0)
    sb_printf(em->b, "        dlm_attn_gemm(LK_, DV_, LQ_, 1.0f, s_, 1, LK_, g_, LDG_, v%d + %lld + ot_, %s, 0);\n", dvb, (long long)dvo, sdt[r - 2]);
  else if (c->dv >= 0) sb_printf(em->b, "        dlm_attn_gemm(LK_, DV_, LQ_, 1.0f, s_, 1, LK_, g_, LDG_, v%d + bt * LK_ * DV_, DV_, 0);\n", c->dv);
  /* dS = ((P * (dP - rowsum(dP * P))) * c), rowsum in double over the f32 products */
  sb_printf(em->b, "        if (pk_) dlm_attn_gemm(LQ_, LK_, DV_, 1.0f, g_, LDG_, 1, vt_, LK_, d_, LK_, 0);\n"
                   "        else dlm_attn_gemm_nt(LQ_, LK_, DV_, 1.0f, g_, LDG_, v_, LDV_, d_, LK_);\n");
  sb_printf(em->b, "        if (pk_) dlm_attn_prefetch(pfp_, pfl_, pfn_, pfw_, 4, 2, 4);\n");
  sb_printf(em->b, "        dlm_attn_dsoftmax_rows(s_, d_, LQ_, LK_, LK_, SC_, x_);\n");
  sb_printf(em->b, "        if (pk_) dlm_attn_prefetch(pfp_, pfl_, pfn_, pfw_, 4, 3, 4);\n");
  /* dQ, dK: into their buffers, or into rg_ and then through the rotary gradient into the
   * transposes */
  for (int i = 0; i < 2; i++) {
    int o = i ? c->dk : c->dq;
    if (o < 0) continue;
    char dst[64];
    if (c->rbt[i] < 0) cpu_fmt(dst, sizeof dst, "v%d + bt * %s * D_", o, i ? "LK_" : "LQ_");
    else cpu_fmt(dst, sizeof dst, "rg_");
    if (i) sb_printf(em->b, "        dlm_attn_gemm(LK_, D_, LQ_, 1.0f, d_, 1, LK_, q_, LDQ_, %s, D_, 0);\n", dst);
    else sb_printf(em->b, "        dlm_attn_gemm(LQ_, D_, LK_, 1.0f, d_, LK_, 1, k_, LDK_, %s, D_, 0);\n", dst);
    if (c->rbt[i] >= 0)
      sb_printf(em->b, "        dlm_attn_rope_bw_rows(%s, D_, rg_, v%d + %s, %s, v%d + %s, %s, v%d + %lld + %s, %s);\n", i ? "LK_" : "LQ_",
                c->rbc[i], rbn[i][1], src[i][r - 2], c->rbs[i], rbn[i][2], srs[i][r - 2], rtb[i], (long long)rto[i], rbn[i][0], srt[i][r - 2]);
  }
  sb_printf(em->b, "      }\n      free(s_);\n      free(d_);\n      free(kt_);\n      free(vt_);\n      free(qr_);\n      free(kr_);\n      free(rg_);\n    }\n  }\n");
  cpu_fail(em, id, "attention backward: out of memory");
  return 1;
}
