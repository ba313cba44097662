/* lower_fn.c — functions and statements: inlining of `fn` calls with shape-variable unification,
 * `export fn` into IR functions, statements (bindings, destructuring, compile-time `for`, return),
 * recursion detection, and the type check of unused functions by instantiation with their declared
 * types in a scratch module. */
#include "lower.h"
#include <string.h>

static int is_struct_type(Lower *L, const TypeExpr *t) {
  Global *g = global_find(L, t->name);
  return g && g->item->kind == I_STRUCT;
}

/* Binds one argument value to a parameter in the (callee) frame L->env. */
static int bind_param(Lower *L, const Item *fn, const Param *p, Val v, SrcLoc loc) {
  char what[160], s[128];
  snprintf(what, sizeof what, "argument '%s' of '%s'", p->name, fn->name);
  if (is_struct_type(L, p->type)) {
    VKind want = p->type->has_dims ? V_PARAMARR : V_PARAM;
    if (v.kind != want || !v.st || strcmp(v.st->name, p->type->name) != 0)
      return fail(L, loc, "%s: expected parameter group %s%s, got %s", what, p->type->name, p->type->has_dims ? "[n]" : "", val_str(L, v, s, sizeof s));
    env_set(L, L->env, p->name, v);
    return 1;
  }
  if (v.kind == V_NUM && !p->type->has_dims) {
    DType dt = DT_F32;
    if (!dtype_from_name(p->type->name, &dt)) return fail(L, p->type->loc, "unknown type '%s'", p->type->name);
    int id = materialize(L, v, dt, loc);
    if (id < 0) return 0;
    v = val_tensor(id);
  }
  if (!bind_type(L, p->type, v, loc, what)) return 0;
  env_set(L, L->env, p->name, v);
  return 1;
}

static int check_returns(Lower *L, const Item *fn, Val *retp, SrcLoc loc) {
  Val ret = *retp;
  int n = ret.kind == V_TUPLE ? ret.nitems : ret.kind == V_NONE ? 0 : 1;
  if (n != fn->nrets) return fail(L, loc, "'%s' returns %d value%s but declares %d", fn->name, n, n == 1 ? "" : "s", fn->nrets);
  for (int i = 0; i < n; i++) {
    Val v = ret.kind == V_TUPLE ? ret.items[i] : ret;
    char what[160];
    snprintf(what, sizeof what, "result %d of '%s'", i + 1, fn->name);
    if (v.kind == V_NUM && !fn->rets[i]->has_dims) {
      DType dt = DT_F32;
      if (!dtype_from_name(fn->rets[i]->name, &dt)) return fail(L, fn->rets[i]->loc, "unknown type '%s'", fn->rets[i]->name);
      int id = materialize(L, v, dt, loc);
      if (id < 0) return 0;
      v = val_tensor(id);
      if (ret.kind == V_TUPLE) ret.items[i] = v;
      else *retp = v;
    }
    if (!check_type(L, fn->rets[i], v, loc, what)) return 0;
  }
  return 1;
}

static int push_call(Lower *L, const Item *fn, SrcLoc loc) {
  for (int i = 0; i < L->ncalls; i++)
    if (L->calls[i] == fn) return fail(L, loc, "recursive call to '%s' (functions are inlined, so recursion is not allowed)", fn->name);
  if (L->ncalls >= LOWER_MAX_INLINE) return fail(L, loc, "calls nested too deeply (limit %d)", LOWER_MAX_INLINE);
  L->calls[L->ncalls++] = fn;
  return 1;
}

/* Lowers a function body in the current frame and returns its (checked) result. */
static int lower_body(Lower *L, const Item *fn, Val *ret) {
  int returned = 0;
  memset(ret, 0, sizeof *ret);
  if (!lower_stmts(L, fn->body, fn->nbody, 1, ret, &returned)) return 0;
  if (!returned && fn->nrets) return fail(L, fn->loc, "'%s' does not return a value", fn->name);
  const Stmt *last = fn->nbody ? fn->body[fn->nbody - 1] : NULL;
  SrcLoc loc = last && last->kind == S_RETURN && last->nvalues ? last->values[0]->loc : fn->loc;
  return check_returns(L, fn, ret, loc);
}

