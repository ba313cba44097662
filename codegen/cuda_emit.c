/* cuda_emit.c — the CUDA code generator's driver: liveness (nodes no output depends on are
 * skipped), inline constants, the fusion decision (which nodes are computed inside their readers'
 * kernels), the kernel framing (signature, pointer declarations, grid-stride or per-block loops, the
 * failure flag) and the launch plan; the per-op kernels are in cuda_emit_ops.c. Buffers are not
 * allocated here: the backend plans one device allocation per function. */
#include "cuda_emit_internal.h"
#include <stdlib.h>
#include <string.h>

static int add_launch(Cx *c, CudaLaunch l) {
  CudaUnit *u = c->u;
  if (u->nlaunch == u->caplaunch) {
    int cap = u->caplaunch ? 2 * u->caplaunch : 64;
    CudaLaunch *n = realloc(u->launch, (size_t)cap * sizeof *n);
    if (!n) { c->oom = 1; return 0; }
    u->launch = n;
    u->caplaunch = cap;
  }
  u->launch[u->nlaunch++] = l;
  return 1;
}

static void declare_ptr(Cx *c, int id) {
  const Node *n = &c->em.f->nodes[id];
  if (c->decl[id] == c->stamp) return;
  c->decl[id] = c->stamp;
  if (c->fused[id]) { /* its readers compute it: declare the buffers it reads */
    for (int j = 0; j < n->nin; j++) declare_ptr(c, n->in[j]);
    return;
  }
  if (c->em.inl[id]) return;
  const char *ct = cpu_ctype(n->type.dtype);
  sb_printf(c->em.b, "  %s *v%d = (%s *)V[%d];\n  (void)v%d;\n", ct, id, ct, id, id);
}

void cx_begin(Cx *c, int id, CudaLaunchKind kind, int nd, const Dim *dims) {
  const Func *f = c->em.f;
  const Node *n = &f->nodes[id];
  CudaLaunch l;
  memset(&l, 0, sizeof l);
  l.node = id;
  l.kind = kind;
  l.ndims = nd;
  l.opnd[0] = l.opnd[1] = -1;
  l.src[0] = l.src[1] = -1;
  for (int d = 0; d < nd; d++) l.dims[d] = dims[d];
  snprintf(l.name, sizeof l.name, "k%d_%d", id, c->seq++);
  l.src_off = c->em.b->n;
  add_launch(c, l);
  c->u->nkernels++;
  c->tmp = 0;
  c->stamp++;
  c->cur = id;
  c->stored = 0;
  Sb *b = c->em.b;
  sb_printf(b, "extern \"C\" __global__ void %s(DlmS Sv, void *const *V, int *bad) {\n", l.name);
  sb_printf(b, "  const int64_t *S = Sv.s;\n  (void)S;\n  int bad_ = 0;\n");
  if (n->op == OP_SORT_DESC || n->op == OP_MATMUL) sb_printf(b, "  void *w_ = V[%d];\n", f->nnodes + id);
  c->decl[id] = c->stamp;
  if (!c->em.inl[id]) {
    const char *ct = cpu_ctype(n->type.dtype);
    sb_printf(b, "  %s *v%d = (%s *)V[%d];\n  (void)v%d;\n", ct, id, ct, id, id);
  }
  for (int j = 0; j < n->nin; j++) {
    declare_ptr(c, n->in[j]);
    if (c->u->store_at[n->in[j]] == id) /* computed here: declare what it reads */
      for (int k = 0; k < f->nodes[n->in[j]].nin; k++) declare_ptr(c, f->nodes[n->in[j]].in[k]);
  }
  for (int r = c->next[id]; r >= 0 && f->nodes[r].op != OP_MATMUL; r = c->next[r]) declare_ptr(c, r); /* a sink's chain */
  char units[CPU_EXPR] = "1";
  if (nd) {
    Type t;
    memset(&t, 0, sizeof t);
    t.rank = nd;
    for (int d = 0; d < nd; d++) t.dims[d] = dims[d];
    cpu_prod(&t, 0, nd, units);
  }
  sb_printf(b, "  const int64_t U_ = %s;\n", units);
  if (kind == CL_THREADS)
    sb_printf(b, "  for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < U_; k += (int64_t)gridDim.x * blockDim.x) {\n");
  else
    sb_printf(b, "  for (int64_t q = blockIdx.x; q < U_; q += gridDim.x) {\n");
}

