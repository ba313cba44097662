/* verify.c — the IR verifier: checks that a module is well formed (ids in range and topological,
 * arities, attributes, every node's type equal to what its shape rule recomputes, argument
 * positions, outputs, parameters, and the schedule programs' references and types). Errors name the
 * function (or schedule) and the value, and carry the offending node's or statement's SrcLoc. */
#include "ir.h"
#include <string.h>

static int count_words(const char *s, int *has_list) {
  int n = 0;
  if (has_list) *has_list = 0;
  for (const char *p = s; *p;) {
    while (*p == ' ') p++;
    if (!*p) break;
    if (*p == '*' && has_list) *has_list = 1;
    n++;
    while (*p && *p != ' ') p++;
  }
  return n;
}

static int type_ok(const Module *m, const Type *t) {
  if ((unsigned)t->dtype >= DT_COUNT || t->rank < 0 || t->rank > DLM_MAX_RANK) return 0;
  uint32_t known = m->nsyms >= 32 ? 0xffffffffu : (1u << m->nsyms) - 1;
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i].k < 0 || (t->dims[i].syms & ~known)) return 0;
  return 1;
}

static int verify_node(const Module *m, const Func *f, int id, DlmErr *e) {
  const Node *n = &f->nodes[id];
  if ((unsigned)n->op >= OP_COUNT) {
    err_set(e, n->loc, "function @%s: %%%d: invalid op %d", f->name, id, (int)n->op);
    return 0;
  }
  const OpInfo *oi = &op_info[n->op];
  if (n->nin < 0 || n->nin > 16 || (n->nin > 0 && !n->in)) {
    err_set(e, n->loc, "function @%s: %%%d (%s): invalid input count %d", f->name, id, oi->name, n->nin);
    return 0;
  }
  if (oi->arity >= 0 && n->nin != oi->arity) {
    err_set(e, n->loc, "function @%s: %%%d (%s): takes %d input%s, has %d", f->name, id, oi->name, oi->arity,
            oi->arity == 1 ? "" : "s", n->nin);
    return 0;
  }
  for (int j = 0; j < n->nin; j++)
    if (n->in[j] < 0 || n->in[j] >= id) {
      err_set(e, n->loc, "function @%s: %%%d (%s): input %d refers to %%%d, which is not an earlier value",
              f->name, id, oi->name, j, n->in[j]);
      return 0;
    }
  int has_list, nint = count_words(oi->iattrs, &has_list);
  if (n->attr.ni < 0 || n->attr.ni > DLM_MAX_IATTR || (has_list && n->attr.ni < nint - 1) ||
      (!has_list && n->attr.ni > nint)) {
    err_set(e, n->loc, "function @%s: %%%d (%s): invalid integer attribute count %d", f->name, id, oi->name, n->attr.ni);
    return 0;
  }
  if (!oi->has_sattr != !n->attr.s) {
    err_set(e, n->loc, "function @%s: %%%d (%s): %s", f->name, id, oi->name,
            oi->has_sattr ? "missing its name attribute" : "has an unexpected name attribute");
    return 0;
  }
  if (!type_ok(m, &n->type)) {
    err_set(e, n->loc, "function @%s: %%%d (%s): invalid result type", f->name, id, oi->name);
    return 0;
  }
  const Type *in[16];
  for (int j = 0; j < n->nin; j++) in[j] = &f->nodes[n->in[j]].type;
  DlmErr se = {0};
  Type out = n->type;
  if (!oi->shape(m, n, in, &out, &se)) {
    err_set(e, n->loc, "function @%s: %%%d: %s", f->name, id, se.msg);
    return 0;
  }
  if (!type_eq(&out, &n->type)) {
    char a[192], b[192];
    err_set(e, n->loc, "function @%s: %%%d (%s): type is %s but its operands give %s", f->name, id, oi->name,
            type_str(m, &n->type, a, sizeof a), type_str(m, &out, b, sizeof b));
    return 0;
  }
  return 1;
}