int lower_call_fn(Lower *L, const Expr *e, Item *fn, Val *out) {
  Global *g = global_find(L, fn->name);
  g->used = 1;
  if (!need_tensor_ctx(L, e->loc)) return 0;
  const char *names[32];
  const Expr *slots[32];
  if (fn->nparams > 32) return fail(L, fn->loc, "too many parameters");
  int nreq = 0;
  for (int i = 0; i < fn->nparams; i++) {
    names[i] = fn->params[i]->name;
    if (!fn->params[i]->dflt) nreq = i + 1;
  }
  if (!call_slots(L, e, names, fn->nparams, nreq, slots)) return 0;
  Val args[32];
  for (int i = 0; i < fn->nparams; i++) {
    if (!slots[i] && !fn->params[i]->dflt)
      return fail(L, e->loc, "wrong number of arguments: '%s' needs argument '%s'", fn->name, names[i]);
    if (!slots[i]) slots[i] = fn->params[i]->dflt;
    if (!lower_expr(L, slots[i], &args[i])) return 0;
  }
  if (!push_call(L, fn, e->loc)) return 0;
  Env *caller = L->env, frame = {0, 0, 0};
  L->env = &frame;
  int ok = 1;
  for (int i = 0; ok && i < fn->nparams; i++) ok = bind_param(L, fn, fn->params[i], args[i], slots[i]->loc);
  Val ret;
  if (ok) ok = lower_body(L, fn, &ret);
  L->env = caller;
  L->ncalls--;
  if (!ok) {
    if (L->err.loc.file != e->loc.file || L->err.loc.line != e->loc.line) {
      size_t len = strlen(L->err.msg);
      if (len + 40 < sizeof L->err.msg) snprintf(L->err.msg + len, sizeof L->err.msg - len, " (in '%s' called at line %d)", fn->name, e->loc.line);
    }
    return 0;
  }
  if (fn->nrets == 0) return fail(L, e->loc, "'%s' returns no value", fn->name);
  *out = ret;
  return 1;
}

int lower_assign(Lower *L, const Stmt *s) {
  Val v;
  char b[128];
  if (!lower_expr(L, s->value, &v)) return 0;
  if (s->nnames == 1) {
    if (v.kind == V_TUPLE) return fail(L, s->loc, "wrong number of values: expected 1, got %d", v.nitems);
    if (s->type) {
      if (v.kind == V_NUM && !s->type->has_dims) {
        DType dt = DT_F32;
        if (!dtype_from_name(s->type->name, &dt)) return fail(L, s->type->loc, "unknown type '%s'", s->type->name);
        int id = materialize(L, v, dt, s->value->loc);
        if (id < 0) return 0;
        v = val_tensor(id);
      }
      char what[128];
      snprintf(what, sizeof what, "binding '%s'", s->names[0]);
      if (!check_type(L, s->type, v, s->value->loc, what)) return 0;
    }
    if (v.kind == V_NONE || v.kind == V_LIST || v.kind == V_DTYPE)
      return fail(L, s->value->loc, "cannot bind %s to a name", val_str(L, v, b, sizeof b));
    env_set(L, L->env, s->names[0], v);
    if (v.kind == V_TENSOR && !L->f->nodes[v.id].name) L->f->nodes[v.id].name = arena_strdup(L->m->arena, s->names[0]);
    return 1;
  }
  int n = v.kind == V_TUPLE ? v.nitems : 1;
  if (n != s->nnames) return fail(L, s->loc, "wrong number of values: %d names but %d value%s", s->nnames, n, n == 1 ? "" : "s");
  for (int i = 0; i < n; i++) {
    env_set(L, L->env, s->names[i], v.items[i]);
    if (v.items[i].kind == V_TENSOR && !L->f->nodes[v.items[i].id].name) L->f->nodes[v.items[i].id].name = arena_strdup(L->m->arena, s->names[i]);
  }
  return 1;
}

static int lower_return(Lower *L, const Stmt *s, Val *ret) {
  if (s->nvalues == 1) return lower_expr(L, s->values[0], ret);
  memset(ret, 0, sizeof *ret);
  ret->kind = V_TUPLE;
  ret->nitems = s->nvalues;
  ret->items = arena_alloc(L->arena, (size_t)s->nvalues * sizeof(Val));
  for (int i = 0; i < s->nvalues; i++) {
    if (!lower_expr(L, s->values[i], &ret->items[i])) return 0;
    if (ret->items[i].kind == V_TUPLE) return fail(L, s->values[i]->loc, "a multi-value result must be destructured");
  }
  return 1;
}

int lower_stmts(Lower *L, Stmt *const *body, int n, int top, Val *ret, int *returned) {
  for (int i = 0; i < n; i++) {
    const Stmt *s = body[i];
    if (*returned) return fail(L, s->loc, "statement after return");
    if (++L->work > LOWER_MAX_WORK) return fail(L, s->loc, "program too large after unrolling loops");
    switch (s->kind) {
    case S_ASSIGN:
      if (s->memo) return fail(L, s->loc, "'memo' is only allowed in a sampler body, outside compile-time 'for' loops");
      if (!lower_assign(L, s)) return 0;
      break;
    case S_RETURN:
      if (!top) return fail(L, s->loc, "return is only allowed at the end of a function body");
      if (!lower_return(L, s, ret)) return 0;
      *returned = 1;
      break;
    case S_FOR: {
      int64_t lo, hi;
      if (!ct_int(L, s->lo, &lo) || !ct_int(L, s->hi, &hi)) return 0;
      if (hi - lo > LOWER_MAX_UNROLL) return fail(L, s->loc, "compile-time loop has too many iterations (limit %d)", LOWER_MAX_UNROLL);
      for (int64_t k = lo; k < hi; k++) {
        env_set(L, L->env, s->var, val_int(k));
        int r = 0;
        if (!lower_stmts(L, s->body, s->nbody, 0, ret, &r)) return 0;
      }
      break;
    }
    case S_LOOP: return fail(L, s->loc, "'loop' is only allowed in a sampler (use 'for' for a compile-time loop)");
    case S_STATE: return fail(L, s->loc, "'state' is only allowed in a sampler");
    case S_BREAK_IF: return fail(L, s->loc, "'break if' is only allowed in a sampler loop");
    }
    if (L->err.set) return 0;
  }
  return 1;
}

