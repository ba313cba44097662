/* lower_sampler.c — samplers to schedule programs: knobs become SV_KNOB variables, `state` SV_STATE,
 * `loop v in a..b [cache(p)]` SS_LOOP over an SV_LOOPVAR, `break if c` SS_BREAK_IF, and every maximal
 * run of tensor statements becomes a graph function `<sampler>.<n>` called by SS_CALL: its arguments
 * are the schedule variables it reads, its results the variables it writes that are read later
 * (state is always written back). `x = memo e` ends the current run and gives e a graph of its own
 * whose call is marked memo (the runtime may reuse its results when its arguments are unchanged). */
#include "lower.h"
#include <string.h>

struct SegCtx {
  Func *f;
  int argvar[64], argnode[64], nargs;
  Vec writes;                      /* names written (const char *), unique */
  Vec wlocs;                       /* SrcLoc * of each name's last write */
};

typedef struct {
  Lower *L;
  Item *it;
  Sched *s;
  int nseg, loops, ntemp;
  SegCtx seg;
  int active;
  Vec states;                      /* names declared with `state` */
  Env vars;                        /* name -> V_SCHED: the variable that currently holds a name */
} SCtx;

static int in_vec(const Vec *v, const char *name) {
  for (int i = 0; i < v->n; i++)
    if (strcmp(v->v[i], name) == 0) return 1;
  return 0;
}

static void add_name(Lower *L, Vec *v, const char *name) { if (!in_vec(v, name)) vec_push(L->arena, v, (void *)name); }

/* Records that the current graph writes name (at loc). */
static void add_write(Lower *L, SegCtx *g, const char *name, SrcLoc loc) {
  SrcLoc *l = arena_alloc(L->arena, sizeof *l);
  *l = loc;
  for (int i = 0; i < g->writes.n; i++)
    if (strcmp(g->writes.v[i], name) == 0) { g->wlocs.v[i] = l; return; }
  vec_push(L->arena, &g->writes, (void *)name);
  vec_push(L->arena, &g->wlocs, l);
}

/* ---------------------------------------------------------------- names read (for liveness) */
static void reads_expr(Lower *L, const Expr *e, Vec *out, int depth) {
  if (!e || depth > LOWER_MAX_DEPTH) return;
  if (e->kind == E_NAME) add_name(L, out, e->name);
  reads_expr(L, e->a, out, depth + 1);
  reads_expr(L, e->b, out, depth + 1);
  for (int i = 0; i < e->nargs; i++) reads_expr(L, e->args[i], out, depth + 1);
}

/* Names that statements read before assigning them (upward-exposed reads); assigned gets the names
 * the statements assign on every path. Loop bodies may run zero times, so their writes do not count. */
static void exposed_reads(Lower *L, Stmt *const *b, int n, Vec *assigned, Vec *out, int depth) {
  if (depth > 64) return;
  for (int i = 0; i < n; i++) {
    const Stmt *s = b[i];
    Vec r = {0, 0, 0};
    reads_expr(L, s->value, &r, 0);
    for (int j = 0; j < s->nvalues; j++) reads_expr(L, s->values[j], &r, 0);
    reads_expr(L, s->lo, &r, 0);
    reads_expr(L, s->hi, &r, 0);
    for (int j = 0; j < r.n; j++)
      if (!in_vec(assigned, r.v[j])) add_name(L, out, r.v[j]);
    if (s->kind == S_FOR || s->kind == S_LOOP) {
      Vec inner = {0, 0, 0};
      for (int j = 0; j < assigned->n; j++) add_name(L, &inner, assigned->v[j]);
      add_name(L, &inner, s->var);
      exposed_reads(L, s->body, s->nbody, &inner, out, depth + 1);
    } else {
      for (int j = 0; j < s->nnames; j++) add_name(L, assigned, s->names[j]);
    }
  }
}

static void assigned_names(Lower *L, const Stmt *s, Vec *out, int depth) {
  if (depth > 64) return;
  for (int i = 0; i < s->nnames; i++) add_name(L, out, s->names[i]);
  for (int i = 0; i < s->nbody; i++) assigned_names(L, s->body[i], out, depth + 1);
}