int ir_verify_func(const Module *m, const Func *f, DlmErr *e) {
  SrcLoc none = {0, 0, 0};
  const char *fname = f->name ? f->name : "?";
  if (!f->name) { err_set(e, none, "function without a name"); return 0; }
  if (f->nnodes < 0 || (f->nnodes > 0 && !f->nodes)) { err_set(e, none, "function @%s: invalid node array", fname); return 0; }
  for (int i = 0; i < f->nnodes; i++)
    if (!verify_node(m, f, i, e)) return 0;
  /* argument positions: 0..nargs-1, each exactly once */
  if (f->nargs < 0 || f->nargs > f->nnodes) { err_set(e, none, "function @%s: invalid argument count %d", fname, f->nargs); return 0; }
  int nargnodes = 0;
  for (int i = 0; i < f->nnodes; i++) {
    const Node *n = &f->nodes[i];
    if (n->op != OP_ARG) continue;
    nargnodes++;
    int64_t pos = n->attr.i[0];
    if (pos < 0 || pos >= f->nargs) {
      err_set(e, n->loc, "function @%s: %%%d: argument position %lld is out of range 0..%d", fname, i, (long long)pos, f->nargs - 1);
      return 0;
    }
    for (int j = 0; j < i; j++)
      if (f->nodes[j].op == OP_ARG && f->nodes[j].attr.i[0] == pos) {
        err_set(e, n->loc, "function @%s: %%%d: argument position %lld is also taken by %%%d", fname, i, (long long)pos, j);
        return 0;
      }
  }
  if (nargnodes != f->nargs) {
    err_set(e, none, "function @%s: declares %d arguments but has %d arg nodes", fname, f->nargs, nargnodes);
    return 0;
  }
  if (f->nout < 0 || (f->nout > 0 && !f->outs)) { err_set(e, none, "function @%s: invalid outputs", fname); return 0; }
  for (int i = 0; i < f->nout; i++)
    if (f->outs[i] < 0 || f->outs[i] >= f->nnodes) {
      err_set(e, none, "function @%s: output %d refers to %%%d, which is not defined", fname, i, f->outs[i]);
      return 0;
    }
  return 1;
}

/* ---------------------------------------------------------------- schedules */
static const Node *func_arg(const Func *f, int pos) {
  for (int i = 0; i < f->nnodes; i++)
    if (f->nodes[i].op == OP_ARG && f->nodes[i].attr.i[0] == pos) return &f->nodes[i];
  return NULL;
}

static int var_ok(const Sched *s, int v) { return v >= 0 && v < s->nvars; }

static int verify_stmts(const Module *m, const Sched *s, const SchedStmt *st, int n, int depth, DlmErr *e);

/* A KV-cache plan: a policy, buffers that are cache variables with their four descriptions, init
 * statements (at the loop's depth) and a body (inside the loop). */
static int verify_plan(const Module *m, const Sched *s, const SchedStmt *st, int depth, DlmErr *e) {
  const SchedPlan *pl = st->plan;
  if (!pl->policy || !pl->note || pl->block < 0 || pl->rows < 0 || pl->nbufs < 0 || (pl->nbufs > 0 && !pl->bufs)) {
    err_set(e, st->loc, "schedule @%s: malformed cache plan", s->name);
    return 0;
  }
  for (int i = 0; i < pl->nbufs; i++) {
    const SchedKvBuf *b = &pl->bufs[i];
    if (!var_ok(s, b->var) || s->vars[b->var].kind != SV_CACHE || !b->what || !b->written || !b->valid || !b->evicted) {
      err_set(e, st->loc, "schedule @%s: cache plan buffer %d is not a described cache variable", s->name, i);
      return 0;
    }
  }
  return verify_stmts(m, s, pl->init, pl->ninit, depth, e) && verify_stmts(m, s, pl->body, pl->nbody, depth + 1, e);
}

