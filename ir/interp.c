/* interp.c — the reference interpreter's driver: checks the arguments and parameters against the
 * function's declared types, binds the shape symbols (B, ...) from the argument shapes, walks the
 * nodes in order calling one kernel per op (interp_elem.c, interp_reduce.c, interp_layout.c,
 * interp_nn.c), rounds each result to its precision (DT_F32 mode) and frees every value right after
 * its last use. Nodes that no output depends on are not evaluated. */
#include "argbind.h"
#include "interp_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const InterpKernel kernels[OP_COUNT] = {
#define OP(E, name, arity, fc, ia, fa, sa, shape, interp, diff) interp,
#include "ops.def"
#undef OP
};

/* ---------------------------------------------------------------- shared helpers */
void interp_strides(const Val *v, int64_t *st) {
  int64_t s = 1;
  for (int d = v->rank - 1; d >= 0; d--) { st[d] = s; s *= v->shape[d]; }
}

void interp_bcast_strides(const Val *v, int orank, const int64_t *oshape, int64_t *st) {
  int64_t own[DLM_MAX_RANK];
  interp_strides(v, own);
  for (int d = 0; d < orank; d++) {
    int id = d - (orank - v->rank);
    st[d] = (id < 0 || (v->shape[id] == 1 && oshape[d] != 1)) ? 0 : own[id];
  }
}

void odo_init(Odo *o, int rank, const int64_t *shape, int nops) {
  memset(o, 0, sizeof *o);
  o->rank = rank;
  o->nops = nops;
  for (int d = 0; d < rank; d++) o->shape[d] = shape[d];
}

void odo_next(Odo *o) {
  for (int d = o->rank - 1; d >= 0; d--) {
    o->idx[d]++;
    for (int k = 0; k < o->nops; k++) o->off[k] += o->st[k][d];
    if (o->idx[d] < o->shape[d]) return;
    for (int k = 0; k < o->nops; k++) o->off[k] -= o->st[k][d] * o->shape[d];
    o->idx[d] = 0;
  }
}

int interp_norm_axis(int64_t axis, int rank, int *out) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return 0;
  *out = (int)axis;
  return 1;
}

void interp_split_axis(const Val *v, int axis, int64_t *outer, int64_t *len, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int d = 0; d < axis; d++) *outer *= v->shape[d];
  for (int d = axis + 1; d < v->rank; d++) *inner *= v->shape[d];
  *len = v->shape[axis];
}

/* ---------------------------------------------------------------- values */
static void val_free(Val *v) {
  free(v->f);
  free(v->i);
  v->f = NULL;
  v->i = NULL;
}

static int val_alloc(Val *v, const Type *t, const int64_t *shape, SrcLoc loc, DlmErr *e) {
  memset(v, 0, sizeof *v);
  v->rank = t->rank;
  v->isf = dtype_is_float(t->dtype);
  int64_t n = 1;
  for (int d = 0; d < t->rank; d++) {
    v->shape[d] = shape[d];
    if (shape[d] < 0 || (shape[d] && n > INT64_MAX / 16 / shape[d])) {
      err_set(e, loc, "interp: tensor size overflows");
      return 0;
    }
    n *= shape[d];
  }
  v->numel = n;
  size_t cnt = (size_t)(n ? n : 1);
  if (v->isf) v->f = calloc(cnt, sizeof *v->f);
  else v->i = calloc(cnt, sizeof *v->i);
  if (!v->f && !v->i) { err_set(e, loc, "interp: out of memory (%lld elements)", (long long)n); return 0; }
  return 1;
}

/* Round a value of declared dtype t to the precision the mode keeps. */
static double round_float(DType t, DType fmode, double x) {
  if (fmode == DT_F64) return x;
  if (t == DT_BF16) return bf16_to_f32(f32_to_bf16((float)x));
  if (t == DT_F16) return f16_to_f32(f32_to_f16((float)x));
  return (float)x;
}