int lower_export(Lower *L, Item *fn) {
  global_find(L, fn->name)->used = 1;
  Func *f = ir_func_new(L->m, fn->name);
  if (!f) return fail(L, fn->loc, "duplicate function '%s'", fn->name);
  Env frame = {0, 0, 0};
  L->env = &frame;
  L->f = f;
  int ok = push_call(L, fn, fn->loc);
  for (int i = 0; ok && i < fn->nparams; i++) {
    const Param *p = fn->params[i];
    Type t;
    if (!type_is_tensor(L, p->type)) { ok = fail(L, p->loc, "an exported function takes tensors only ('%s' is %s)", p->name, p->type->name); break; }
    if (p->dflt) { ok = fail(L, p->dflt->loc, "arguments of an exported function have no defaults"); break; }
    ok = bind_type_symbolic(L, p->type, &t);
    if (!ok) break;
    int id = ir_arg(L->m, f, p->name, t, p->loc);
    if (id < 0) { ok = fail(L, p->loc, "cannot declare argument '%s'", p->name); break; }
    env_set(L, L->env, p->name, val_tensor(id));
  }
  Val ret;
  if (ok) ok = lower_body(L, fn, &ret);
  if (ok) {
    int n = fn->nrets, ids[64];
    if (n > 64) ok = fail(L, fn->loc, "too many results");
    for (int i = 0; ok && i < n; i++) ids[i] = (ret.kind == V_TUPLE ? ret.items[i] : ret).id;
    if (ok) ir_set_outputs(L->m, f, n, ids, NULL);
  }
  if (L->ncalls) L->ncalls--;
  L->env = NULL;
  L->f = NULL;
  return ok;
}

static int has_ellipsis(const Item *fn) {
  for (int i = 0; i < fn->nparams; i++)
    if (fn->params[i]->type->ellipsis) return 1;
  for (int i = 0; i < fn->nrets; i++)
    if (fn->rets[i]->ellipsis) return 1;
  return 0;
}

/* Instantiates fn with its declared types in a scratch module and discards the result. */
static int check_instance(Lower *L, Item *fn) {
  Module *real = L->m, *sm = ir_module_new("check");
  for (int i = 0; i < real->nfiles; i++) ir_file(sm, real->files[i]);
  for (int i = 0; i < real->nsyms; i++) ir_sym(sm, real->syms[i]);
  for (int i = 0; i < real->nparams; i++) {
    const ParamDecl *p = &real->params[i];
    ir_param_add(sm, p->name, p->type, p->init, p->a, p->b, p->loc);
  }
  Func *f = arena_alloc(sm->arena, sizeof *f);
  f->name = fn->name;
  L->m = sm;
  L->f = f;
  Env frame = {0, 0, 0};
  L->env = &frame;
  int ok = push_call(L, fn, fn->loc);
  for (int i = 0; ok && i < fn->nparams; i++) {
    const Param *p = fn->params[i];
    Val v;
    if (is_struct_type(L, p->type)) {
      ok = param_root(L, p->type, NULL, arena_printf(L->arena, "$%s", p->name), p->loc, &v);
    } else {
      Type t;
      ok = bind_type_symbolic(L, p->type, &t);
      int id = ok ? ir_arg(sm, f, p->name, t, p->loc) : -1;
      if (ok && id < 0) ok = fail(L, p->loc, "cannot declare argument '%s'", p->name);
      v = val_tensor(id);
    }
    if (ok) env_set(L, L->env, p->name, v);
  }
  Val ret;
  if (ok) ok = lower_body(L, fn, &ret);
  if (L->ncalls) L->ncalls--;
  L->m = real;
  L->f = NULL;
  L->env = NULL;
  ir_module_free(sm);
  return ok;
}

/* Shape variables become symbols; if that fails (some ops need constant dims, e.g. chunk), the
 * function is tried again with distinct constants, and the first error is reported only if that
 * fails too. */
int check_unused_fn(Lower *L, Item *fn) {
  if (has_ellipsis(fn)) return 1;
  if (check_instance(L, fn)) return 1;
  DlmErr first = L->err;
  memset(&L->err, 0, sizeof L->err);
  L->check_consts = 1;
  int ok = check_instance(L, fn);
  L->check_consts = 0;
  L->err = first;
  return ok;
}
