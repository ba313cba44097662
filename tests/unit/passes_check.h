/* passes_check.h — shared by the pass tests: random arguments for a function, running it with the
 * reference interpreter, and comparing the outputs of two runs (before and after a pass). */
#ifndef DLM_PASSES_CHECK_H
#define DLM_PASSES_CHECK_H
#include "check.h"
#include "interp.h"
#include "passes.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PC_MAX_IO 16

static uint64_t pc_rng = 88172645463325252ull;
static inline double pc_uniform(void) {  /* xorshift64, in [0, 1) */
  pc_rng ^= pc_rng << 13; pc_rng ^= pc_rng >> 7; pc_rng ^= pc_rng << 17;
  return (double)(pc_rng >> 11) * (1.0 / 9007199254740992.0);
}

/* Random arguments for f with symbols bound to symval: floats in [-2, 2), integers in [0, int_hi),
 * bools 0/1. args[i] is for the argument at position i. */
static inline void pc_random_args(const Func *f, const int64_t *symval, int64_t int_hi, Tensor **args) {
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    if (n->op != OP_ARG) continue;
    int64_t shape[DLM_MAX_RANK];
    for (int d = 0; d < n->type.rank; d++) shape[d] = dim_eval(n->type.dims[d], symval);
    Tensor *t = tensor_new(n->type.dtype, n->type.rank, shape);
    for (int64_t j = 0; j < t->numel; j++) {
      double u = pc_uniform();
      if (dtype_is_float(t->dtype)) tensor_set(t, j, 4 * u - 2);
      else if (t->dtype == DT_BOOL) tensor_set(t, j, u < 0.5);
      else tensor_set(t, j, (double)(int64_t)(u * (double)int_hi));
    }
    args[n->attr.i[0]] = t;
  }
}

static inline void pc_free(Tensor **ts, int n) {
  for (int i = 0; i < n; i++) { tensor_free(ts[i]); ts[i] = NULL; }
}

/* Runs f; returns 1 on success (else prints the error). */
static inline int pc_run(const Module *m, const Func *f, const ParamStore *ps, Tensor **args, Tensor **outs, DType mode) {
  DlmErr e = {0};
  int ok = interp_run(m, f, ps, args, outs, mode, &e);
  if (!ok) fprintf(stderr, "interp_run(%s) failed: %s\n", f->name, e.msg);
  return ok;
}

/* Largest |a - b| / (1 + |b|) over all outputs; -1 if shapes or counts differ. */
static inline double pc_max_diff(Tensor **a, Tensor **b, int n) {
  double worst = 0;
  for (int i = 0; i < n; i++) {
    if (!a[i] || !b[i] || !tensor_same_shape(a[i], b[i]) || a[i]->dtype != b[i]->dtype) return -1;
    for (int64_t j = 0; j < a[i]->numel; j++) {
      double x = tensor_get(a[i], j), y = tensor_get(b[i], j);
      if (x == y || (x != x && y != y)) continue;
      double d = fabs(x - y) / (1 + fabs(y));
      if (!(d <= worst)) worst = d != d ? 1e300 : d;
    }
  }
  return worst;
}

/* 1 if the interpreter can bind every symbol f uses from its argument shapes (a function like a
 * sampler's state initializer `full([B, L], ...)` with no argument of shape [B, ...] cannot run). */
static inline int pc_runnable(const Func *f) {
  uint32_t bound = 0, used = 0;
  for (int id = 0; id < f->nnodes; id++)
    for (int d = 0; d < f->nodes[id].type.rank; d++) {
      uint32_t s = f->nodes[id].type.dims[d].syms;
      used |= s;
      if (f->nodes[id].op == OP_ARG) bound |= s;
    }
  return (used & ~bound) == 0;
}

/* Runs every runnable function of m (pc_runnable) on random arguments in mode, applies pass, runs
 * again on the same arguments and parameters, and returns the largest difference (-1 on any
 * failure). *changes gets the pass's return value. */
static inline double pc_pass_diff(Module *m, int (*pass)(Module *, DlmErr *), const int64_t *symval, int64_t int_hi,
                           DType mode, int *changes) {
  ParamStore *ps = pstore_init(m, 7);
  int nf = m->nfuncs;
  Tensor *args[8][PC_MAX_IO], *before[8][PC_MAX_IO];
  double worst = 0;
  *changes = -1;
  if (nf > 8) nf = 8;
  memset(args, 0, sizeof args);
  memset(before, 0, sizeof before);
  for (int fi = 0; fi < nf; fi++) {
    if (!pc_runnable(m->funcs[fi])) continue;
    pc_random_args(m->funcs[fi], symval, int_hi, args[fi]);
    if (!pc_run(m, m->funcs[fi], ps, args[fi], before[fi], mode)) worst = -1;
  }
  DlmErr e = {0};
  if (worst == 0) {
    *changes = pass(m, &e);
    if (*changes < 0) { fprintf(stderr, "pass failed: %s\n", e.msg); worst = -1; }
    DlmErr ve = {0};
    if (worst == 0 && !ir_verify(m, &ve)) { fprintf(stderr, "invalid after pass: %s\n", ve.msg); worst = -1; }
  }
  for (int fi = 0; fi < nf; fi++) {
    Tensor *after[PC_MAX_IO] = {0};
    if (worst >= 0 && pc_runnable(m->funcs[fi])) {
      if (!pc_run(m, m->funcs[fi], ps, args[fi], after, mode)) worst = -1;
      else {
        double d = pc_max_diff(before[fi], after, m->funcs[fi]->nout);
        worst = d < 0 ? -1 : (d > worst ? d : worst);
      }
    }
    pc_free(after, m->funcs[fi]->nout);
    pc_free(before[fi], m->funcs[fi]->nout);
    pc_free(args[fi], m->funcs[fi]->nargs);
  }
  pstore_free(ps);
  return worst;
}

/* Builder shorthands for hand-built test modules. */
static inline SrcLoc pc_loc(int line) { SrcLoc l = {0, line, 1}; return l; }
static inline Type pc_type(DType dt, int rank, const int64_t *dims) {
  Type t = type_scalar(dt);
  t.rank = rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dim_const(dims[i]);
  return t;
}
static inline int pc_const(Module *m, Func *f, Type t, double v) {
  Attrs a = attrs_none();
  a.f[0] = v;
  DlmErr e = {0};
  int id = ir_emit(m, f, OP_CONST, &t, 0, NULL, &a, pc_loc(1), &e);
  if (id < 0) fprintf(stderr, "const: %s\n", e.msg);
  return id;
}
static inline int pc_op(Module *m, Func *f, OpKind op, int a, int b) {
  int in[2] = {a, b};
  DlmErr e = {0};
  int id = ir_emit(m, f, op, NULL, b < 0 ? 1 : 2, in, NULL, pc_loc(2), &e);
  if (id < 0) fprintf(stderr, "%s: %s\n", op_info[op].name, e.msg);
  return id;
}
static inline int pc_count(const Func *f, OpKind op) {
  int c = 0;
  for (int i = 0; i < f->nnodes; i++) c += f->nodes[i].op == op;
  return c;
}
#endif