/* ---------------------------------------------------------------- segments */
static int seg_begin(SCtx *c) {
  Lower *L = c->L;
  if (c->active) return 1;
  const char *name = arena_printf(L->arena, "%s.%d", c->it->name, c->nseg++);
  Func *f = ir_func_new(L->m, name);
  if (!f) return fail(L, c->it->loc, "function name '%s' is already taken", name);
  memset(&c->seg, 0, sizeof c->seg);
  c->seg.f = f;
  c->active = 1;
  L->f = f;
  L->seg = &c->seg;
  return 1;
}

int seg_arg(Lower *L, int var, SrcLoc loc, Val *out) {
  SegCtx *g = L->seg;
  for (int i = 0; i < g->nargs; i++)
    if (g->argvar[i] == var) { *out = val_tensor(g->argnode[i]); return 1; }
  if (g->nargs == 64) return fail(L, loc, "a graph reads too many schedule variables (limit 64)");
  const SchedVar *sv = &L->m->scheds[L->m->nscheds - 1]->vars[var];
  int id = ir_arg(L->m, g->f, sv->name, sv->type, loc);
  if (id < 0) return fail(L, loc, "cannot pass '%s' to a graph", sv->name);
  g->argvar[g->nargs] = var;
  g->argnode[g->nargs++] = id;
  *out = val_tensor(id);
  return 1;
}

static SchedStmt *new_stmt(Lower *L, Vec *body, SchedStmtKind k, SrcLoc loc) {
  SchedStmt *st = arena_alloc(L->m->arena, sizeof *st);
  st->kind = k;
  st->loc = loc;
  vec_push(L->arena, body, st);
  return st;
}

static int *copy_ints(Lower *L, const int *v, int n) {
  int *p = arena_alloc(L->m->arena, (size_t)(n ? n : 1) * sizeof *p);
  memcpy(p, v, (size_t)n * sizeof *p);
  return p;
}

/* The schedule variable that receives name's value of type t. */
static int var_for(SCtx *c, const char *name, const Type *t, SrcLoc loc, int *out) {
  Lower *L = c->L;
  Val v;
  char a[128], b[128];
  if (env_get(&c->vars, name, &v)) {
    const SchedVar *sv = &c->s->vars[v.id];
    if (type_eq(&sv->type, t)) { *out = v.id; return 1; }
    if (in_vec(&c->states, name))
      return fail(L, loc, "shape mismatch: state '%s' is %s but is assigned %s", name, type_str(L->m, &sv->type, a, sizeof a), type_str(L->m, t, b, sizeof b));
  }
  const char *vn = env_get(&c->vars, name, &v) ? arena_printf(L->arena, "%s.%d", name, c->ntemp++) : name;
  *out = ir_sched_var(L->m, c->s, vn, SV_STATE, *t, 0, loc);
  Val sv;
  memset(&sv, 0, sizeof sv);
  sv.kind = V_SCHED;
  sv.id = *out;
  env_set(L, &c->vars, name, sv);
  return 1;
}