static int64_t wrap_int(DType t, int64_t x) {
  if (t == DT_BOOL) return x != 0;
  if (t == DT_I32) return (int32_t)(uint32_t)(uint64_t)x;
  return x;
}

static void val_round(Val *v, DType t, DType fmode) {
  if (v->isf) {
    for (int64_t k = 0; k < v->numel; k++) v->f[k] = round_float(t, fmode, v->f[k]);
  } else {
    for (int64_t k = 0; k < v->numel; k++) v->i[k] = wrap_int(t, v->i[k]);
  }
}

/* ---------------------------------------------------------------- checking and binding */
static int check_args(const Module *m, const Func *f, Tensor *const *args, int64_t *symval, uint32_t *bound, DlmErr *e) {
  const Node *argn[256];
  return argbind_nodes(f, argn, 256, e) && argbind_check(m, f, argn, args, symval, bound, e);
}

static int eval_shape(const Module *m, const Node *n, const int64_t *symval, uint32_t bound, int64_t *shape, DlmErr *e) {
  for (int d = 0; d < n->type.rank; d++) {
    Dim dim = n->type.dims[d];
    uint32_t unb = dim.k ? dim.syms & ~bound : 0;
    if (unb) {
      int s = __builtin_ctz(unb);
      err_set(e, n->loc, "%s: symbol %s is not bound by the argument shapes", op_info[n->op].name,
              s < m->nsyms ? m->syms[s] : "?");
      return 0;
    }
    if (!argbind_dim_value(dim, symval, &shape[d])) {
      err_set(e, n->loc, "%s: dimension %d overflows", op_info[n->op].name, d);
      return 0;
    }
  }
  return 1;
}

static int check_params(const Module *m, const Func *f, const ParamStore *ps, const char *live, const int64_t *symval,
                        uint32_t bound, DlmErr *e) {
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    if (n->op != OP_PARAM || !live[id]) continue;
    const char *pn = n->attr.s ? n->attr.s : "?";
    const Tensor *t = ps && n->attr.s ? pstore_get(ps, n->attr.s) : NULL;
    if (!t) { err_set(e, n->loc, "parameter %s is missing from the parameter store", pn); return 0; }
    int64_t shape[DLM_MAX_RANK];
    if (!eval_shape(m, n, symval, bound, shape, e)) return 0;
    int ok = t->rank == n->type.rank;
    for (int d = 0; ok && d < t->rank; d++) ok = t->shape[d] == shape[d];
    if (!ok) {
      char ty[128];
      err_set(e, n->loc, "parameter %s: stored tensor has rank %d / a different shape than the declared %s", pn, t->rank,
              type_str(m, &n->type, ty, sizeof ty));
      return 0;
    }
    if (!argbind_convertible(t->dtype, n->type.dtype)) {
      err_set(e, n->loc, "parameter %s: stored dtype %s is not convertible to %s", pn, dtype_name(t->dtype),
              dtype_name(n->type.dtype));
      return 0;
    }
  }
  return 1;
}

/* ---------------------------------------------------------------- outputs */
static Tensor *val_to_tensor(const Val *v, DType declared, DType fmode) {
  DType t = dtype_is_float(declared) ? (fmode == DT_F64 ? DT_F64 : DT_F32) : declared;
  Tensor *x = tensor_new(t, v->rank, v->shape);
  if (!x) return NULL;
  for (int64_t k = 0; k < v->numel; k++) {
    if (v->isf) tensor_set(x, k, v->f[k]);
    else if (t == DT_I64) ((int64_t *)x->data)[k] = v->i[k];
    else if (t == DT_I32) ((int32_t *)x->data)[k] = (int32_t)v->i[k];
    else ((uint8_t *)x->data)[k] = v->i[k] != 0;
  }
  return x;
}

/* ---------------------------------------------------------------- the run */
int interp_run(const Module *m, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs, DType fmode,
               DlmErr *e) {
  return interp_run_syms(m, f, ps, args, outs, fmode, NULL, e);
}

