/* argbind.c — argument checking and symbol binding for running an IR function (argbind.h): the
 * interpreter and the compiled backends call the same code, so they report the same errors. */
#include "argbind.h"
#include <stdio.h>

int argbind_nodes(const Func *f, const Node **argn, int cap, DlmErr *e) {
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

/* k times the values of the symbols of d in mask; 0 on int64 overflow. */
static int dim_part(Dim d, uint32_t mask, const int64_t *symval, int64_t *out) {
  int64_t v = d.k;
  for (int s = 0; s < DLM_MAX_SYMS; s++)
    if ((d.syms & mask) & (1u << s) && __builtin_mul_overflow(v, symval[s], &v)) return 0;
  *out = v;
  return 1;
}

int argbind_dim_value(Dim d, const int64_t *symval, int64_t *out) { return dim_part(d, d.syms, symval, out); }

/* Binds the symbols of one dim against an actual size: 1 bound or checked, 0 undecided (more than
 * one unbound symbol), -1 mismatch. */
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

int argbind_convertible(DType from, DType to) {
  if (dtype_is_float(to)) return 1;
  if (dtype_is_int(to)) return dtype_is_int(from) || from == DT_BOOL;
  return from == DT_BOOL;
}

const char *argbind_name(const Node *n, char *buf, size_t len) {
  if (n->attr.s) return n->attr.s;
  snprintf(buf, len, "#%lld", (long long)n->attr.i[0]);
  return buf;
}

/* presence, dtype and rank of every argument */
static int check_kinds(const Func *f, const Node *const *argn, Tensor *const *args, DlmErr *e) {
  for (int a = 0; a < f->nargs; a++) {
    char nb[32];
    const Node *n = argn[a];
    const Tensor *t = args ? args[a] : NULL;
    if (!t) { err_set(e, n->loc, "%s: argument %d (%s) is missing", f->name, a, argbind_name(n, nb, sizeof nb)); return 0; }
    if (!argbind_convertible(t->dtype, n->type.dtype)) {
      err_set(e, n->loc, "%s: argument %d (%s) has dtype %s, not convertible to %s", f->name, a,
              argbind_name(n, nb, sizeof nb), dtype_name(t->dtype), dtype_name(n->type.dtype));
      return 0;
    }
    if (t->rank != n->type.rank) {
      err_set(e, n->loc, "%s: argument %d (%s) has rank %d, expected %d", f->name, a, argbind_name(n, nb, sizeof nb),
              t->rank, n->type.rank);
      return 0;
    }
  }
  return 1;
}

/* the error for a dim that does not match its declared type, with the bindings that decided it */
static void dim_mismatch(const Module *m, const Func *f, int a, const Node *n, int d, int64_t size, const int64_t *symval,
                         uint32_t bound, DlmErr *e) {
  char nb[32], ty[128], binds[256] = "";
  size_t used = 0;
  for (int s = 0; s < DLM_MAX_SYMS && used < sizeof binds; s++)
    if (n->type.dims[d].syms & bound & (1u << s))
      used += (size_t)snprintf(binds + used, sizeof binds - used, "%s%s = %lld", used ? ", " : " where ",
                               s < m->nsyms ? m->syms[s] : "?", (long long)symval[s]);
  err_set(e, n->loc, "%s: argument %d (%s) dim %d is %lld, inconsistent with its declared type %s%s", f->name, a,
          argbind_name(n, nb, sizeof nb), d, (long long)size, type_str(m, &n->type, ty, sizeof ty), binds);
}

int argbind_check(const Module *m, const Func *f, const Node *const *argn, Tensor *const *args, int64_t *symval,
                  uint32_t *bound, DlmErr *e) {
  if (!check_kinds(f, argn, args, e)) return 0;
  /* bind until no progress; dims with several unbound symbols wait for other arguments */
  for (int progress = 1, pending = 1; progress && pending;) {
    progress = pending = 0;
    for (int a = 0; a < f->nargs; a++)
      for (int d = 0; d < argn[a]->type.rank; d++) {
        Dim dim = argn[a]->type.dims[d];
        if (!(dim.syms & ~*bound) || dim.k == 0) continue;
        int r = bind_dim(dim, args[a]->shape[d], symval, bound);
        if (r == 1) progress = 1;
        else if (r == 0) pending = 1;
      }
  }
  for (int a = 0; a < f->nargs; a++)
    for (int d = 0; d < argn[a]->type.rank; d++) {
      const Node *n = argn[a];
      int r = bind_dim(n->type.dims[d], args[a]->shape[d], symval, bound);
      if (r == 1) continue;
      if (r == 0) {
        char nb[32];
        err_set(e, n->loc, "%s: cannot bind the symbols of argument %d (%s) dim %d", f->name, a,
                argbind_name(n, nb, sizeof nb), d);
      } else {
        dim_mismatch(m, f, a, n, d, args[a]->shape[d], symval, *bound, e);
      }
      return 0;
    }
  return 1;
}