static int seg_flush(SCtx *c, const Vec *live, Vec *body, SrcLoc loc) {
  Lower *L = c->L;
  if (!c->active) return 1;
  int outs[64], vars[64], n = 0;
  const char *names[64];
  for (int i = 0; i < c->seg.writes.n; i++) {
    const char *name = c->seg.writes.v[i];
    SrcLoc wloc = *(SrcLoc *)c->seg.wlocs.v[i];
    Val v;
    char b[128];
    if (!env_get(L->env, name, &v)) continue;
    if (v.kind != V_TENSOR && in_vec(&c->states, name))
      return fail(L, wloc, "state '%s' must be assigned a tensor, got %s", name, val_str(L, v, b, sizeof b));
    if (v.kind != V_TENSOR) continue;
    if (!in_vec(live, name) && !in_vec(&c->states, name) && name[0] != '$') {
      Val none;
      memset(&none, 0, sizeof none);
      env_set(L, L->env, name, none);
      continue;
    }
    if (n == 64) return fail(L, loc, "a graph writes too many variables (limit 64)");
    if (!var_for(c, name, val_type(L, v), wloc, &vars[n])) return 0;
    outs[n] = v.id;
    names[n++] = name;
  }
  c->active = 0;
  L->f = NULL;
  L->seg = NULL;
  if (n == 0) {
    /* nothing it computes is used: graphs are pure, so drop it (it is the newest function) */
    L->m->nfuncs--;
    c->nseg--;
    return 1;
  }
  ir_set_outputs(L->m, c->seg.f, n, outs, names);
  SchedStmt *st = new_stmt(L, body, SS_CALL, loc);
  st->func = ir_func_index(L->m, c->seg.f->name);
  st->nargs = c->seg.nargs;
  st->args = copy_ints(L, c->seg.argvar, c->seg.nargs);
  st->nres = n;
  st->res = copy_ints(L, vars, n);
  for (int i = 0; i < n; i++) {
    Val sv;
    memset(&sv, 0, sizeof sv);
    sv.kind = V_SCHED;
    sv.id = vars[i];
    env_set(L, L->env, names[i], sv);
  }
  return 1;
}

/* ---------------------------------------------------------------- statements */
static int loop_bound(SCtx *c, const Expr *e, int *out) {
  Lower *L = c->L;
  Val v;
  if (!lower_expr(L, e, &v)) return 0;
  if (v.kind == V_SCHED) {
    const SchedVar *sv = &c->s->vars[v.id];
    if (sv->type.rank != 0 || !dtype_is_int(sv->type.dtype)) return fail(L, e->loc, "loop bound '%s' must be an integer scalar", sv->name);
    *out = v.id;
    return 1;
  }
  if (v.kind != V_NUM || !v.is_int || v.is_bool)
    return fail(L, e->loc, "loop bounds must be integer constants, knobs or loop variables");
  for (int i = 0; i < c->s->nvars; i++)
    if (c->s->vars[i].kind == SV_CONST && c->s->vars[i].value == (double)v.ival) { *out = i; return 1; }
  *out = ir_sched_var(L->m, c->s, arena_printf(L->arena, "$%lld", (long long)v.ival), SV_CONST, type_scalar(DT_I64), (double)v.ival, e->loc);
  return 1;
}

static int tensor_into(SCtx *c, const char *name, const Expr *value, const TypeExpr *t, SrcLoc loc) {
  Lower *L = c->L;
  Val v;
  if (!seg_begin(c) || !lower_expr(L, value, &v)) return 0;
  if (v.kind == V_NUM && t && !t->has_dims) {
    DType dt = DT_F32;
    if (!dtype_from_name(t->name, &dt)) return fail(L, t->loc, "unknown type '%s'", t->name);
    int id = materialize(L, v, dt, value->loc);
    if (id < 0) return 0;
    v = val_tensor(id);
  }
  if (v.kind == V_NUM && !t && v.is_bool) {
    int id = materialize(L, v, DT_BOOL, value->loc);
    if (id < 0) return 0;
    v = val_tensor(id);
  }
  if (t && !check_type(L, t, v, value->loc, name)) return 0;
  if (v.kind != V_TENSOR) { char b[128]; return fail(L, loc, "expected a tensor, got %s", val_str(L, v, b, sizeof b)); }
  env_set(L, L->env, name, v);
  add_write(L, &c->seg, name, loc);
  return 1;
}

static int block(SCtx *c, Stmt *const *b, int n, const Vec *live_out, Vec *body, int top);

/* Names live after statement from-1: read later before being reassigned, or live at the end. */
static void live_after(SCtx *c, Stmt *const *b, int n, int from, const Vec *live_out, Vec *live) {
  Vec assigned = {0, 0, 0};
  memset(live, 0, sizeof *live);
  exposed_reads(c->L, b + from, n - from, &assigned, live, 0);
  for (int i = 0; i < live_out->n; i++)
    if (!in_vec(&assigned, live_out->v[i])) add_name(c->L, live, live_out->v[i]);
}

