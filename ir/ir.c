/* ir.c — the op table, element types, symbolic dimensions, and the builder API for modules,
 * functions, parameters and schedule programs. */
#include "ir.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const OpInfo op_info[OP_COUNT] = {
#define OP(E, name, arity, fc, ia, fa, sa, shape, interp, diff) {name, arity, fc, ia, fa, sa, shape, diff},
#include "ops.def"
#undef OP
};

int op_from_name(const char *s, OpKind *out) {
  for (int i = 0; i < OP_COUNT; i++)
    if (strcmp(op_info[i].name, s) == 0) { *out = (OpKind)i; return 1; }
  return 0;
}

const char *fclass_name(FusionClass c) {
  static const char *names[] = {"source", "elemwise", "broadcast", "injective", "reduce", "outfusable", "opaque"};
  return (unsigned)c < sizeof names / sizeof *names ? names[c] : "?";
}

/* ---------------------------------------------------------------- dtypes */
static const char *dtype_names[DT_COUNT] = {"f32", "f64", "bf16", "f16", "i32", "i64", "bool"};
static const size_t dtype_sizes[DT_COUNT] = {4, 8, 2, 2, 4, 8, 1};

const char *dtype_name(DType t) { return (unsigned)t < DT_COUNT ? dtype_names[t] : "?"; }
int dtype_from_name(const char *s, DType *out) {
  for (int i = 0; i < DT_COUNT; i++)
    if (strcmp(dtype_names[i], s) == 0) { *out = (DType)i; return 1; }
  return 0;
}
int dtype_is_float(DType t) { return t == DT_F32 || t == DT_F64 || t == DT_BF16 || t == DT_F16; }
int dtype_is_int(DType t) { return t == DT_I32 || t == DT_I64; }
size_t dtype_size(DType t) { return (unsigned)t < DT_COUNT ? dtype_sizes[t] : 0; }

/* ---------------------------------------------------------------- dims and types */
int dim_eq(Dim a, Dim b) { return a.k == b.k && (a.syms == b.syms || a.k == 0); }
int dim_is_const(Dim d) { return d.syms == 0 || d.k == 0; }

int dim_mul(Dim a, Dim b, Dim *out) {
  if (a.k == 0 || b.k == 0) { *out = dim_const(0); return 1; }
  if (a.syms & b.syms) return 0;
  if (a.k > INT64_MAX / b.k) return 0;
  out->k = a.k * b.k;
  out->syms = a.syms | b.syms;
  return 1;
}

int dim_div(Dim a, Dim b, Dim *out) {
  if (b.k == 0 || (b.syms & ~a.syms) || a.k % b.k) return 0;
  out->k = a.k / b.k;
  out->syms = a.syms & ~b.syms;
  return 1;
}

int64_t dim_eval(Dim d, const int64_t *symval) {
  int64_t v = d.k;
  for (int s = 0; s < DLM_MAX_SYMS; s++)
    if (d.syms & (1u << s)) v *= symval[s];
  return v;
}

int type_eq(const Type *a, const Type *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (!dim_eq(a->dims[i], b->dims[i])) return 0;
  return 1;
}

Type type_scalar(DType t) { Type ty; memset(&ty, 0, sizeof ty); ty.dtype = t; return ty; }

int type_numel_const(const Type *t, int64_t *n) {
  int64_t v = 1;
  for (int i = 0; i < t->rank; i++) {
    if (!dim_is_const(t->dims[i])) return 0;
    int64_t k = t->dims[i].k;
    if (k && v > INT64_MAX / k) return 0; /* too large to count */
    v *= k;
  }
  *n = v;
  return 1;
}

char *dim_str(const Module *m, Dim d, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  if (d.syms == 0 || d.k == 0) { snprintf(buf, n, "%lld", (long long)d.k); return buf; }
  if (d.k != 1) used += (size_t)snprintf(buf + used, n - used, "%lld", (long long)d.k);
  for (int s = 0; s < DLM_MAX_SYMS && used < n; s++)
    if (d.syms & (1u << s)) {
      const char *nm = m && s < m->nsyms ? m->syms[s] : "?";
      used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? "*" : "", nm);
    }
  return buf;
}

char *type_str(const Module *m, const Type *t, char *buf, size_t n) {
  size_t used = (size_t)snprintf(buf, n, "%s", dtype_name(t->dtype));
  if (t->rank == 0) return buf;
  for (int i = 0; i < t->rank && used < n; i++) {
    char d[64];
    used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "," : "[", dim_str(m, t->dims[i], d, sizeof d));
  }
  if (used < n) snprintf(buf + used, n - used, "]");
  return buf;
}

