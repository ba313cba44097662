/* test_autodiff_fd.h — shared helpers of the autodiff tests: build small functions with the IR
 * builder, turn an op's result into a scalar loss sum(y * W) with a fixed random weight argument W,
 * and compare the gradients of ad_grad (run by the interpreter in float64) with central finite
 * differences of the original function (also run in float64). Include after check.h. */
#ifndef TEST_AUTODIFF_FD_H
#define TEST_AUTODIFF_FD_H

#include "autodiff.h"
#include "interp.h"
#include <stdlib.h>
#include <string.h>

#define FD_H 1e-6
#define FD_TOL 1e-6

static uint64_t fd_rng = 0x9e3779b97f4a7c15ull;
static int fd_live_tensors; /* tensors compared so far with at least one nonzero gradient sample */
static inline double fd_uniform(double lo, double hi) { /* xorshift64* */
  fd_rng ^= fd_rng >> 12;
  fd_rng ^= fd_rng << 25;
  fd_rng ^= fd_rng >> 27;
  uint64_t r = fd_rng * 2685821657736338717ull;
  return lo + (hi - lo) * (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

static inline SrcLoc fd_noloc(void) { SrcLoc l = {0, 0, 0}; return l; }

static inline Type fd_type(DType dt, int rank, const int64_t *dims) {
  Type t = type_scalar(dt);
  t.rank = rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dim_const(dims[i]);
  return t;
}

/* emit or abort: the tests build only valid graphs, so a failure here is a test bug */
static inline int fd_emit(Module *m, Func *f, OpKind op, const Type *given, int nin, const int *in, const Attrs *a) {
  DlmErr e = {0};
  int v = ir_emit(m, f, op, given, nin, in, a, fd_noloc(), &e);
  if (v < 0) {
    fprintf(stderr, "test graph: %s: %s\n", op_info[op].name, e.msg);
    abort();
  }
  return v;
}
static inline int fd_op1(Module *m, Func *f, OpKind op, int x) { return fd_emit(m, f, op, NULL, 1, &x, NULL); }
static inline int fd_op2(Module *m, Func *f, OpKind op, int a, int b) {
  int in[2] = {a, b};
  return fd_emit(m, f, op, NULL, 2, in, NULL);
}
static inline Attrs fd_attrs(int n, const int64_t *v) {
  Attrs a = attrs_none();
  for (int i = 0; i < n; i++) a.i[i] = v[i];
  a.ni = n;
  return a;
}

/* loss = sum over all axes of y * W, W a new f64 argument of y's type; sets it as f's only output */
static inline int fd_loss(Module *m, Func *f, int y) {
  Type t = f->nodes[y].type;
  int w = ir_arg(m, f, "W", t, fd_noloc());
  int v = fd_op2(m, f, OP_MUL, y, w);
  while (f->nodes[v].type.rank > 0) {
    int64_t ax[2] = {0, 0};
    Attrs a = fd_attrs(2, ax);
    v = fd_emit(m, f, OP_SUM, NULL, 1, &v, &a);
  }
  ir_set_outputs(m, f, 1, &v, NULL);
  return v;
}

/* a new f64 tensor with uniform values in [lo, hi] */
static inline Tensor *fd_rand(int rank, const int64_t *dims, double lo, double hi) {
  Tensor *t = tensor_new(DT_F64, rank, dims);
  for (int64_t i = 0; i < t->numel; i++) tensor_set(t, i, fd_uniform(lo, hi));
  return t;
}

/* f64 values uniform in [-0.5, 0.5] for every parameter of m (all dims concrete) */
static inline ParamStore *fd_random_params(const Module *m) {
  ParamStore *ps = pstore_new();
  for (int p = 0; p < m->nparams; p++) {
    const Type *t = &m->params[p].type;
    int64_t d[DLM_MAX_RANK];
    for (int i = 0; i < t->rank; i++) d[i] = t->dims[i].k;
    pstore_put(ps, m->params[p].name, fd_rand(t->rank, d, -0.5, 0.5));
  }
  return ps;
}

/* a tensor matching the type of f's argument `pos` (constant dims), uniform in [lo, hi] (ints: floor) */
static inline Tensor *fd_rand_arg(const Func *f, int pos, double lo, double hi) {
  for (int i = 0; i < f->nnodes; i++) {
    const Node *n = &f->nodes[i];
    if (n->op != OP_ARG || n->attr.i[0] != pos) continue;
    int64_t dims[DLM_MAX_RANK];
    for (int d = 0; d < n->type.rank; d++) dims[d] = n->type.dims[d].k;
    if (dtype_is_float(n->type.dtype)) return fd_rand(n->type.rank, dims, lo, hi);
    Tensor *t = tensor_new(n->type.dtype, n->type.rank, dims);
    for (int64_t k = 0; k < t->numel; k++) tensor_set(t, k, (double)(int64_t)fd_uniform(lo, hi));
    return t;
  }
  abort();
}

static inline double fd_eval_loss(const Module *m, const Func *f, const ParamStore *ps, Tensor *const *args) {
  Tensor *out[1] = {NULL};
  DlmErr e = {0};
  if (!interp_run(m, f, ps, args, out, DT_F64, &e)) {
    fprintf(stderr, "interp %s: %s\n", f->name, e.msg);
    return NAN;
  }
  double v = tensor_get(out[0], 0);
  tensor_free(out[0]);
  return v;
}

/* Compare one analytic gradient tensor with central differences of f's loss in element values of
 * `x` (an argument tensor or a parameter tensor that f reads): every element, or `maxn` elements
 * spread evenly over x when maxn > 0. */
static inline int fd_compare_some(const char *what, const Module *m, const Func *f, const ParamStore *ps,
                                  Tensor *const *args, Tensor *x, const Tensor *grad, int64_t maxn) {
  int bad = 0;
  if (!grad || grad->numel != x->numel) { CHECK_MSG(0, "%s: gradient has the wrong size", what); return 1; }
  int64_t count = maxn > 0 && maxn < x->numel ? maxn : x->numel;
  int live = 0;
  for (int64_t s = 0; s < count; s++) {
    int64_t i = s * x->numel / count;
    double x0 = tensor_get(x, i);
    tensor_set(x, i, x0 + FD_H);
    double lp = fd_eval_loss(m, f, ps, args);
    tensor_set(x, i, x0 - FD_H);
    double lm = fd_eval_loss(m, f, ps, args);
    tensor_set(x, i, x0);
    double fd = (lp - lm) / (2 * FD_H), g = tensor_get(grad, i);
    live |= fabs(fd) > 1e-8;
    if (!(fabs(g - fd) <= FD_TOL * (1 + fabs(fd)))) {
      if (bad++ < 3) fprintf(stderr, "%s[%lld]: autodiff %.12g, finite differences %.12g\n", what, (long long)i, g, fd);
    }
  }
  CHECK_MSG(bad == 0, "%s: %d of %lld gradient elements differ from finite differences", what, bad, (long long)count);
  fd_live_tensors += live;
  return bad;
}

/* Differentiate f's output 0 with respect to the arguments wrt[0..nwrt-1] (and the parameters in ps
 * if wrt_params), check that the gradient function verifies, run it and compare each gradient with
 * finite differences (all elements, or maxn per tensor when maxn > 0). Also checks that the gradient
 * function returns the same loss as f. */
static inline void fd_check_some(const char *what, Module *m, Func *f, Tensor *const *args, const int *wrt, int nwrt,
                                 ParamStore *ps, int wrt_params, int64_t maxn) {
  DlmErr e = {0};
  Func *g = ad_grad(m, f, 0, wrt, nwrt, wrt_params, &e);
  CHECK_MSG(g != NULL, "%s: ad_grad failed: %s", what, e.msg);
  if (!g) return;
  CHECK_MSG(ir_verify_func(m, g, &e), "%s: %s does not verify: %s", what, g->name, e.msg);
  Tensor **outs = calloc((size_t)g->nout, sizeof *outs);
  int ok = interp_run(m, g, ps, args, outs, DT_F64, &e);
  CHECK_MSG(ok, "%s: running %s: %s", what, g->name, e.msg);
  if (ok) {
    CHECK_NEAR(tensor_get(outs[0], 0), fd_eval_loss(m, f, ps, args), 1e-12);
    for (int w = 0; w < nwrt; w++) {
      char nm[160];
      snprintf(nm, sizeof nm, "%s: d/d arg %d", what, wrt[w]);
      fd_compare_some(nm, m, f, ps, args, args[wrt[w]], outs[f->nout + w], maxn);
    }
    int k = f->nout + nwrt;
    for (int p = 0; wrt_params && p < m->nparams && k < g->nout; p++) {
      if (!g->outnames || strcmp(g->outnames[k] + 5, m->params[p].name) != 0) continue;
      char nm[160];
      snprintf(nm, sizeof nm, "%s: d/d %s", what, m->params[p].name);
      fd_compare_some(nm, m, f, ps, args, pstore_get(ps, m->params[p].name), outs[k], maxn);
      k++;
    }
    CHECK_MSG(k == g->nout, "%s: %d outputs checked of %d", what, k, g->nout);
  }
  for (int i = 0; i < g->nout; i++) tensor_free(outs[i]);
  free(outs);
}

/* fd_check_some comparing every element */
static inline void fd_check(const char *what, Module *m, Func *f, Tensor *const *args, const int *wrt, int nwrt,
                            ParamStore *ps, int wrt_params) {
  fd_check_some(what, m, f, args, wrt, nwrt, ps, wrt_params, 0);
}

#endif