void cx_end(Cx *c, int id) {
  sb_printf(c->em.b, "  }\n  if (bad_) DLM_FAIL(%d);\n}\n\n", id);
}

int cx_gemm(Cx *c, int id) {
  CudaLaunch l;
  memset(&l, 0, sizeof l);
  l.node = id;
  l.kind = CL_GEMM;
  l.opnd[0] = l.opnd[1] = -1;
  l.src[0] = 2 * id;
  l.src[1] = 2 * id + 1;
  return add_launch(c, l);
}

/* Mark the nodes computed inside their readers' kernels (see cuda_emit.h); keep marks outputs and
 * inputs of readers that need a buffer. Readers decide first
 * (from the last node back), so a node read by a reshape is fused only if the reshape is; then, forward,
 * cost[id] counts the node evaluations one read of id inlines, and a candidate whose cost passes
 * the bound gets a buffer (a reshape never: it costs nothing and aliases otherwise). */
static int decide_fusion(const Func *f, CudaUnit *u, const char *keep, char *fused) {
  int nn = f->nnodes, sz = nn ? nn : 1;
  int *uses = calloc((size_t)sz, sizeof *uses), *cost = calloc((size_t)sz, sizeof *cost), *first = calloc((size_t)sz + 1, sizeof *first);
  int *rd = NULL;
  char *cand = calloc((size_t)sz, 1), *arith = calloc((size_t)sz, 1);
  int ok = uses && cost && first && cand && arith;
  int nedges = 0;
  for (int id = 0; ok && id < nn; id++)
    if (u->live[id])
      for (int j = 0; j < f->nodes[id].nin; j++) { uses[f->nodes[id].in[j]]++; nedges++; }
  if (ok) rd = malloc((size_t)(nedges ? nedges : 1) * 2 * sizeof *rd);
  ok = ok && rd;
  /* readers of each node as (reader, input position) pairs, grouped by node */
  for (int id = 0; ok && id < nn; id++) first[id + 1] = first[id] + (u->live[id] ? uses[id] : 0);
  int *fill = ok ? calloc((size_t)sz, sizeof *fill) : NULL;
  ok = ok && fill;
  for (int id = 0; ok && id < nn; id++)
    if (u->live[id])
      for (int j = 0; j < f->nodes[id].nin; j++) {
        int p = f->nodes[id].in[j], at = first[p] + fill[p]++;
        rd[2 * at] = id;
        rd[2 * at + 1] = j;
      }
  /* cand: 1 = may be fused, 2 = may be fused and only attention masks read it (evaluated once per
   * score anyway: fused for any number of readers, up to the single-reader cost) */
  for (int id = nn - 1; ok && id >= 0; id--) {
    if (!u->live[id] || u->inl[id] || keep[id] || uses[id] < 1 || !cuda_exprable(f, id)) continue;
    int all = 1, mask = 1;
    for (int k = first[id]; all && k < first[id + 1]; k++) {
      int r = rd[2 * k], j = rd[2 * k + 1];
      all = f->nodes[r].op == OP_RESHAPE ? cand[r] : cuda_accepts(f, r, j);
      mask &= (f->nodes[r].op == OP_ATTENTION && j == 3) || cand[r] == 2;
    }
    if (all && (mask || uses[id] <= CUDA_FUSE_USES)) cand[id] = (char)(mask ? 2 : 1);
  }
  for (int id = 0; ok && id < nn; id++) {
    const Node *n = &f->nodes[id];
    if (!u->live[id]) continue;
    int c = n->op == OP_RESHAPE ? 0 : 1;
    OpKind op = n->op;
    /* arith: the value needs arithmetic, not only index arithmetic, to compute */
    int ar = !(op == OP_RESHAPE || op == OP_BROADCAST || op == OP_TRANSPOSE || op == OP_SLICE || op == OP_PAD || op == OP_CONCAT ||
               op == OP_IOTA || op == OP_CONST || op == OP_PARAM || op == OP_ARG);
    for (int j = 0; j < n->nin; j++)
      if (fused[n->in[j]]) {
        c += cost[n->in[j]];
        ar |= arith[n->in[j]];
      }
    cost[id] = c;
    arith[id] = (char)ar;
    if (!cand[id] || (n->op != OP_RESHAPE && c > (uses[id] == 1 || cand[id] == 2 ? CUDA_FUSE_MAX : CUDA_FUSE_SHARED_MAX))) continue;
    /* attention reads its keys and values once per query tile: only index arithmetic is
     * recomputed there (RoPE'd keys get a buffer; values in head layout are read in place) */
    int kv = 0;
    for (int k = first[id]; k < first[id + 1]; k++) kv |= f->nodes[rd[2 * k]].op == OP_ATTENTION && (rd[2 * k + 1] == 1 || rd[2 * k + 1] == 2);
    if (kv && ar) continue;
    fused[id] = 1;
    u->inl[id] = 1;
    if (n->op == OP_RESHAPE) continue;
    u->nfused++;
    double el = 1;
    for (int d = 0; d < n->type.rank; d++) el *= (double)n->type.dims[d].k;
    DType dt = n->type.dtype;
    u->fused_bytes += el * (double)(dt == DT_F64 || dt == DT_I64 ? 8 : dt == DT_BOOL ? 1 : 4);
  }
  free(uses);
  free(cost);
  free(first);
  free(rd);
  free(cand);
  free(arith);
  free(fill);
  return ok;
}