static int sampler_loop(SCtx *c, const Stmt *st, const Vec *live, Vec *body) {
  Lower *L = c->L;
  int lo, hi;
  if (!loop_bound(c, st->lo, &lo) || !loop_bound(c, st->hi, &hi)) return 0;
  if (st->cache && strcmp(st->cache, "exact") && strcmp(st->cache, "prefix") && strcmp(st->cache, "dual"))
    return fail(L, st->cache_loc, "unknown cache policy '%s' (expected exact, prefix or dual)", st->cache);
  int var = ir_sched_var(L->m, c->s, st->var, SV_LOOPVAR, type_scalar(DT_I64), 0, st->loc);
  Val sv;
  memset(&sv, 0, sizeof sv);
  sv.kind = V_SCHED;
  sv.id = var;
  env_set(L, L->env, st->var, sv);
  Vec lb = {0, 0, 0}, lv = {0, 0, 0}, assigned = {0, 0, 0};
  for (int i = 0; i < live->n; i++) add_name(L, &lv, live->v[i]);
  add_name(L, &assigned, st->var);
  exposed_reads(L, st->body, st->nbody, &assigned, &lv, 0);
  c->loops++;
  int ok = block(c, st->body, st->nbody, &lv, &lb, 0);
  c->loops--;
  if (!ok) return 0;
  SchedStmt *s = new_stmt(L, body, SS_LOOP, st->loc);
  s->var = var;
  s->lo = lo;
  s->hi = hi;
  s->nbody = lb.n;
  s->body = arena_alloc(L->m->arena, (size_t)(lb.n ? lb.n : 1) * sizeof *s->body);
  for (int i = 0; i < lb.n; i++) s->body[i] = *(SchedStmt *)lb.v[i];
  s->cache_policy = st->cache ? arena_strdup(L->m->arena, st->cache) : NULL;
  return 1;
}

static int sampler_return(SCtx *c, const Stmt *st, const Vec *live, Vec *body) {
  Lower *L = c->L;
  const Item *it = c->it;
  if (st->nvalues != it->nrets)
    return fail(L, st->loc, "sampler '%s' returns %d value%s but declares %d", it->name, st->nvalues, st->nvalues == 1 ? "" : "s", it->nrets);
  const char *tmp[16];
  if (st->nvalues > 16) return fail(L, st->loc, "too many results");
  for (int i = 0; i < st->nvalues; i++) {
    const Expr *e = st->values[i];
    Val v;
    tmp[i] = arena_printf(L->arena, "$result%d", i);
    if (e->kind == E_NAME && env_get(L->env, e->name, &v) && v.kind == V_SCHED) {
      Type want;
      char a[128], b[128];
      if (!eval_type(L, it->rets[i], &want)) return 0;
      if (!type_eq(&want, &c->s->vars[v.id].type))
        return fail(L, e->loc, "shape mismatch: result %d of sampler '%s': expected %s, got %s", i + 1, it->name,
                    type_str(L->m, &want, a, sizeof a), type_str(L->m, &c->s->vars[v.id].type, b, sizeof b));
      env_set(L, L->env, tmp[i], v);
      continue;
    }
    if (!tensor_into(c, tmp[i], e, it->rets[i], e->loc)) return 0;
  }
  if (!seg_flush(c, live, body, st->loc)) return 0;
  c->s->nout = st->nvalues;
  c->s->outs = arena_alloc(L->m->arena, (size_t)(st->nvalues ? st->nvalues : 1) * sizeof(int));
  for (int i = 0; i < st->nvalues; i++) {
    Val v;
    env_get(L->env, tmp[i], &v);
    c->s->outs[i] = v.id;
  }
  return 1;
}

