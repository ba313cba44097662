/* fold.c — constant folding. A `const` node is a fill: one value over its whole type. An
 * elementwise op (unary, binary, where, cast) whose inputs are all consts becomes a const of its
 * result type; its value is computed by the reference interpreter on scalars in float64 mode, so
 * folding never changes what the interpreter computes in that mode. Layout ops of a const
 * (reshape, transpose, broadcast_to, slice) become a const of their type. Results that are not
 * finite (log 0) or are integers beyond 2^53 are left unfolded. The identities x*1, 1*x, x+0, 0+x,
 * x-0 and x/1 forward x when the result has exactly x's type. */
#include "passes.h"
#include "interp.h"
#include <math.h>

static int elementwise_foldable(OpKind op) {
  FusionClass c = op_info[op].fclass;
  return (c == FC_ELEMWISE || c == FC_BROADCAST) && op != OP_RAND && op != OP_BROADCAST;
}

static int layout_of_fill(OpKind op) {
  return op == OP_RESHAPE || op == OP_TRANSPOSE || op == OP_BROADCAST || op == OP_SLICE;
}

/* Evaluates op on scalar consts with the interpreter in float64 mode. 1 on success. */
static int eval_scalar(const Node *n, const DType *indt, const double *vals, double *out) {
  Module *t = ir_module_new("fold");
  Func *f = ir_func_new(t, "scalar");
  DlmErr e = {0};
  SrcLoc none = {0, 0, 0};
  int in[16], ok = 0;
  for (int i = 0; i < n->nin; i++) {
    Attrs a = attrs_none();
    a.f[0] = vals[i];
    Type ty = type_scalar(indt[i]);
    in[i] = ir_emit(t, f, OP_CONST, &ty, 0, NULL, &a, none, &e);
  }
  Type rt = type_scalar(n->type.dtype);
  int r = e.set ? -1 : ir_emit(t, f, n->op, &rt, n->nin, in, &n->attr, none, &e);
  if (r >= 0) {
    ir_set_outputs(t, f, 1, &r, NULL);
    Tensor *res = NULL;
    if (interp_run(t, f, NULL, NULL, &res, DT_F64, &e) && res && res->numel == 1) {
      *out = tensor_get(res, 0);
      ok = 1;
    }
    tensor_free(res);
  }
  ir_module_free(t);
  return ok;
}

static int representable(DType t, double v) {
  if (!isfinite(v)) return 0;
  return dtype_is_float(t) || fabs(v) <= 9007199254740992.0;
}

/* The value forwarded by an identity (x*1, x+0, ...), or -1. Ids are new ids. */
static int identity_operand(const Func *f, const Node *n, const int *in) {
  double c;
  int x = -1;
  switch (n->op) {
  case OP_MUL:
    if (node_const_value(f, in[1], &c) && c == 1) x = in[0];
    else if (node_const_value(f, in[0], &c) && c == 1) x = in[1];
    break;
  case OP_ADD:
    if (node_const_value(f, in[1], &c) && c == 0) x = in[0];
    else if (node_const_value(f, in[0], &c) && c == 0) x = in[1];
    break;
  case OP_SUB:
    if (node_const_value(f, in[1], &c) && c == 0) x = in[0];
    break;
  case OP_DIV:
    if (node_const_value(f, in[1], &c) && c == 1) x = in[0];
    break;
  default:
    break;
  }
  return x >= 0 && type_eq(&f->nodes[x].type, &n->type) ? x : -1;
}

/* Folds one old node into a const if possible: returns the new id, -1 if not foldable, -2 on error. */
static int try_fold(Rewrite *rw, const Node *n, const int *in, DlmErr *e) {
  double vals[16], v;
  DType dts[16];
  if (n->nin < 1 || n->nin > 16) return -1;
  for (int i = 0; i < n->nin; i++) {
    if (!node_const_value(rw->f, in[i], &vals[i])) return -1;
    dts[i] = rw->f->nodes[in[i]].type.dtype;
  }
  if (layout_of_fill(n->op)) v = vals[0];
  else if (!elementwise_foldable(n->op) || !eval_scalar(n, dts, vals, &v)) return -1;
  if (!representable(n->type.dtype, v)) return -1;
  Attrs a = attrs_none();
  a.f[0] = v;
  int id = rw_emit(rw, OP_CONST, &n->type, 0, NULL, &a, n->loc, n->name, e);
  return id < 0 ? -2 : id;
}

int pass_fold(Module *m, DlmErr *e) {
  int changes = 0;
  for (int fi = 0; fi < m->nfuncs; fi++) {
    Rewrite rw;
    rw_begin(&rw, m, m->funcs[fi]);
    for (int old = 0; old < rw.nold; old++) {
      const Node *n = &rw.old[old];
      int in[16];
      int small = n->nin <= 16;
      for (int i = 0; small && i < n->nin; i++) in[i] = rw_new(&rw, n->in[i]);
      int id = -1;
      if (small && (id = identity_operand(rw.f, n, in)) < 0) id = try_fold(&rw, n, in, e);
      if (id == -2) return -1;
      if (id >= 0) {
        rw_map(&rw, old, id);
        changes++;
      } else if (rw_copy(&rw, old, e) < 0) {
        return -1;
      }
    }
    rw_end(&rw);
  }
  return changes;
}