/* ---------------------------------------------------------------- errors */
void err_set(DlmErr *e, SrcLoc loc, const char *fmt, ...) {
  if (!e || e->set) return;
  e->set = 1;
  e->loc = loc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}

/* ---------------------------------------------------------------- growable arrays in the arena */
static void *grow(Arena *a, void *old, int n, int *cap, size_t elem) {
  if (n < *cap) return old;
  int nc = *cap ? *cap * 2 : 8;
  void *p = arena_alloc(a, (size_t)nc * elem);
  if (old) memcpy(p, old, (size_t)n * elem);
  *cap = nc;
  return p;
}

/* ---------------------------------------------------------------- modules */
Module *ir_module_new(const char *name) {
  Arena *a = arena_new();
  Module *m = arena_alloc(a, sizeof *m);
  m->arena = a;
  m->name = arena_strdup(a, name ? name : "module");
  return m;
}

void ir_module_free(Module *m) { if (m) arena_free(m->arena); }

int ir_file(Module *m, const char *path) {
  for (int i = 0; i < m->nfiles; i++)
    if (strcmp(m->files[i], path) == 0) return i;
  if (m->nfiles == (int)(sizeof m->files / sizeof *m->files)) return m->nfiles - 1;
  m->files[m->nfiles] = arena_strdup(m->arena, path);
  return m->nfiles++;
}

int ir_sym_find(const Module *m, const char *name) {
  for (int i = 0; i < m->nsyms; i++)
    if (strcmp(m->syms[i], name) == 0) return i;
  return -1;
}

int ir_sym(Module *m, const char *name) {
  int s = ir_sym_find(m, name);
  if (s >= 0) return s;
  if (m->nsyms == DLM_MAX_SYMS) return -1;
  m->syms[m->nsyms] = arena_strdup(m->arena, name);
  return m->nsyms++;
}

int ir_param_find(const Module *m, const char *name) {
  for (int i = 0; i < m->nparams; i++)
    if (strcmp(m->params[i].name, name) == 0) return i;
  return -1;
}

int ir_param_add(Module *m, const char *name, Type t, InitKind init, double a, double b, SrcLoc loc) {
  if (ir_param_find(m, name) >= 0) return -1;
  m->params = grow(m->arena, m->params, m->nparams, &m->capparams, sizeof *m->params);
  ParamDecl *p = &m->params[m->nparams];
  p->name = arena_strdup(m->arena, name);
  p->type = t;
  p->init = init;
  p->a = a;
  p->b = b;
  p->loc = loc;
  return m->nparams++;
}

Func *ir_func_find(const Module *m, const char *name) {
  int i = ir_func_index(m, name);
  return i < 0 ? NULL : m->funcs[i];
}

int ir_func_index(const Module *m, const char *name) {
  for (int i = 0; i < m->nfuncs; i++)
    if (strcmp(m->funcs[i]->name, name) == 0) return i;
  return -1;
}

Func *ir_func_new(Module *m, const char *name) {
  if (ir_func_find(m, name)) return NULL;
  m->funcs = grow(m->arena, m->funcs, m->nfuncs, &m->capfuncs, sizeof *m->funcs);
  Func *f = arena_alloc(m->arena, sizeof *f);
  f->name = arena_strdup(m->arena, name);
  m->funcs[m->nfuncs++] = f;
  return f;
}

void ir_meta_set(Module *m, const char *key, const char *val) {
  for (int i = 0; i < m->nmeta; i++)
    if (strcmp(m->meta_keys[i], key) == 0) { m->meta_vals[i] = arena_strdup(m->arena, val); return; }
  if (m->nmeta == (int)(sizeof m->meta_keys / sizeof *m->meta_keys)) return;
  m->meta_keys[m->nmeta] = arena_strdup(m->arena, key);
  m->meta_vals[m->nmeta++] = arena_strdup(m->arena, val);
}

const char *ir_meta_get(const Module *m, const char *key) {
  for (int i = 0; i < m->nmeta; i++)
    if (strcmp(m->meta_keys[i], key) == 0) return m->meta_vals[i];
  return NULL;
}

/* ---------------------------------------------------------------- nodes */
Attrs attrs_none(void) { Attrs a; memset(&a, 0, sizeof a); return a; }