static int is_float_matmul(const Node *n) { return n->op == OP_MATMUL && cpu_is_floatish(n->type.dtype); }

/* Gemm epilogues (see cuda_emit.h): M1 -> add(M1, bias) -> gelu_tanh -> operand x of M2, each
 * the one reader of the one before, none an output, the add and the GELU fused (they are then
 * computed by M2's operand kernel: that kernel is the epilogue's fallback). M1 is f32 with a
 * rank-2 B operand and an untransposed A whose batch dims are the output's,
 * so the product is one [rows, N] gemm; the bias is an f32 parameter of shape [N]. */
static int decide_epilogues(const Func *f, CudaUnit *u, const char *keep, const char *fused, int *epi, int *epi_dst, int *epi_src) {
  int nn = f->nnodes, sz = nn ? nn : 1;
  int *uses = calloc((size_t)sz, sizeof *uses), *reader = malloc((size_t)sz * sizeof *reader);
  if (!uses || !reader) { free(uses); free(reader); return 0; }
  for (int id = 0; id < nn; id++)
    if (u->live[id])
      for (int j = 0; j < f->nodes[id].nin; j++) { uses[f->nodes[id].in[j]]++; reader[f->nodes[id].in[j]] = id; }
  for (int id = 0; id < nn; id++) {
    const Node *m1 = &f->nodes[id];
    if (!u->live[id] || m1->op != OP_MATMUL || m1->type.dtype != DT_F32 || keep[id] || uses[id] != 1 || m1->attr.i[0]) continue;
    const Type *ot = &m1->type, *at = &f->nodes[m1->in[0]].type, *bt = &f->nodes[m1->in[1]].type;
    int r = ot->rank, ok = r >= 2 && bt->rank == 2 && at->rank == r;
    for (int d = 0; ok && d < r - 2; d++) ok = dim_eq(at->dims[d], ot->dims[d]);
    int add = reader[id];
    const Node *an = &f->nodes[add];
    if (!ok || an->op != OP_ADD || !fused[add] || keep[add] || uses[add] != 1 || !type_eq(&an->type, ot)) continue;
    int bias = an->in[0] == id ? an->in[1] : an->in[0];
    const Node *bn = &f->nodes[bias];
    if (bias == id || bn->op != OP_PARAM || bn->type.dtype != DT_F32 || bn->type.rank != 1 || !dim_eq(bn->type.dims[0], ot->dims[r - 1])) continue;
    int gelu = reader[add];
    const Node *gn = &f->nodes[gelu];
    if (gn->op != OP_GELU_TANH || !fused[gelu] || keep[gelu] || uses[gelu] != 1 || !type_eq(&gn->type, ot)) continue;
    int m2 = reader[gelu];
    const Node *mn = &f->nodes[m2];
    if (!is_float_matmul(mn) || mn->type.dtype != DT_F32 || mn->in[0] == mn->in[1]) continue;
    int x = mn->in[0] == gelu ? 0 : 1;
    epi[id] = 1 + bias;
    epi_dst[id] = 2 * m2 + x;
    epi_src[2 * m2 + x] = 1 + id;
    if (u->scratch_from[m2] > id) u->scratch_from[m2] = id;  /* written by M1's gemm */
  }
  free(uses);
  free(reader);
  return 1;
}

