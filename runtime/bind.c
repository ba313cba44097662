/* bind.c — what every compiled backend does before running a function: find its argument nodes,
 * check the arguments (presence, dtype, rank) and bind the symbolic dims (B, ...) from their shapes
 * and from the caller's values, so that all backends accept and refuse the same calls. */
#include "bind.h"
#include <stdio.h>

int rt_arg_nodes(const Func *f, const Node **argn, int cap, DlmErr *e) {
  SrcLoc none = {0, 0, 0};
  if (f->nargs > cap) { err_set(e, none, "%s: too many arguments", f->name); return 0; }
  for (int a = 0; a < f->nargs; a++) argn[a] = NULL;
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    if (n->op != OP_ARG) continue;
    if (n->attr.i[0] < 0 || n->attr.i[0] >= f->nargs) {
      err_set(e, n->loc, "%s: arg node with position %lld out of range", f->name, (long long)n->attr.i[0]);
      return 0;
    }
    argn[n->attr.i[0]] = n;
  }
  for (int a = 0; a < f->nargs; a++)
    if (!argn[a]) { err_set(e, none, "%s: no arg node for position %d", f->name, a); return 0; }
  return 1;
}

static int dim_part(Dim d, uint32_t mask, const int64_t *symval, int64_t *out) {
  int64_t v = d.k;
  for (int s = 0; s < DLM_MAX_SYMS; s++)
    if ((d.syms & mask) & (1u << s) && __builtin_mul_overflow(v, symval[s], &v)) return 0;
  *out = v;
  return 1;
}

/* 1 bound or checked, 0 undecided (several unbound symbols), -1 mismatch */
static int bind_dim(Dim d, int64_t size, int64_t *symval, uint32_t *bound) {
  uint32_t unb = d.syms & ~*bound;
  int64_t known;
  if (!dim_part(d, *bound, symval, &known)) return -1;
  if (d.k == 0 || unb == 0) return known == size ? 1 : -1;
  if (unb & (unb - 1)) return 0;
  if (known == 0 || size % known) return -1;
  symval[__builtin_ctz(unb)] = size / known;
  *bound |= unb;
  return 1;
}

int rt_convertible(DType from, DType to) {
  if (dtype_is_float(to)) return 1;
  if (dtype_is_int(to)) return dtype_is_int(from) || from == DT_BOOL;
  return from == DT_BOOL;
}

const char *rt_arg_name(const Node *n, char *buf, size_t len) {
  if (n->attr.s) return n->attr.s;
  snprintf(buf, len, "#%lld", (long long)n->attr.i[0]);
  return buf;
}

int rt_bind_args(const Module *m, const Func *f, const Node **argn, Tensor *const *args, const int64_t *presym,
                     int64_t *symval, DlmErr *e) {
  uint32_t bound = 0;
  for (int s = 0; presym && s < m->nsyms; s++)
    if (presym[s] > 0) { symval[s] = presym[s]; bound |= 1u << s; }
  for (int a = 0; a < f->nargs; a++) {
    char nb[32];
    const Node *n = argn[a];
    const Tensor *t = args ? args[a] : NULL;
    if (!t) { err_set(e, n->loc, "%s: argument %d (%s) is missing", f->name, a, rt_arg_name(n, nb, sizeof nb)); return 0; }
    if (!rt_convertible(t->dtype, n->type.dtype)) {
      err_set(e, n->loc, "%s: argument %d (%s) has dtype %s, not convertible to %s", f->name, a, rt_arg_name(n, nb, sizeof nb),
              dtype_name(t->dtype), dtype_name(n->type.dtype));
      return 0;
    }
    if (t->rank != n->type.rank) {
      err_set(e, n->loc, "%s: argument %d (%s) has rank %d, expected %d", f->name, a, rt_arg_name(n, nb, sizeof nb), t->rank,
              n->type.rank);
      return 0;
    }
  }
  for (int progress = 1, pending = 1; progress && pending;) {
    progress = pending = 0;
    for (int a = 0; a < f->nargs; a++)
      for (int d = 0; d < argn[a]->type.rank; d++) {
        Dim dim = argn[a]->type.dims[d];
        if (!(dim.syms & ~bound) || dim.k == 0) continue;
        int r = bind_dim(dim, args[a]->shape[d], symval, &bound);
        if (r == 1) progress = 1;
        else if (r == 0) pending = 1;
      }
  }
  for (int a = 0; a < f->nargs; a++)
    for (int d = 0; d < argn[a]->type.rank; d++) {
      const Node *n = argn[a];
      char nb[32], ty[128];
      int r = bind_dim(n->type.dims[d], args[a]->shape[d], symval, &bound);
      if (r == 1) continue;
      if (r == 0) err_set(e, n->loc, "%s: cannot bind the symbols of argument %d (%s) dim %d", f->name, a, rt_arg_name(n, nb, sizeof nb), d);
      else
        err_set(e, n->loc, "%s: argument %d (%s) dim %d is %lld, inconsistent with its declared type %s", f->name, a,
                rt_arg_name(n, nb, sizeof nb), d, (long long)args[a]->shape[d], type_str(m, &n->type, ty, sizeof ty));
      return 0;
    }
  /* symbols no argument binds stay unbound: a function using them cannot run */
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    for (int d = 0; d < n->type.rank; d++) {
      uint32_t unb = n->type.dims[d].k ? n->type.dims[d].syms & ~bound : 0;
      if (unb) {
        int s = __builtin_ctz(unb);
        err_set(e, n->loc, "%s: symbol %s is not bound by the argument shapes", op_info[n->op].name,
                s < m->nsyms ? m->syms[s] : "?");
        return 0;
      }
    }
  }
  return 1;
}

int rt_dim_value(Dim d, const int64_t *symval, int64_t *out) { return dim_part(d, d.syms, symval, out); }