int ir_attr_index(OpKind op, const char *name, int *is_float) {
  const char *lists[2] = {op_info[op].iattrs, op_info[op].fattrs};
  size_t len = strlen(name);
  for (int l = 0; l < 2; l++) {
    int idx = 0;
    for (const char *p = lists[l]; *p;) {
      while (*p == ' ') p++;
      if (!*p) break;
      const char *q = p;
      while (*q && *q != ' ') q++;
      const char *nm = *p == '*' ? p + 1 : p;
      if ((size_t)(q - nm) == len && strncmp(nm, name, len) == 0) {
        if (is_float) *is_float = l;
        return idx;
      }
      idx++;
      p = q;
    }
  }
  return -1;
}

int ir_emit(Module *m, Func *f, OpKind op, const Type *given, int nin, const int *in,
            const Attrs *attr, SrcLoc loc, DlmErr *e) {
  const OpInfo *oi = &op_info[op];
  if (oi->arity >= 0 && nin != oi->arity) {
    err_set(e, loc, "%s takes %d input%s, got %d", oi->name, oi->arity, oi->arity == 1 ? "" : "s", nin);
    return -1;
  }
  const Type *intypes[16];
  if (nin > 16) { err_set(e, loc, "%s: too many inputs (%d)", oi->name, nin); return -1; }
  for (int i = 0; i < nin; i++) {
    if (in[i] < 0 || in[i] >= f->nnodes) { err_set(e, loc, "%s: input %d refers to an undefined value", oi->name, i); return -1; }
    intypes[i] = &f->nodes[in[i]].type;
  }
  f->nodes = grow(m->arena, f->nodes, f->nnodes, &f->cap, sizeof *f->nodes);
  Node *n = &f->nodes[f->nnodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->nin = nin;
  n->in = arena_alloc(m->arena, (size_t)(nin ? nin : 1) * sizeof *n->in);
  if (nin) memcpy(n->in, in, (size_t)nin * sizeof *in);
  n->attr = attr ? *attr : attrs_none();
  if (n->attr.s) n->attr.s = arena_strdup(m->arena, n->attr.s);
  n->loc = loc;
  if (given) n->type = *given;
  Type out = n->type;
  if (!oi->shape(m, n, intypes, &out, e)) {
    if (e && !e->set) err_set(e, loc, "%s: invalid operands", oi->name);
    if (e) e->loc = loc;
    return -1;
  }
  if (given && !type_eq(given, &out)) {
    char a[128], b[128];
    err_set(e, loc, "%s: declared type %s does not match computed type %s", oi->name,
            type_str(m, given, a, sizeof a), type_str(m, &out, b, sizeof b));
    return -1;
  }
  n->type = out;
  return f->nnodes++;
}

int ir_arg(Module *m, Func *f, const char *name, Type t, SrcLoc loc) {
  Attrs a = attrs_none();
  a.i[0] = f->nargs;
  a.ni = 1;
  a.s = name;
  int id = ir_emit(m, f, OP_ARG, &t, 0, NULL, &a, loc, NULL);
  if (id >= 0) { f->nargs++; f->nodes[id].name = f->nodes[id].attr.s; }
  return id;
}

void ir_set_outputs(Module *m, Func *f, int n, const int *vals, const char *const *names) {
  f->nout = n;
  f->outs = arena_alloc(m->arena, (size_t)(n ? n : 1) * sizeof *f->outs);
  if (n) memcpy(f->outs, vals, (size_t)n * sizeof *vals);
  f->outnames = NULL;
  if (names) {
    f->outnames = arena_alloc(m->arena, (size_t)(n ? n : 1) * sizeof *f->outnames);
    for (int i = 0; i < n; i++) f->outnames[i] = names[i] ? arena_strdup(m->arena, names[i]) : NULL;
  }
}

/* ---------------------------------------------------------------- schedules */
Sched *ir_sched_new(Module *m, const char *name, SrcLoc loc) {
  m->scheds = grow(m->arena, m->scheds, m->nscheds, &m->capscheds, sizeof *m->scheds);
  Sched *s = arena_alloc(m->arena, sizeof *s);
  s->name = arena_strdup(m->arena, name);
  s->loc = loc;
  m->scheds[m->nscheds++] = s;
  return s;
}

int ir_sched_var(Module *m, Sched *s, const char *name, SchedVarKind k, Type t, double value, SrcLoc loc) {
  s->vars = grow(m->arena, s->vars, s->nvars, &s->capvars, sizeof *s->vars);
  SchedVar *v = &s->vars[s->nvars];
  v->name = arena_strdup(m->arena, name);
  v->kind = k;
  v->type = t;
  v->value = value;
  v->loc = loc;
  return s->nvars++;
}