int cuda_unit_launches(const CudaUnit *u, int fallback) { return u->nlaunch - (fallback ? 0 : u->nalt); }

/* Sinks: a layer_norm / softmax / log_softmax / attention node R with one reader, followed by a
 * chain of single-reader nodes (maps of the chain value's shape, transposes, reshapes; no outputs)
 * that ends as an operand of a float matmul M: R's kernel computes the chain and writes M's
 * operand, so neither R nor the chain has a buffer and M has no operand kernel for it. */
static int decide_sinks(const Func *f, CudaUnit *u, const char *keep, char *fused, int *next, char *opnd_sunk) {
  int nn = f->nnodes, sz = nn ? nn : 1;
  int *uses = calloc((size_t)sz, sizeof *uses), *reader = malloc((size_t)sz * sizeof *reader);
  if (!uses || !reader) { free(uses); free(reader); return 0; }
  for (int id = 0; id < nn; id++) {
    next[id] = -1;
    if (u->live[id])
      for (int j = 0; j < f->nodes[id].nin; j++) { uses[f->nodes[id].in[j]]++; reader[f->nodes[id].in[j]] = id; }
  }
  for (int id = 0; id < nn; id++) {
    OpKind op = f->nodes[id].op;
    if (!u->live[id] || u->inl[id] || keep[id] || (op != OP_LAYER_NORM && op != OP_SOFTMAX && op != OP_LOG_SOFTMAX && op != OP_ATTENTION))
      continue;
    if (f->nodes[id].type.dtype != DT_F32) continue;
    int chain[CUDA_FUSE_MAX], n = 0, cur = id, m = -1;
    while (n < CUDA_FUSE_MAX && uses[cur] == 1 && !(cur != id && keep[cur])) {
      int r = reader[cur];
      const Node *rn = &f->nodes[r];
      if (is_float_matmul(rn) && rn->in[0] != rn->in[1] && rn->type.dtype == DT_F32) { m = r; break; }
      int ok = rn->op == OP_RESHAPE || rn->op == OP_TRANSPOSE;
      if (!ok && cuda_is_map(f, r, 1) && rn->type.dtype == DT_F32) {
        const Type *a = &f->nodes[cur].type, *b = &rn->type;
        ok = a->rank == b->rank;
        for (int d = 0; ok && d < a->rank; d++) ok = dim_eq(a->dims[d], b->dims[d]);
      }
      if (!ok) break;
      chain[n++] = r;
      cur = r;
    }
    if (m < 0) continue;
    int x = f->nodes[m].in[0] == cur ? 0 : 1;
    next[id] = n ? chain[0] : m;
    for (int k = 0; k < n; k++) {
      next[chain[k]] = k + 1 < n ? chain[k + 1] : m;
      if (!fused[chain[k]] && f->nodes[chain[k]].op != OP_RESHAPE) u->nfused++;
      fused[chain[k]] = 1;
      u->inl[chain[k]] = 1;
    }
    opnd_sunk[2 * m + x] = 1;
    u->nobuf[id] = 1;
    u->nsinks++;
    if (u->scratch_from[m] > id) u->scratch_from[m] = id;
  }
  free(uses);
  free(reader);
  return 1;
}

