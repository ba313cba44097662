/* autodiff.c — reverse-mode automatic differentiation over the graph IR (see autodiff.h): finds the
 * values that depend on the differentiated inputs and reach the loss, copies the forward graph into
 * "<f>.grad", then walks it backwards applying each op's gradient rule (autodiff_rules_*.c) and
 * summing the contributions of every use. */
#include "autodiff.h"
#include "autodiff_rules.h"
#include <stdlib.h>
#include <string.h>

/* Does input j of n carry a gradient (when n is differentiable)? */
static int grad_slot(const Node *n, int j) {
  switch (n->op) {
  case OP_WHERE: return j >= 1;
  case OP_GATHER: case OP_TAKE: case OP_SCATTER_ADD: return j == 0;
  case OP_ATTENTION: return j <= 2;
  default: return 1;
  }
}

static int apply_rule(AdCtx *c) {
  switch (c->n->op) {
  case OP_SUM: case OP_MEAN: case OP_RMAX: case OP_LOGSUMEXP: case OP_SUM_TO:
  case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_LAYER_NORM: case OP_CUMSUM:
    return ad_rule_reduce(c);
  case OP_RESHAPE: case OP_TRANSPOSE: case OP_BROADCAST: case OP_SLICE: case OP_PAD:
  case OP_CONCAT: case OP_GATHER: case OP_TAKE: case OP_SCATTER_ADD:
    return ad_rule_layout(c);
  case OP_MATMUL: case OP_ATTENTION:
    return ad_rule_contract(c);
  default:
    return ad_rule_elem(c);
  }
}

static const char *loc_str(const Module *m, SrcLoc l, char *buf, size_t n) {
  if (l.line <= 0) { buf[0] = 0; return buf; }
  const char *file = l.file >= 0 && l.file < m->nfiles ? m->files[l.file] : "?";
  snprintf(buf, n, " (%s:%d:%d)", file, l.line, l.col);
  return buf;
}

static int zeros(AdCtx *c, const Type *t) { return ad_broadcast(c, ad_const(c, 0.0, t->dtype), t); }

typedef struct {
  Module *m; const Func *f; Func *g; DlmErr *e;
  unsigned char *act;   /* float value that depends on a differentiated input */
  unsigned char *need;  /* the loss depends on it through gradient-carrying inputs */
  int *map;             /* forward value id -> id in g */
  int *grad;            /* forward value id -> id in g of its gradient, or -1 */
} Ad;

static void analyse(Ad *a, int loss, const unsigned char *wrt_pos, int wrt_params) {
  const Func *f = a->f;
  for (int i = 0; i < f->nnodes; i++) {
    const Node *n = &f->nodes[i];
    int fl = dtype_is_float(n->type.dtype);
    if (n->op == OP_ARG) a->act[i] = fl && n->attr.i[0] < f->nargs && wrt_pos[n->attr.i[0]];
    else if (n->op == OP_PARAM) a->act[i] = fl && wrt_params && ir_param_copy_source(a->m, ir_param_find(a->m, n->attr.s)) < 0;
    else
      for (int j = 0; j < n->nin; j++)
        if (grad_slot(n, j) && a->act[n->in[j]]) a->act[i] = (unsigned char)fl;
  }
  a->need[loss] = 1;
  for (int i = f->nnodes - 1; i >= 0; i--) {
    const Node *n = &f->nodes[i];
    if (!a->need[i] || !a->act[i]) continue;
    for (int j = 0; j < n->nin; j++)
      if (grad_slot(n, j)) a->need[n->in[j]] = 1;
  }
}

static int check_differentiable(Ad *a) {
  for (int i = 0; i < a->f->nnodes; i++) {
    const Node *n = &a->f->nodes[i];
    if (!a->need[i] || !a->act[i] || n->op == OP_ARG || n->op == OP_PARAM || op_info[n->op].diff) continue;
    char where[300];
    err_set(a->e, n->loc, "autodiff: %s is not differentiable%s", op_info[n->op].name,
            loc_str(a->m, n->loc, where, sizeof where));
    return 0;
  }
  return 1;
}

