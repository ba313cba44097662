/* example_scale_fold.c — the worked example of docs/passes.md: merges two scalings by constants,
 * mul(mul(x, const a), const b) -> mul(x, const a*b) (either operand order), on float tensors when
 * neither constant changes the shape: the inner product has x's type and the outer one the inner
 * one's. The inner mul stays if something else uses it (dce removes it otherwise). This
 * reassociates floating-point products, so results may differ in the last bit (exactly equal when
 * a or b is a power of two). */
#include "passes.h"
#include <math.h>

/* If value id is mul(x, const) or mul(const, x): sets *x and *c (new ids) and returns 1. */
static int scaled(const Func *f, int id, int *x, int *c) {
  const Node *n = &f->nodes[id];
  double v;
  if (n->op != OP_MUL) return 0;
  if (node_const_value(f, n->in[1], &v)) { *x = n->in[0]; *c = n->in[1]; return 1; }
  if (node_const_value(f, n->in[0], &v)) { *x = n->in[1]; *c = n->in[0]; return 1; }
  return 0;
}

/* Rewrites node n (its inputs already translated to new ids in[]) when it is a chain
 * mul(mul(x, const a), const b): returns the id of the replacement, -1 if the pattern does not
 * apply, -2 on error. */
static int fold_chain(Rewrite *rw, const Node *n, const int *in, DlmErr *e) {
  const Func *f = rw->f;
  int y, cb, x, ca;
  double a, b;
  if (n->op != OP_MUL || !dtype_is_float(n->type.dtype)) return -1;
  y = in[0]; cb = in[1];
  if (!node_const_value(f, cb, &b)) { y = in[1]; cb = in[0]; }
  if (!node_const_value(f, cb, &b) || !scaled(f, y, &x, &ca)) return -1;
  node_const_value(f, ca, &a);
  if (!type_eq(&f->nodes[x].type, &f->nodes[y].type) || !type_eq(&f->nodes[y].type, &n->type)) return -1;
  if (!isfinite(a * b)) return -1;
  Attrs av = attrs_none();
  av.f[0] = a * b;
  Type ct = f->nodes[cb].type;  /* broadcasts into x's shape, as b did into the inner product's */
  int c = rw_emit(rw, OP_CONST, &ct, 0, NULL, &av, f->nodes[cb].loc, NULL, e);
  if (c < 0) return -2;
  int ops[2] = {x, c};
  int id = rw_emit(rw, OP_MUL, &n->type, 2, ops, &n->attr, n->loc, n->name, e);
  return id < 0 ? -2 : id;
}

int pass_scale_fold(Module *m, DlmErr *e) {
  int changes = 0;
  for (int fi = 0; fi < m->nfuncs; fi++) {
    Rewrite rw;
    rw_begin(&rw, m, m->funcs[fi]);
    for (int old = 0; old < rw.nold; old++) {
      const Node *n = &rw.old[old];
      int id = -1;
      if (n->op == OP_MUL) {
        int in[2] = {rw_new(&rw, n->in[0]), rw_new(&rw, n->in[1])};
        id = fold_chain(&rw, n, in, e);
      }
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