/* Store-through: a map p (not fused, no failure checks) read as the input of a float row kernel R
 * (norm, softmax, reductions), whose other readers all come after R, is computed by R's first
 * pass over its rows and stored there (each element once), so p needs no kernel of its own. */
static void decide_stores(const Func *f, CudaUnit *u, const char *fused) {
  for (int r = 0; r < f->nnodes; r++) {
    const Node *rn = &f->nodes[r];
    OpKind op = rn->op;
    if (!u->live[r] || u->inl[r] || rn->nin != 1 || !dtype_is_float(f->nodes[rn->in[0]].type.dtype)) continue;
    if (op != OP_LAYER_NORM && op != OP_SOFTMAX && op != OP_LOG_SOFTMAX && op != OP_LOGSUMEXP && op != OP_SUM && op != OP_MEAN &&
        op != OP_RMAX && op != OP_ARGMAX)
      continue;
    int p = rn->in[0], ok = u->live[p] && !fused[p] && !u->inl[p] && u->store_at[p] < 0 && cuda_is_map(f, p, 1);
    for (int q = p + 1; ok && q < f->nnodes; q++)
      if (u->live[q] && q != r)
        for (int j = 0; j < f->nodes[q].nin; j++) ok &= f->nodes[q].in[j] != p || q > r;
    if (ok) u->store_at[p] = r;
  }
}

/* Batched gemms: float matmuls with rank-2 operands and result that read the same operand A (the
 * same node read directly, or the same rounded scratch) and each a parameter as B, of the same
 * types and transposes, are one cublasGemmBatchedEx call at the first one's place (all its
 * operands exist there: A before the first, B always). DiT blocks' adaLN linears on the
 * conditioning vector are such a group: one launch for all blocks. */
static int group_key_eq(const Func *f, const CudaLaunch *a, const CudaLaunch *b) {
  const Node *x = &f->nodes[a->node], *y = &f->nodes[b->node];
  if (x->attr.i[0] != y->attr.i[0] || x->attr.i[1] != y->attr.i[1] || !type_eq(&x->type, &y->type)) return 0;
  if (!type_eq(&f->nodes[x->in[0]].type, &f->nodes[y->in[0]].type) || !type_eq(&f->nodes[x->in[1]].type, &f->nodes[y->in[1]].type)) return 0;
  if (a->opnd[0] >= 0 || b->opnd[0] >= 0) return a->opnd[0] == b->opnd[0];
  return a->src[0] == b->src[0];
}

static int groupable(const Func *f, const CudaLaunch *l) {
  const Node *n = &f->nodes[l->node];
  return l->kind == CL_GEMM && !l->epi && n->type.rank == 2 && f->nodes[n->in[0]].type.rank == 2 && f->nodes[n->in[1]].type.rank == 2 &&
         l->opnd[1] >= 0 && f->nodes[l->opnd[1]].op == OP_PARAM && (l->opnd[0] >= 0 || l->src[0] >= 0);
}