static int verify_stmts(const Module *m, const Sched *s, const SchedStmt *st, int n, int depth, DlmErr *e) {
  char a[192], b[192];
  if (n < 0 || (n > 0 && !st)) { err_set(e, s->loc, "schedule @%s: invalid statement list", s->name); return 0; }
  for (int i = 0; i < n; i++, st++) {
    if (st->memo != 0 && (st->memo != 1 || st->kind != SS_CALL || st->nres == 0)) {
      err_set(e, st->loc, "schedule @%s: only a call with results can be memo", s->name);
      return 0;
    }
    switch (st->kind) {
    case SS_CALL: {
      if (st->func < 0 || st->func >= m->nfuncs) {
        err_set(e, st->loc, "schedule @%s: call of undefined function #%d", s->name, st->func);
        return 0;
      }
      const Func *f = m->funcs[st->func];
      if (st->nargs != f->nargs || st->nres != f->nout || (st->nargs > 0 && !st->args) || (st->nres > 0 && !st->res)) {
        err_set(e, st->loc, "schedule @%s: call of @%s with %d argument%s and %d result%s; it takes %d and returns %d",
                s->name, f->name, st->nargs, st->nargs == 1 ? "" : "s", st->nres, st->nres == 1 ? "" : "s", f->nargs, f->nout);
        return 0;
      }
      for (int j = 0; j < st->nargs; j++) {
        const Node *an = func_arg(f, j);
        if (!var_ok(s, st->args[j])) { err_set(e, st->loc, "schedule @%s: call of @%s: argument %d is not a variable", s->name, f->name, j); return 0; }
        const SchedVar *v = &s->vars[st->args[j]];
        if (!an || !type_eq(&an->type, &v->type)) {
          err_set(e, st->loc, "schedule @%s: call of @%s: argument %d (%s) is %s, the function takes %s", s->name, f->name, j,
                  v->name, type_str(m, &v->type, a, sizeof a), an ? type_str(m, &an->type, b, sizeof b) : "nothing");
          return 0;
        }
      }
      for (int j = 0; j < st->nres; j++) {
        if (!var_ok(s, st->res[j])) { err_set(e, st->loc, "schedule @%s: call of @%s: result %d is not a variable", s->name, f->name, j); return 0; }
        const SchedVar *v = &s->vars[st->res[j]];
        const Type *ot = &f->nodes[f->outs[j]].type;
        if (!type_eq(ot, &v->type)) {
          err_set(e, st->loc, "schedule @%s: call of @%s: result %d is %s but variable %s is %s", s->name, f->name, j,
                  type_str(m, ot, a, sizeof a), v->name, type_str(m, &v->type, b, sizeof b));
          return 0;
        }
      }
      break;
    }
    case SS_LOOP: {
      int ids[3] = {st->var, st->lo, st->hi};
      for (int j = 0; j < 3; j++) {
        if (!var_ok(s, ids[j])) { err_set(e, st->loc, "schedule @%s: loop refers to an undefined variable", s->name); return 0; }
        const SchedVar *v = &s->vars[ids[j]];
        if (v->type.rank != 0 || !dtype_is_int(v->type.dtype)) {
          err_set(e, st->loc, "schedule @%s: loop bound or index %s must be an integer scalar, is %s", s->name, v->name,
                  type_str(m, &v->type, a, sizeof a));
          return 0;
        }
      }
      if (s->vars[st->var].kind != SV_LOOPVAR) {
        err_set(e, st->loc, "schedule @%s: loop index %s is not a loop variable", s->name, s->vars[st->var].name);
        return 0;
      }
      if (!verify_stmts(m, s, st->body, st->nbody, depth + 1, e)) return 0;
      if (st->plan && !verify_plan(m, s, st, depth, e)) return 0;
      break;
    }
    case SS_BREAK_IF:
      if (depth == 0) { err_set(e, st->loc, "schedule @%s: break_if outside a loop", s->name); return 0; }
      if (st->nargs != 1 || !st->args || !var_ok(s, st->args[0]) || s->vars[st->args[0]].type.rank != 0 ||
          s->vars[st->args[0]].type.dtype != DT_BOOL) {
        err_set(e, st->loc, "schedule @%s: break_if needs one bool scalar variable", s->name);
        return 0;
      }
      break;
    case SS_WINDOW: {
      int ok = depth > 0 && st->nargs == 3 && st->nres == 2 && st->args && st->res && st->args[2] == st->res[1];
      for (int j = 0; ok && j < 2; j++)
        ok = var_ok(s, st->args[j]) && s->vars[st->args[j]].type.rank == 0 && dtype_is_int(s->vars[st->args[j]].type.dtype);
      for (int j = 0; ok && j < 2; j++) {
        const SchedVar *v = var_ok(s, st->res[j]) ? &s->vars[st->res[j]] : NULL;
        ok = v && v->kind == SV_CACHE && v->type.rank == 1 && v->type.dtype == DT_I64 &&
             (j == 0 || (dim_is_const(v->type.dims[0]) && v->type.dims[0].k == 2));
      }
      if (!ok) {
        err_set(e, st->loc, "schedule @%s: window needs integer scalars lo and hi, and cache variables rows (i64[W]) and span "
                "(i64[2], read and written), inside a loop", s->name);
        return 0;
      }
      break;
    }
    default:
      err_set(e, st->loc, "schedule @%s: invalid statement kind %d", s->name, (int)st->kind);
      return 0;
    }
  }
  return 1;
}

