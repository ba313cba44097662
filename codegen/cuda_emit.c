/* cuda_emit.c — the CUDA code generator's driver: liveness (nodes no output depends on are
 * skipped), inline constants, the kernel framing (signature, pointer declarations, grid-stride or
 * per-block loops, the failure flag) and the launch plan; the per-op kernels are in cuda_emit_ops.c.
 * Buffers are not allocated here: the backend plans one device allocation per function. */
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
  for (int d = 0; d < nd; d++) l.dims[d] = dims[d];
  snprintf(l.name, sizeof l.name, "k%d_%d", id, c->seq++);
  l.src_off = c->em.b->n;
  add_launch(c, l);
  c->u->nkernels++;
  Sb *b = c->em.b;
  sb_printf(b, "extern \"C\" __global__ void %s(DlmS Sv, void *const *V, int *bad) {\n", l.name);
  sb_printf(b, "  const int64_t *S = Sv.s;\n  (void)S;\n  int bad_ = 0;\n");
  if (n->op == OP_SORT_DESC || n->op == OP_MATMUL) sb_printf(b, "  void *w_ = V[%d];\n", f->nnodes + id);
  declare_ptr(c, id);
  for (int j = 0; j < n->nin; j++) {
    int dup = 0;
    for (int i = 0; i < j; i++) dup |= n->in[i] == n->in[j];
    if (!dup && n->in[j] != id) declare_ptr(c, n->in[j]);
  }
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
  return add_launch(c, l);
}

/* Mark the elementwise producers computed inside their consumer (see cuda_emit.h); needbuf marks
 * outputs and the operands of ops that need buffers. */
static void decide_fusion(const Func *f, CudaUnit *u, const char *needbuf, char *fused) {
  int nn = f->nnodes;
  int *uses = calloc((size_t)(nn ? nn : 1), sizeof *uses), *size = malloc((size_t)(nn ? nn : 1) * sizeof *size);
  if (!uses || !size) { free(uses); free(size); return; }  /* no fusion then */
  for (int id = 0; id < nn; id++) {
    size[id] = 1;
    if (u->live[id])
      for (int j = 0; j < f->nodes[id].nin; j++) uses[f->nodes[id].in[j]]++;
  }
  for (int id = 0; id < nn; id++) {
    const Node *n = &f->nodes[id];
    if (!u->live[id] || u->inl[id] || !cuda_is_map(f, id, 0)) continue;
    for (int j = 0; j < n->nin; j++) {
      int p = n->in[j];
      const Type *pt = &f->nodes[p].type;
      int same = pt->rank == n->type.rank;
      for (int d = 0; same && d < pt->rank; d++) same = dim_eq(pt->dims[d], n->type.dims[d]);
      if (!same || fused[p] || u->inl[p] || needbuf[p] || uses[p] != 1 || size[id] + size[p] > CUDA_FUSE_MAX || !cuda_is_map(f, p, 1))
        continue;
      fused[p] = 1;
      u->inl[p] = 1;
      size[id] += size[p];
      u->nfused++;
      double el = 1;
      for (int d = 0; d < pt->rank; d++) el *= (double)pt->dims[d].k;
      u->fused_bytes += el * (double)dtype_size(pt->dtype == DT_F64 || pt->dtype == DT_I64 ? DT_I64 : pt->dtype == DT_BOOL ? DT_BOOL : DT_F32);
    }
  }
  free(uses);
  free(size);
}

void cuda_unit_free(CudaUnit *u) {
  free(u->src);
  free(u->launch);
  free(u->live);
  free(u->inl);
  memset(u, 0, sizeof *u);
}

int cuda_emit_func(const Module *m, const Func *f, CudaUnit *u, DlmErr *e) {
  memset(u, 0, sizeof *u);
  int nn = f->nnodes, sz = nn ? nn : 1;
  char *needbuf = calloc((size_t)sz, 1);
  u->live = calloc((size_t)sz, 1);
  u->inl = calloc((size_t)sz, 1);
  Sb b = {0};
  int ok = needbuf && u->live && u->inl;
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
      if (cuda_op_needs_buffers(n->op)) needbuf[n->in[j]] = 1;
    }
  }
  for (int id = 0; ok && id < nn; id++) u->inl[id] = live[id] && f->nodes[id].op == OP_CONST && !needbuf[id];
  char *fused = calloc((size_t)sz, 1);
  if (ok && !fused) { err_set(e, (SrcLoc){0, 0, 0}, "cuda: out of memory"); ok = 0; }
  const char *fz = getenv("DLM_CUDA_FUSE");
  if (ok && !(fz && strcmp(fz, "0") == 0)) decide_fusion(f, u, needbuf, fused);
  Cx c = {{m, f, &b, u->inl}, u, fused, 0, 0};
  if (ok) {
    sb_printf(&b, "/* Generated by dlmc (codegen/cuda_emit.c): function %s of module %s. */\n", f->name,
              m->name ? m->name : "?");
    sb_printf(&b, "%s", cuda_prelude);
    u->prelude_len = b.n;
  }
  for (int id = 0; ok && id < nn; id++) {
    const Node *n = &f->nodes[id];
    if (!live[id] || u->inl[id] || n->op == OP_ARG || n->op == OP_PARAM || n->op == OP_RESHAPE) continue;
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
  free(needbuf);
  free(fused);
  if (!ok) {
    sb_free(&b);
    cuda_unit_free(u);
    return 0;
  }
  u->src = b.s;
  return 1;
}