static int batch_gemms(const Func *f, CudaUnit *u) {
  int n = u->nlaunch, w = 0;
  char *taken = calloc((size_t)(n ? n : 1), 1);
  u->gmembers = malloc((size_t)(n ? n : 1) * sizeof *u->gmembers);
  if (!taken || !u->gmembers) { free(taken); return 0; }
  for (int i = 0; i < n; i++) {
    if (taken[i]) continue;
    CudaLaunch l = u->launch[i];
    if (groupable(f, &l)) {
      int first = u->ngmembers, count = 1;
      u->gmembers[u->ngmembers++] = l.node;
      for (int j = i + 1; j < n; j++)
        if (!taken[j] && groupable(f, &u->launch[j]) && group_key_eq(f, &l, &u->launch[j])) {
          taken[j] = 1;
          u->gmembers[u->ngmembers++] = u->launch[j].node;
          u->gemm_at[u->launch[j].node] = l.node;
          count++;
        }
      if (count > 1) l.gfirst = first, l.gcount = count;
      else u->ngmembers--;
    }
    u->launch[w++] = l;
  }
  u->nlaunch = w;
  free(taken);
  return 1;
}

void cuda_unit_free(CudaUnit *u) {
  free(u->gmembers);
  free(u->gemm_at);
  free(u->src);
  free(u->launch);
  free(u->live);
  free(u->inl);
  free(u->nobuf);
  free(u->scratch_from);
  free(u->scratch_to);
  free(u->store_at);
  memset(u, 0, sizeof *u);
}

int cuda_emit_func(const Module *m, const Func *f, CudaUnit *u, DlmErr *e) {
  const char *fz = getenv("DLM_CUDA_FUSE");
  return cuda_emit_func_fuse(m, f, !(fz && strcmp(fz, "0") == 0), u, e);
}