static int block(SCtx *c, Stmt *const *b, int n, const Vec *live_out, Vec *body, int top) {
  Lower *L = c->L;
  int returned = 0;
  for (int i = 0; i < n; i++) {
    const Stmt *st = b[i];
    Vec live;
    if (returned) return fail(L, st->loc, "statement after return");
    if (++L->work > LOWER_MAX_WORK) return fail(L, st->loc, "program too large");
    live_after(c, b, n, i + 1, live_out, &live);
    switch (st->kind) {
    case S_ASSIGN: case S_FOR: {
      Val r;
      int rr = 0;
      for (int k = 0; k < st->nnames; k++) {
        Val old;
        if (env_get(L->env, st->names[k], &old) && old.kind == V_SCHED &&
            (c->s->vars[old.id].kind == SV_KNOB || c->s->vars[old.id].kind == SV_LOOPVAR ||
             c->s->vars[old.id].kind == SV_INPUT))
          return fail(L, st->nlocs[k], "cannot assign to %s '%s'", c->s->vars[old.id].kind == SV_KNOB ? "knob" :
                      c->s->vars[old.id].kind == SV_INPUT ? "input" : "loop variable", st->names[k]);
      }
      int memo = st->memo;
      if (memo) {
        /* `x = memo e`: e gets a graph of its own, whose call the runtime may skip */
        Vec live_at;
        live_after(c, b, n, i, live_out, &live_at);
        if (!seg_flush(c, &live_at, body, st->loc)) return 0;
        Stmt *plain = arena_alloc(L->arena, sizeof *plain);
        *plain = *st;
        plain->memo = 0;
        st = plain;
      }
      if (!seg_begin(c) || !lower_stmts(L, (Stmt *const *)&st, 1, 0, &r, &rr)) return 0;
      for (int k = 0; st->kind == S_ASSIGN && k < st->nnames; k++) {
        Val v, sv;
        char t1[128], t2[128];
        if (!in_vec(&c->states, st->names[k]) || !env_get(&c->vars, st->names[k], &sv) || !env_get(L->env, st->names[k], &v)) continue;
        const Type *want = &c->s->vars[sv.id].type;
        if (v.kind != V_TENSOR)
          return fail(L, st->nlocs[k], "state '%s' must be assigned a tensor of type %s, got %s", st->names[k],
                      type_str(L->m, want, t1, sizeof t1), val_str(L, v, t2, sizeof t2));
        if (!type_eq(want, val_type(L, v)))
          return fail(L, st->nlocs[k], "shape mismatch: state '%s' is %s but is assigned %s", st->names[k],
                      type_str(L->m, want, t1, sizeof t1), type_str(L->m, val_type(L, v), t2, sizeof t2));
      }
      Vec names = {0, 0, 0};
      assigned_names(L, st, &names, 0);
      for (int k = 0; k < names.n; k++) add_write(L, &c->seg, names.v[k], st->loc);
      if (memo) {
        int before = body->n;
        if (!seg_flush(c, &live, body, st->loc)) return 0;
        if (body->n > before) ((SchedStmt *)body->v[body->n - 1])->memo = 1;
      }
      break;
    }
    case S_STATE: {
      Type t;
      Func *sf = L->f;
      SegCtx *sg = L->seg;
      L->f = NULL;
      L->seg = NULL;
      int ok = bind_type_symbolic(L, st->type, &t);
      L->f = sf;
      L->seg = sg;
      if (!ok) return 0;
      Val old;
      if (in_vec(&c->states, st->names[0]) || env_get(&c->vars, st->names[0], &old))
        return fail(L, st->loc, "duplicate definition of '%s'", st->names[0]);
      add_name(L, &c->states, st->names[0]);
      int var = ir_sched_var(L->m, c->s, st->names[0], SV_STATE, t, 0, st->loc);
      Val sv;
      memset(&sv, 0, sizeof sv);
      sv.kind = V_SCHED;
      sv.id = var;
      env_set(L, &c->vars, st->names[0], sv);
      if (!tensor_into(c, st->names[0], st->value, st->type, st->loc)) return 0;
      break;
    }
    case S_LOOP: {
      Vec live_at;   /* the loop itself reads what the graph before it computed */
      live_after(c, b, n, i, live_out, &live_at);
      if (!seg_flush(c, &live_at, body, st->loc) || !sampler_loop(c, st, &live, body)) return 0;
      break;
    }
    case S_BREAK_IF: {
      if (!c->loops) return fail(L, st->loc, "'break if' outside a loop");
      const char *tmp = arena_printf(L->arena, "$break%d", c->ntemp++);
      if (!tensor_into(c, tmp, st->value, NULL, st->value->loc)) return 0;
      Val v;
      env_get(L->env, tmp, &v);
      const Type *t = val_type(L, v);
      if (t->rank != 0 || t->dtype != DT_BOOL) {
        char s[128];
        return fail(L, st->value->loc, "type error: 'break if' needs a bool scalar, got %s", type_str(L->m, t, s, sizeof s));
      }
      if (!seg_flush(c, &live, body, st->loc)) return 0;
      env_get(L->env, tmp, &v);
      SchedStmt *s = new_stmt(L, body, SS_BREAK_IF, st->loc);
      s->nargs = 1;
      s->args = copy_ints(L, &v.id, 1);
      break;
    }
    case S_RETURN:
      if (!top) return fail(L, st->loc, "return is only allowed at the end of a sampler");
      if (!sampler_return(c, st, &live, body)) return 0;
      returned = 1;
      break;
    }
    if (L->err.set) return 0;
  }
  return seg_flush(c, live_out, body, n ? b[n - 1]->loc : c->it->loc);
}