static int copy_forward(Ad *a) {
  const Func *f = a->f;
  int in[64];
  for (int i = 0; i < f->nnodes; i++) {
    const Node *n = &f->nodes[i];
    if (n->nin > 64) { err_set(a->e, n->loc, "autodiff: %s has too many inputs", op_info[n->op].name); return 0; }
    for (int j = 0; j < n->nin; j++) in[j] = a->map[n->in[j]];
    a->map[i] = ir_emit(a->m, a->g, n->op, &n->type, n->nin, in, &n->attr, n->loc, a->e);
    if (a->map[i] < 0) return 0;
    a->g->nodes[a->map[i]].name = n->name;
  }
  a->g->nargs = f->nargs;
  return 1;
}

static int accumulate(Ad *a, AdCtx *c, int v, int gv) {
  Type want = a->f->nodes[v].type, got = ad_type(c, gv);
  if (!type_eq(&want, &got)) {
    char s1[128], s2[128];
    err_set(a->e, c->loc, "autodiff: internal: gradient of a %s input has type %s, expected %s",
            op_info[c->n->op].name, type_str(a->m, &got, s1, sizeof s1), type_str(a->m, &want, s2, sizeof s2));
    return 0;
  }
  a->grad[v] = a->grad[v] < 0 ? gv : ad_bin(c, OP_ADD, a->grad[v], gv);
  return a->grad[v] >= 0;
}

static int backward(Ad *a, int loss) {
  const Func *f = a->f;
  AdCtx c = {.m = a->m, .g = a->g, .e = a->e, .loc = f->nodes[loss].loc};
  if (!a->act[loss]) return 1;
  a->grad[loss] = ad_const(&c, 1.0, f->nodes[loss].type.dtype);
  if (a->grad[loss] < 0) return 0;
  unsigned char want[64];
  int in[64], gx[64];
  for (int i = loss; i >= 0; i--) {
    const Node *n = &f->nodes[i];
    if (a->grad[i] < 0 || !a->act[i] || n->op == OP_ARG || n->op == OP_PARAM) continue;
    for (int j = 0; j < n->nin; j++) {
      in[j] = a->map[n->in[j]];
      want[j] = grad_slot(n, j) && a->act[n->in[j]];
      gx[j] = -1;
    }
    c.n = n;
    c.loc = n->loc;
    c.x = in;
    c.y = a->map[i];
    c.gy = a->grad[i];
    c.want = want;
    c.gx = gx;
    if (!apply_rule(&c)) {
      if (!a->e->set) err_set(a->e, n->loc, "autodiff: internal: no gradient rule for %s", op_info[n->op].name);
      return 0;
    }
    for (int j = 0; j < n->nin; j++) {
      if (!want[j]) continue;
      if (gx[j] < 0) {
        err_set(a->e, n->loc, "autodiff: internal: %s gave no gradient for input %d", op_info[n->op].name, j);
        return 0;
      }
      if (!accumulate(a, &c, n->in[j], gx[j])) return 0;
    }
  }
  return 1;
}

/* outputs: f's outputs, the wrt argument gradients, the parameter gradients */
static int set_outputs(Ad *a, const int *wrt_args, int nwrt, int wrt_params) {
  const Func *f = a->f;
  Module *m = a->m;
  AdCtx c = {.m = m, .g = a->g, .e = a->e};
  int cap = f->nout + nwrt + m->nparams;
  int *vals = calloc((size_t)cap + 1, sizeof *vals);
  const char **names = calloc((size_t)cap + 1, sizeof *names);
  if (!vals || !names) { free(vals); free(names); err_set(a->e, c.loc, "autodiff: out of memory"); return 0; }
  int k = 0;
  for (int o = 0; o < f->nout; o++, k++) {
    vals[k] = a->map[f->outs[o]];
    names[k] = f->outnames ? f->outnames[o] : NULL;
  }
  for (int w = 0; w < nwrt; w++, k++) {
    for (int i = 0; i < f->nnodes; i++) {
      const Node *n = &f->nodes[i];
      if (n->op != OP_ARG || n->attr.i[0] != wrt_args[w]) continue;
      vals[k] = a->grad[i] >= 0 ? a->grad[i] : zeros(&c, &n->type);
      names[k] = n->attr.s ? arena_printf(m->arena, "grad:%s", n->attr.s)
                           : arena_printf(m->arena, "grad:arg%d", wrt_args[w]);
    }
  }
  for (int p = 0; wrt_params && p < m->nparams; p++) {
    const ParamDecl *pd = &m->params[p];
    int used = 0, g = -1;
    for (int i = 0; i < f->nnodes; i++) {
      const Node *n = &f->nodes[i];
      if (n->op != OP_PARAM || !n->attr.s || strcmp(n->attr.s, pd->name) != 0) continue;
      used = 1;
      if (a->grad[i] >= 0) g = g < 0 ? a->grad[i] : ad_bin(&c, OP_ADD, g, a->grad[i]);
    }
    if (!used || !dtype_is_float(pd->type.dtype) || ir_param_copy_source(m, p) >= 0) continue;   /* frozen copies: no gradient */
    vals[k] = g >= 0 ? g : zeros(&c, &pd->type);
    names[k++] = arena_printf(m->arena, "grad:%s", pd->name);
  }
  int ok = !a->e->set;
  for (int i = 0; ok && i < k; i++) ok = vals[i] >= 0;
  if (ok) ir_set_outputs(m, a->g, k, vals, names);
  free(vals);
  free(names);
  return ok;
}