int ir_verify_sched(const Module *m, const Sched *s, DlmErr *e) {
  if (!s->name) { err_set(e, s->loc, "schedule without a name"); return 0; }
  if (s->nvars < 0 || (s->nvars > 0 && !s->vars)) { err_set(e, s->loc, "schedule @%s: invalid variables", s->name); return 0; }
  for (int i = 0; i < s->nvars; i++) {
    const SchedVar *v = &s->vars[i];
    if (!v->name || (unsigned)v->kind > SV_CONST || !type_ok(m, &v->type)) {
      err_set(e, v->loc, "schedule @%s: variable %d is malformed", s->name, i);
      return 0;
    }
  }
  if (!verify_stmts(m, s, s->body, s->nbody, 0, e)) return 0;
  if (s->nout < 0 || (s->nout > 0 && !s->outs)) { err_set(e, s->loc, "schedule @%s: invalid outputs", s->name); return 0; }
  for (int i = 0; i < s->nout; i++)
    if (!var_ok(s, s->outs[i])) {
      err_set(e, s->loc, "schedule @%s: output %d is not a variable", s->name, i);
      return 0;
    }
  return 1;
}

/* ---------------------------------------------------------------- module */
int ir_verify(const Module *m, DlmErr *e) {
  for (int i = 0; i < m->nparams; i++) {
    const ParamDecl *p = &m->params[i];
    int constant = 1;
    for (int d = 0; d < p->type.rank && d < DLM_MAX_RANK; d++) constant &= dim_is_const(p->type.dims[d]);
    if (!p->name || !type_ok(m, &p->type) || !constant || (unsigned)p->init > INIT_UNIFORM) {
      err_set(e, p->loc, "parameter %d (%s) is malformed: it needs a name, a constant shape and an init kind", i,
              p->name ? p->name : "?");
      return 0;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(m->params[j].name, p->name) == 0) { err_set(e, p->loc, "parameter %s is declared twice", p->name); return 0; }
  }
  for (int i = 0; i < m->nfuncs; i++) {
    if (!ir_verify_func(m, m->funcs[i], e)) return 0;
    for (int j = 0; j < i; j++)
      if (strcmp(m->funcs[j]->name, m->funcs[i]->name) == 0) {
        err_set(e, (SrcLoc){0, 0, 0}, "function @%s is defined twice", m->funcs[i]->name);
        return 0;
      }
  }
  for (int i = 0; i < m->nscheds; i++)
    if (!ir_verify_sched(m, m->scheds[i], e)) return 0;
  return 1;
}