int interp_run_syms(const Module *m, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                    DType fmode, const int64_t *presym, DlmErr *e) {
  SrcLoc none = {0, 0, 0};
  for (int k = 0; k < f->nout; k++) outs[k] = NULL;
  if (fmode != DT_F32 && fmode != DT_F64) { err_set(e, none, "interp: mode must be f32 or f64"); return 0; }
  int64_t symval[DLM_MAX_SYMS] = {0};
  uint32_t bound = 0;
  for (int s = 0; presym && s < m->nsyms; s++)
    if (presym[s] > 0) { symval[s] = presym[s]; bound |= 1u << s; }
  if (!check_args(m, f, args, symval, &bound, e)) return 0;

  int nn = f->nnodes;
  Val *vals = calloc((size_t)(nn ? nn : 1), sizeof *vals);
  int *last = malloc((size_t)(nn ? nn : 1) * sizeof *last);
  char *live = calloc((size_t)(nn ? nn : 1), 1);
  int ok = vals && last && live;
  if (!ok) err_set(e, none, "interp: out of memory");
  /* Liveness from the outputs backwards; last[id] = the last node reading id (nn for outputs). */
  for (int id = 0; ok && id < nn; id++) last[id] = -1;
  for (int k = 0; ok && k < f->nout; k++) {
    if (f->outs[k] < 0 || f->outs[k] >= nn) { err_set(e, none, "%s: output %d is undefined", f->name, k); ok = 0; break; }
    live[f->outs[k]] = 1;
    last[f->outs[k]] = nn;
  }
  for (int id = nn - 1; ok && id >= 0; id--) {
    if (!live[id]) continue;
    const Node *n = &f->nodes[id];
    for (int j = 0; j < n->nin; j++) {
      if (n->in[j] < 0 || n->in[j] >= id) {
        err_set(e, n->loc, "%s: %%%d reads %%%d, which is not defined before it", op_info[n->op].name, id, n->in[j]);
        ok = 0;
        break;
      }
      live[n->in[j]] = 1;
      if (last[n->in[j]] < id) last[n->in[j]] = id;
    }
  }
  ok = ok && check_params(m, f, ps, live, symval, bound, e);

  InterpCtx ctx = {m, f, ps, args, fmode};
  for (int id = 0; ok && id < nn; id++) {
    if (!live[id]) continue;
    const Node *n = &f->nodes[id];
    const Val *in[64];
    if (n->nin > 64) { err_set(e, n->loc, "%s: too many inputs", op_info[n->op].name); ok = 0; break; }
    for (int j = 0; j < n->nin; j++) in[j] = &vals[n->in[j]];
    int64_t shape[DLM_MAX_RANK];
    ok = eval_shape(m, n, symval, bound, shape, e) && val_alloc(&vals[id], &n->type, shape, n->loc, e) &&
         kernels[n->op](&ctx, n, in, &vals[id], e);
    if (!ok) {
      if (e && !e->set) err_set(e, n->loc, "%s: evaluation failed", op_info[n->op].name);
      break;
    }
    val_round(&vals[id], n->type.dtype, fmode);
    for (int j = 0; j < n->nin; j++)
      if (last[n->in[j]] == id) val_free(&vals[n->in[j]]);
  }
  for (int k = 0; ok && k < f->nout; k++) {
    int id = f->outs[k];
    outs[k] = val_to_tensor(&vals[id], f->nodes[id].type.dtype, fmode);
    if (!outs[k]) { err_set(e, none, "interp: out of memory"); ok = 0; }
  }
  if (!ok)
    for (int k = 0; k < f->nout; k++) { tensor_free(outs[k]); outs[k] = NULL; }
  for (int id = 0; vals && id < nn; id++) val_free(&vals[id]);
  free(vals);
  free(last);
  free(live);
  return ok;
}