static int check_request(const Module *m, const Func *f, int loss_out, const int *wrt_args, int nwrt,
                         unsigned char *wrt_pos, DlmErr *e) {
  SrcLoc none = {0, 0, 0};
  if (loss_out < 0 || loss_out >= f->nout) {
    err_set(e, none, "autodiff: %s has no output %d", f->name, loss_out);
    return 0;
  }
  const Type *lt = &f->nodes[f->outs[loss_out]].type;
  if (lt->rank != 0 || !dtype_is_float(lt->dtype)) {
    char b[128];
    err_set(e, f->nodes[f->outs[loss_out]].loc, "autodiff: the loss of %s must be a float scalar, not %s", f->name,
            type_str(m, lt, b, sizeof b));
    return 0;
  }
  for (int w = 0; w < nwrt; w++) {
    int p = wrt_args[w];
    if (p < 0 || p >= f->nargs || wrt_pos[p]) {
      err_set(e, none, "autodiff: %s: argument %d is %s", f->name, p,
              p < 0 || p >= f->nargs ? "out of range" : "listed twice");
      return 0;
    }
    wrt_pos[p] = 1;
    for (int i = 0; i < f->nnodes; i++)
      if (f->nodes[i].op == OP_ARG && f->nodes[i].attr.i[0] == p && !dtype_is_float(f->nodes[i].type.dtype)) {
        err_set(e, f->nodes[i].loc, "autodiff: %s: argument %d (%s) is not a float tensor", f->name, p,
                f->nodes[i].attr.s ? f->nodes[i].attr.s : "?");
        return 0;
      }
  }
  return 1;
}

Func *ad_grad(Module *m, const Func *f, int loss_out, const int *wrt_args, int nwrt, int wrt_params, DlmErr *e) {
  size_t nn = (size_t)f->nnodes + 1;
  unsigned char *wrt_pos = calloc((size_t)f->nargs + 1, 1);
  Ad a = {.m = m, .f = f, .e = e, .act = calloc(nn, 1), .need = calloc(nn, 1),
          .map = calloc(nn, sizeof(int)), .grad = malloc(nn * sizeof(int))};
  Func *out = NULL;
  if (!wrt_pos || !a.act || !a.need || !a.map || !a.grad) {
    SrcLoc none = {0, 0, 0};
    err_set(e, none, "autodiff: out of memory");
    goto done;
  }
  for (size_t i = 0; i < nn; i++) a.grad[i] = -1;
  if (!check_request(m, f, loss_out, wrt_args, nwrt, wrt_pos, e)) goto done;
  int loss = f->outs[loss_out];
  analyse(&a, loss, wrt_pos, wrt_params);
  if (!check_differentiable(&a)) goto done;
  const char *name = arena_printf(m->arena, "%s.grad", f->name);
  a.g = ir_func_new(m, name);
  if (!a.g) {
    SrcLoc none = {0, 0, 0};
    err_set(e, none, "autodiff: function %s already exists", name);
    goto done;
  }
  if (copy_forward(&a) && backward(&a, loss) && set_outputs(&a, wrt_args, nwrt, wrt_params)) out = a.g;
  else m->nfuncs--; /* drop the half-built function (it is the last one added) */
done:
  free(wrt_pos);
  free(a.act);
  free(a.need);
  free(a.map);
  free(a.grad);
  return out;
}