int cuda_emit_func_fuse(const Module *m, const Func *f, int fuse, CudaUnit *u, DlmErr *e) {
  memset(u, 0, sizeof *u);
  int nn = f->nnodes, sz = nn ? nn : 1;
  char *needbuf = calloc((size_t)sz, 1), *fused = calloc((size_t)sz, 1);
  int *decl = calloc((size_t)sz, sizeof *decl), *next = malloc((size_t)sz * sizeof *next);
  char *opnd_sunk = calloc((size_t)sz * 2, 1), (*sub)[32] = malloc((size_t)sz * sizeof *sub), *has_sub = calloc((size_t)sz, 1);
  u->live = calloc((size_t)sz, 1);
  u->inl = calloc((size_t)sz, 1);
  u->nobuf = calloc((size_t)sz, 1);
  u->scratch_from = malloc((size_t)sz * sizeof *u->scratch_from);
  u->scratch_to = malloc((size_t)sz * sizeof *u->scratch_to);
  u->store_at = malloc((size_t)sz * sizeof *u->store_at);
  u->gemm_at = malloc((size_t)sz * sizeof *u->gemm_at);
  int *rounded = calloc((size_t)sz, sizeof *rounded);
  int *epi = calloc((size_t)sz, sizeof *epi), *epi_dst = calloc((size_t)sz, sizeof *epi_dst), *epi_src = calloc((size_t)sz * 2, sizeof *epi_src);
  const char *gm = getenv("DLM_CUDA_GEMM");
  u->gemm_f32 = gm && strcmp(gm, "f32") == 0;
  Sb b = {0};
  int ok = needbuf && fused && decl && next && opnd_sunk && sub && has_sub && u->live && u->inl && u->nobuf && u->scratch_from && u->scratch_to && u->store_at && u->gemm_at && rounded && epi && epi_dst && epi_src;
  for (int id = 0; ok && id < nn; id++) { next[id] = -1; u->scratch_from[id] = u->scratch_to[id] = id; u->store_at[id] = u->gemm_at[id] = -1; }
  if (!ok) err_set(e, (SrcLoc){0, 0, 0}, "cuda: out of memory");
  char *live = u->live;
  for (int k = 0; ok && k < f->nout; k++) {
    if (f->outs[k] < 0 || f->outs[k] >= nn) { err_set(e, (SrcLoc){0, 0, 0}, "%s: output %d is undefined", f->name, k); ok = 0; }
    else { live[f->outs[k]] = 1; needbuf[f->outs[k]] = 1; }
  }
  for (int id = nn - 1; ok && id >= 0; id--) {
    const Node *n = &f->nodes[id];
    if (!live[id]) continue;
    for (int j = 0; j < n->nin; j++) {
      if (n->in[j] < 0 || n->in[j] >= id) {
        err_set(e, n->loc, "%s: %%%d reads %%%d, which is not defined before it", op_info[n->op].name, id, n->in[j]);
        ok = 0;
        break;
      }
      live[n->in[j]] = 1;
      /* a reshape aliases its input's buffer unless both are fused (decide_fusion) */
      if (n->op == OP_RESHAPE ? f->nodes[n->in[j]].op == OP_CONST || !fuse : !cuda_accepts(f, id, j)) needbuf[n->in[j]] = 1;
    }
  }
  for (int id = 0; ok && id < nn; id++) u->inl[id] = live[id] && f->nodes[id].op == OP_CONST && !needbuf[id];
  if (ok && fuse && (!decide_fusion(f, u, needbuf, fused) || !decide_sinks(f, u, needbuf, fused, next, opnd_sunk))) {
    err_set(e, (SrcLoc){0, 0, 0}, "cuda: out of memory");
    ok = 0;
  }
  if (ok && fuse) decide_stores(f, u, fused);
  if (ok && fuse && !decide_epilogues(f, u, needbuf, fused, epi, epi_dst, epi_src)) {
    err_set(e, (SrcLoc){0, 0, 0}, "cuda: out of memory");
    ok = 0;
  }
  Cx c = {{m, f, &b, u->inl}, u, fused, 0, 0, decl, 0, next, opnd_sunk, sub, has_sub, 0, 0, rounded, epi, epi_dst, epi_src, 0};
  if (ok) {
    sb_printf(&b, "/* Generated by dlmc (codegen/cuda_emit.c): function %s of module %s. */\n", f->name,
              m->name ? m->name : "?");
    sb_printf(&b, "%s", cuda_prelude);
    u->prelude_len = b.n;
  }
  for (int id = 0; ok && id < nn; id++) {
    const Node *n = &f->nodes[id];
    if (!live[id] || u->inl[id] || u->store_at[id] >= 0 || n->op == OP_ARG || n->op == OP_PARAM || n->op == OP_RESHAPE) continue;
    c.seq = 0;
    sb_printf(&b, "/* %%%d = %s */\n", id, op_info[n->op].name);
    if (!cuda_emit_kernel(&c, id, e)) { ok = 0; break; }
    if (n->type.dtype == DT_BF16 || n->type.dtype == DT_F16) {
      Dim all[DLM_MAX_RANK];
      for (int d = 0; d < n->type.rank; d++) all[d] = n->type.dims[d];
      cx_begin(&c, id, CL_THREADS, n->type.rank, all);
      sb_printf(&b, "    v%d[k] = %s(v%d[k]);\n", id, n->type.dtype == DT_BF16 ? "dlm_rbf16" : "dlm_rf16", id);
      cx_end(&c, id);
    }
  }
  if (ok && (b.oom || c.oom)) { err_set(e, (SrcLoc){0, 0, 0}, "cuda: out of memory generating code"); ok = 0; }
  if (ok && fuse && !batch_gemms(f, u)) { err_set(e, (SrcLoc){0, 0, 0}, "cuda: out of memory"); ok = 0; }
  free(needbuf);
  free(fused);
  free(decl);
  free(next);
  free(opnd_sunk);
  free(sub);
  free(has_sub);
  free(rounded);
  free(epi);
  free(epi_dst);
  free(epi_src);
  if (!ok) {
    sb_free(&b);
    cuda_unit_free(u);
    return 0;
  }
  u->src = b.s;
  return 1;
}