int lower_sampler(Lower *L, Item *it) {
  global_find(L, it->name)->used = 1;
  SCtx c;
  memset(&c, 0, sizeof c);
  c.L = L;
  c.it = it;
  c.s = ir_sched_new(L->m, it->name, it->loc);
  Env frame = {0, 0, 0};
  L->env = &frame;
  L->f = NULL;
  L->seg = NULL;
  for (int i = 0; i < it->nparams; i++) {
    const Param *p = it->params[i];
    DType dt = DT_F32;
    double dv = 0;
    Val sv;
    memset(&sv, 0, sizeof sv);
    sv.kind = V_SCHED;
    if (!dtype_from_name(p->type->name, &dt)) return fail(L, p->type->loc, "unknown element type '%s'", p->type->name);
    if (p->type->has_dims) {
      /* a tensor parameter is an input given by the caller (a prompt, a partial sequence) */
      Type t;
      if (p->dflt) return fail(L, p->dflt->loc, "sampler input '%s' has no default (only scalar knobs do)", p->name);
      if (!bind_type_symbolic(L, p->type, &t)) return 0;
      sv.id = ir_sched_var(L->m, c.s, p->name, SV_INPUT, t, 0, p->loc);
      env_set(L, &frame, p->name, sv);
      env_set(L, &c.vars, p->name, sv);
      continue;
    }
    if (!p->dflt) return fail(L, p->loc, "sampler knob '%s' needs a default value", p->name);
    if (!ct_num(L, p->dflt, &dv)) return 0;
    sv.id = ir_sched_var(L->m, c.s, p->name, SV_KNOB, type_scalar(dt), dv, p->loc);
    env_set(L, &frame, p->name, sv);
    env_set(L, &c.vars, p->name, sv);
  }
  for (int i = 0; i < it->nrets; i++) {
    Type t;
    if (!bind_type_symbolic(L, it->rets[i], &t)) return 0;
  }
  Vec body = {0, 0, 0}, live = {0, 0, 0};
  int ok = block(&c, it->body, it->nbody, &live, &body, 1);
  L->f = NULL;
  L->seg = NULL;
  L->env = NULL;
  if (!ok) return 0;
  if (it->nrets && !c.s->nout) return fail(L, it->loc, "sampler '%s' does not return a value", it->name);
  c.s->nbody = body.n;
  c.s->body = arena_alloc(L->m->arena, (size_t)(body.n ? body.n : 1) * sizeof *c.s->body);
  for (int i = 0; i < body.n; i++) c.s->body[i] = *(SchedStmt *)body.v[i];
  return 1;
}
