/* parse.c — reads the text form written by ir/print.c (grammar in print.c and docs/ir.md) back
 * into a Module. Nodes are re-emitted through ir_emit, so every type is re-checked by its shape
 * rule; each function and schedule is verified when its closing brace is read. Errors set
 * e->loc.line/col to the position in the text (e->loc.file = 0) and never crash on any input. */
#include "ir.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 256   /* outputs, call arguments/results, schedule statements per block grow past this */
#define MAX_DEPTH 64   /* loop nesting */

typedef enum { T_EOF, T_NL, T_WORD, T_STR, T_PUNCT } TokKind;
typedef struct { TokKind kind; const char *p; int len; int line, col; } Tok;

typedef struct {
  const char *cur, *linestart;
  int line;
  Tok tok;        /* the lookahead token */
  Module *m;
  DlmErr *e;
} P;

static const char punct[] = "=,:{}()[]*!%@";

static int fail(P *p, const Tok *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(P *p, const Tok *t, const char *fmt, ...) {
  if (p->e->set) return 0;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  err_set(p->e, (SrcLoc){0, t->line, t->col}, "%s", msg);
  return 0;
}

/* Scan the next token into p->tok. An unterminated string becomes a T_STR with len -1. */
static void lex(P *p) {
  const char *c = p->cur;
  for (;;) {
    while (*c == ' ' || *c == '\t' || *c == '\r') c++;
    if (*c == '#') { while (*c && *c != '\n') c++; continue; }
    break;
  }
  Tok t = {T_EOF, c, 0, p->line, (int)(c - p->linestart) + 1};
  if (!*c) {
    /* end of text */
  } else if (*c == '\n') {
    t.kind = T_NL;
    t.len = 1;
    c++;
    p->line++;
    p->linestart = c;
  } else if (*c == '"') {
    const char *q = c + 1;
    while (*q && *q != '"' && *q != '\n') q += (q[0] == '\\' && q[1] && q[1] != '\n') ? 2 : 1;
    t.kind = T_STR;
    if (*q == '"') { t.len = (int)(q + 1 - c); c = q + 1; }
    else { t.len = -1; c = q; }
  } else if (strchr(punct, *c)) {
    t.kind = T_PUNCT;
    t.len = 1;
    c++;
  } else {
    const char *q = c;
    while (*q && !strchr(" \t\r\n\"#", *q) && !strchr(punct, *q)) q++;
    t.kind = T_WORD;
    t.len = (int)(q - c);
    c = q;
  }
  p->cur = c;
  p->tok = t;
}

static Tok next(P *p) { Tok t = p->tok; lex(p); return t; }
static int is_punct(const Tok *t, char ch) { return t->kind == T_PUNCT && t->p[0] == ch; }
static int is_word(const Tok *t, const char *w) {
  return t->kind == T_WORD && (size_t)t->len == strlen(w) && strncmp(t->p, w, (size_t)t->len) == 0;
}
static const char *tok_desc(const Tok *t, char *buf, size_t n) {
  switch (t->kind) {
  case T_EOF: return "end of text";
  case T_NL: return "end of line";
  case T_STR: return "a string";
  default: snprintf(buf, n, "'%.*s'", t->len > 40 ? 40 : t->len, t->p); return buf;
  }
}

static int expect_punct(P *p, char ch) {
  Tok t = next(p);
  char b[64];
  if (!is_punct(&t, ch)) return fail(p, &t, "expected '%c', found %s", ch, tok_desc(&t, b, sizeof b));
  return 1;
}

static int expect_word(P *p, const char *w) {
  Tok t = next(p);
  char b[64];
  if (!is_word(&t, w)) return fail(p, &t, "expected '%s', found %s", w, tok_desc(&t, b, sizeof b));
  return 1;
}

static int expect_nl(P *p) {
  Tok t = next(p);
  char b[64];
  if (t.kind != T_NL && t.kind != T_EOF) return fail(p, &t, "expected end of line, found %s", tok_desc(&t, b, sizeof b));
  return 1;
}

static void skip_nls(P *p) { while (p->tok.kind == T_NL) lex(p); }

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A string token decoded into the arena. */
static int get_str(P *p, const char **out) {
  Tok t = next(p);
  char b[64];
  if (t.kind != T_STR) return fail(p, &t, "expected a string, found %s", tok_desc(&t, b, sizeof b));
  if (t.len < 0) return fail(p, &t, "unterminated string");
  char *s = arena_alloc(p->m->arena, (size_t)t.len);
  int n = 0;
  for (int i = 1; i < t.len - 1; i++) {
    char c = t.p[i];
    if (c != '\\') { s[n++] = c; continue; }
    c = t.p[++i];
    if (c == '"' || c == '\\') s[n++] = c;
    else if (c == 'n') s[n++] = '\n';
    else if (c == 't') s[n++] = '\t';
    else if (c == 'x' && i + 2 < t.len - 1 && hexval(t.p[i + 1]) >= 0 && hexval(t.p[i + 2]) >= 0 &&
             (hexval(t.p[i + 1]) | hexval(t.p[i + 2]))) {
      s[n++] = (char)(hexval(t.p[i + 1]) * 16 + hexval(t.p[i + 2]));
      i += 2;
    } else {
      return fail(p, &t, "invalid escape sequence in string");
    }
  }
  s[n] = 0;
  *out = s;
  return 1;
}

/* A name: a bare word or a string. */
static int get_name(P *p, const char **out) {
  if (p->tok.kind == T_STR) return get_str(p, out);
  Tok t = next(p);
  char b[64];
  if (t.kind != T_WORD) return fail(p, &t, "expected a name, found %s", tok_desc(&t, b, sizeof b));
  *out = arena_printf(p->m->arena, "%.*s", t.len, t.p);
  return 1;
}

static int word_int(P *p, const Tok *t, int64_t lo, int64_t hi, int64_t *out) {
  char b[64], buf[32];
  if (t->kind != T_WORD || t->len >= (int)sizeof buf) return fail(p, t, "expected an integer, found %s", tok_desc(t, b, sizeof b));
  memcpy(buf, t->p, (size_t)t->len);
  buf[t->len] = 0;
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (*end || end == buf || errno) return fail(p, t, "expected an integer, found %s", tok_desc(t, b, sizeof b));
  if (v < lo || v > hi) return fail(p, t, "integer %lld is out of range %lld..%lld", v, (long long)lo, (long long)hi);
  *out = v;
  return 1;
}

static int get_int(P *p, int64_t lo, int64_t hi, int64_t *out) {
  Tok t = next(p);
  return word_int(p, &t, lo, hi, out);
}

static int get_float(P *p, double *out) {
  Tok t = next(p);
  char b[64], buf[64];
  if (t.kind != T_WORD || t.len >= (int)sizeof buf) return fail(p, &t, "expected a number, found %s", tok_desc(&t, b, sizeof b));
  memcpy(buf, t.p, (size_t)t.len);
  buf[t.len] = 0;
  char *end;
  *out = strtod(buf, &end);
  if (*end || end == buf) return fail(p, &t, "expected a number, found %s", tok_desc(&t, b, sizeof b));
  return 1;
}

/* %N with 0 <= N < limit. */
static int get_ref(P *p, int limit, const char *what, int *out) {
  Tok t = p->tok;
  int64_t v = 0;
  if (!expect_punct(p, '%') || !get_int(p, 0, INT32_MAX, &v)) return 0;
  if (v >= limit) return fail(p, &t, "%%%lld is not a defined %s", (long long)v, what);
  *out = (int)v;
  return 1;
}

/* Optional !FILE:LINE:COL. */
static int opt_loc(P *p, SrcLoc *loc) {
  memset(loc, 0, sizeof *loc);
  if (!is_punct(&p->tok, '!')) return 1;
  lex(p);
  int64_t f, l, c;
  if (!get_int(p, 0, 31, &f) || !expect_punct(p, ':') || !get_int(p, 1, INT32_MAX, &l) || !expect_punct(p, ':') ||
      !get_int(p, 0, INT32_MAX, &c))
    return 0;
  *loc = (SrcLoc){(int)f, (int)l, (int)c};
  return 1;
}

/* ---------------------------------------------------------------- types */
static int get_dim(P *p, Dim *out) {
  Dim d = dim_const(1);
  for (;;) {
    Tok t = next(p);
    char b[64];
    Dim f;
    if (t.kind != T_WORD) return fail(p, &t, "expected a dimension, found %s", tok_desc(&t, b, sizeof b));
    if (t.p[0] >= '0' && t.p[0] <= '9') {
      int64_t k;
      if (!word_int(p, &t, 0, INT64_MAX, &k)) return 0;
      f = dim_const(k);
    } else {
      int s = -1;
      for (int i = 0; i < p->m->nsyms; i++)
        if (strlen(p->m->syms[i]) == (size_t)t.len && strncmp(p->m->syms[i], t.p, (size_t)t.len) == 0) s = i;
      if (s < 0) return fail(p, &t, "unknown symbol '%.*s'", t.len > 40 ? 40 : t.len, t.p);
      f = dim_sym(s);
    }
    if (!dim_mul(d, f, &d)) return fail(p, &t, "dimension overflows or repeats a symbol");
    if (!is_punct(&p->tok, '*')) break;
    lex(p);
  }
  *out = d;
  return 1;
}

static int get_type(P *p, Type *out) {
  Tok t = next(p);
  char b[64], buf[8];
  memset(out, 0, sizeof *out);
  if (t.kind != T_WORD || t.len >= (int)sizeof buf) return fail(p, &t, "expected a type, found %s", tok_desc(&t, b, sizeof b));
  memcpy(buf, t.p, (size_t)t.len);
  buf[t.len] = 0;
  if (!dtype_from_name(buf, &out->dtype)) return fail(p, &t, "unknown element type '%s'", buf);
  if (!is_punct(&p->tok, '[')) return 1;
  lex(p);
  if (is_punct(&p->tok, ']')) { lex(p); return 1; }
  for (;;) {
    if (out->rank == DLM_MAX_RANK) return fail(p, &p->tok, "more than %d dimensions", DLM_MAX_RANK);
    if (!get_dim(p, &out->dims[out->rank++])) return 0;
    Tok s = next(p);
    if (is_punct(&s, ']')) return 1;
    if (!is_punct(&s, ',')) return fail(p, &s, "expected ',' or ']' in a type, found %s", tok_desc(&s, b, sizeof b));
  }
}

/* ---------------------------------------------------------------- functions */
/* Is integer attribute `slot` of op the list attribute (named "*name" in ops.def)? With slot -1:
 * does the op have a list attribute? *count receives the number of integer attribute names. */
static int list_attr(OpKind op, int slot, int *count) {
  int idx = 0, list = 0;
  for (const char *q = op_info[op].iattrs; *q;) {
    while (*q == ' ') q++;
    if (!*q) break;
    if ((idx == slot || slot < 0) && *q == '*') list = 1;
    idx++;
    while (*q && *q != ' ') q++;
  }
  if (count) *count = idx;
  return list;
}

static int get_attrs(P *p, OpKind op, Attrs *a) {
  unsigned seen = 0;
  lex(p); /* '{' */
  while (!is_punct(&p->tok, '}')) {
    Tok t = next(p);
    char b[64], name[48];
    if (t.kind != T_WORD || t.len >= (int)sizeof name)
      return fail(p, &t, "expected an attribute name, found %s", tok_desc(&t, b, sizeof b));
    memcpy(name, t.p, (size_t)t.len);
    name[t.len] = 0;
    int isf, slot = ir_attr_index(op, name, &isf);
    if (slot < 0) return fail(p, &t, "%s has no attribute '%s'", op_info[op].name, name);
    unsigned bit = 1u << (slot + (isf ? DLM_MAX_IATTR : 0));
    if (seen & bit) return fail(p, &t, "attribute '%s' is given twice", name);
    seen |= bit;
    if (!expect_punct(p, '=')) return 0;
    if (isf) {
      if (!get_float(p, &a->f[slot])) return 0;
    } else if (list_attr(op, slot, NULL)) {
      if (!expect_punct(p, '[')) return 0;
      int n = slot;
      while (!is_punct(&p->tok, ']')) {
        if (n > slot && !expect_punct(p, ',')) return 0;
        if (n == DLM_MAX_IATTR) return fail(p, &p->tok, "attribute '%s' has too many entries", name);
        if (!get_int(p, INT64_MIN, INT64_MAX, &a->i[n++])) return 0;
      }
      lex(p);
      a->ni = n;
    } else {
      if (!get_int(p, INT64_MIN, INT64_MAX, &a->i[slot])) return 0;
      if (a->ni < slot + 1) a->ni = slot + 1;
    }
  }
  lex(p); /* '}' */
  return 1;
}

static int parse_node(P *p, Func *f) {
  Tok start = p->tok;
  int64_t id;
  char b[64], opname[32];
  if (!expect_punct(p, '%') || !get_int(p, 0, INT32_MAX, &id)) return 0;
  if (id != f->nnodes) return fail(p, &start, "expected value %%%d here, found %%%lld", f->nnodes, (long long)id);
  if (!expect_punct(p, '=')) return 0;
  Tok ot = next(p);
  OpKind op;
  if (ot.kind != T_WORD || ot.len >= (int)sizeof opname) return fail(p, &ot, "expected an op name, found %s", tok_desc(&ot, b, sizeof b));
  memcpy(opname, ot.p, (size_t)ot.len);
  opname[ot.len] = 0;
  if (!op_from_name(opname, &op)) return fail(p, &ot, "unknown op '%s'", opname);
  Attrs a = attrs_none();
  if (op_info[op].has_sattr && !get_str(p, &a.s)) return 0;
  int in[16], nin = 0;
  while (is_punct(&p->tok, '%')) {
    if (nin == 16) return fail(p, &p->tok, "too many inputs");
    if (!get_ref(p, f->nnodes, "value", &in[nin++])) return 0;
    if (!is_punct(&p->tok, ',')) break;
    lex(p);
  }
  if (is_punct(&p->tok, '{') && !get_attrs(p, op, &a)) return 0;
  int nint;
  if (!list_attr(op, -1, &nint)) a.ni = nint; /* canonical: every integer slot of the op is in use */
  Type ty;
  if (!expect_punct(p, ':') || !get_type(p, &ty)) return 0;
  const char *name = NULL;
  if (p->tok.kind == T_STR && !get_str(p, &name)) return 0;
  SrcLoc loc;
  if (!opt_loc(p, &loc) || !expect_nl(p)) return 0;
  DlmErr ee = {0};
  int v = ir_emit(p->m, f, op, &ty, nin, in, &a, loc, &ee);
  if (v < 0) return fail(p, &ot, "%s", ee.msg);
  f->nodes[v].name = name;
  if (op == OP_ARG) f->nargs++;
  return 1;
}

static int parse_func(P *p) {
  const char *name;
  Tok ft = p->tok;
  if (!expect_punct(p, '@') || !get_name(p, &name)) return 0;
  Func *f = ir_func_new(p->m, name);
  if (!f) return fail(p, &ft, "function @%s is defined twice", name);
  if (!expect_punct(p, '{') || !expect_nl(p)) return 0;
  for (;;) {
    skip_nls(p);
    if (is_word(&p->tok, "ret")) break;
    if (!is_punct(&p->tok, '%')) {
      char b[64];
      return fail(p, &p->tok, "expected a value definition or 'ret', found %s", tok_desc(&p->tok, b, sizeof b));
    }
    if (!parse_node(p, f)) return 0;
  }
  lex(p);
  int *outs = arena_alloc(p->m->arena, MAX_LIST * sizeof *outs);
  const char **names = arena_alloc(p->m->arena, MAX_LIST * sizeof *names);
  int nout = 0, named = 0;
  while (is_punct(&p->tok, '%')) {
    if (nout == MAX_LIST) return fail(p, &p->tok, "too many outputs");
    if (!get_ref(p, f->nnodes, "value", &outs[nout])) return 0;
    if (p->tok.kind == T_STR) { if (!get_str(p, &names[nout])) return 0; named = 1; }
    nout++;
    if (!is_punct(&p->tok, ',')) break;
    lex(p);
  }
  if (!expect_nl(p)) return 0;
  skip_nls(p);
  Tok close = p->tok;
  if (!expect_punct(p, '}') || !expect_nl(p)) return 0;
  ir_set_outputs(p->m, f, nout, outs, named ? names : NULL);
  DlmErr ve = {0};
  if (!ir_verify_func(p->m, f, &ve)) return fail(p, &close, "%s", ve.msg);
  return 1;
}

/* ---------------------------------------------------------------- schedules */
static const char *const var_kinds[] = {"input", "knob", "state", "loopvar", "cache", "const"};

static int get_var_list(P *p, const Sched *s, int **out, int *n) {
  *out = arena_alloc(p->m->arena, MAX_LIST * sizeof **out);
  *n = 0;
  while (is_punct(&p->tok, '%')) {
    if (*n == MAX_LIST) return fail(p, &p->tok, "too many variables in a list");
    if (!get_ref(p, s->nvars, "variable", &(*out)[(*n)++])) return 0;
    if (!is_punct(&p->tok, ',')) break;
    lex(p);
  }
  return 1;
}

static int parse_block(P *p, Sched *s, int depth, SchedStmt **out, int *nout);

/* `{ word { statements } }`: init or body of a plan. */
static int parse_plan_block(P *p, Sched *s, int depth, const char *word, SchedStmt **out, int *n) {
  skip_nls(p);
  return expect_word(p, word) && expect_punct(p, '{') && expect_nl(p) && parse_block(p, s, depth + 1, out, n) &&
         expect_punct(p, '}') && expect_nl(p);
}

/* After `plan`: "POLICY" exact|approximate block N rows N "NOTE" { kv lines, init {..}, body {..} }. */
static int parse_plan(P *p, Sched *s, int depth, SchedPlan *pl) {
  int64_t block, rows;
  Tok t = p->tok;
  if (!get_str(p, &pl->policy)) return 0;
  t = p->tok;
  if (is_word(&t, "approximate")) pl->approximate = 1;
  else if (!is_word(&t, "exact")) return fail(p, &t, "expected exact or approximate after the plan policy");
  lex(p);
  if (!expect_word(p, "block") || !get_int(p, 0, INT64_MAX, &block) || !expect_word(p, "rows") ||
      !get_int(p, 0, INT64_MAX, &rows) || !get_str(p, &pl->note) || !expect_punct(p, '{') || !expect_nl(p))
    return 0;
  pl->block = block;
  pl->rows = rows;
  int cap = 0;
  for (;;) {
    skip_nls(p);
    if (!is_word(&p->tok, "kv")) break;
    lex(p);
    if (pl->nbufs == cap) {
      cap = cap ? 2 * cap : 8;
      SchedKvBuf *g = arena_alloc(p->m->arena, (size_t)cap * sizeof *g);
      if (pl->nbufs) memcpy(g, pl->bufs, (size_t)pl->nbufs * sizeof *g);
      pl->bufs = g;
    }
    SchedKvBuf *b = &pl->bufs[pl->nbufs++];
    if (!get_ref(p, s->nvars, "variable", &b->var) || !get_str(p, &b->what) || !expect_word(p, "written") ||
        !get_str(p, &b->written) || !expect_word(p, "valid") || !get_str(p, &b->valid) ||
        !expect_word(p, "evicted") || !get_str(p, &b->evicted) || !expect_nl(p))
      return 0;
  }
  if (!parse_plan_block(p, s, depth, "init", &pl->init, &pl->ninit) ||
      !parse_plan_block(p, s, depth, "body", &pl->body, &pl->nbody))
    return 0;
  skip_nls(p);
  return expect_punct(p, '}');
}

static int parse_stmt(P *p, Sched *s, int depth, SchedStmt *st) {
  Tok t = next(p);
  char b[64];
  memset(st, 0, sizeof *st);
  if (is_word(&t, "call")) {
    st->kind = SS_CALL;
    const char *fname;
    Tok ft = p->tok;
    if (!expect_punct(p, '@') || !get_name(p, &fname)) return 0;
    st->func = ir_func_index(p->m, fname);
    if (st->func < 0) return fail(p, &ft, "call of undefined function @%s", fname);
    if (!expect_punct(p, '(') || !get_var_list(p, s, &st->args, &st->nargs) || !expect_punct(p, ')')) return 0;
    if (is_word(&p->tok, "->")) {
      lex(p);
      if (!get_var_list(p, s, &st->res, &st->nres)) return 0;
    }
    if (is_word(&p->tok, "memo")) {
      lex(p);
      st->memo = 1;
    }
    return opt_loc(p, &st->loc) && expect_nl(p);
  }
  if (is_word(&t, "break_if")) {
    st->kind = SS_BREAK_IF;
    st->nargs = 1;
    st->args = arena_alloc(p->m->arena, sizeof *st->args);
    return get_ref(p, s->nvars, "variable", &st->args[0]) && opt_loc(p, &st->loc) && expect_nl(p);
  }
  if (is_word(&t, "window")) {
    st->kind = SS_WINDOW;
    return get_var_list(p, s, &st->args, &st->nargs) && expect_word(p, "->") && get_var_list(p, s, &st->res, &st->nres) &&
           opt_loc(p, &st->loc) && expect_nl(p);
  }
  if (is_word(&t, "loop")) {
    st->kind = SS_LOOP;
    if (depth >= MAX_DEPTH) return fail(p, &t, "loops nest deeper than %d", MAX_DEPTH);
    if (!get_ref(p, s->nvars, "variable", &st->var) || !expect_word(p, "in") || !get_ref(p, s->nvars, "variable", &st->lo) ||
        !expect_punct(p, ',') || !get_ref(p, s->nvars, "variable", &st->hi))
      return 0;
    if (is_word(&p->tok, "cache")) {
      lex(p);
      if (!get_str(p, &st->cache_policy)) return 0;
    }
    if (!opt_loc(p, &st->loc) || !expect_punct(p, '{') || !expect_nl(p)) return 0;
    if (!parse_block(p, s, depth + 1, &st->body, &st->nbody)) return 0;
    if (!expect_punct(p, '}')) return 0;
    if (is_word(&p->tok, "plan")) {
      lex(p);
      st->plan = arena_alloc(p->m->arena, sizeof *st->plan);
      if (!parse_plan(p, s, depth, st->plan)) return 0;
    }
    return expect_nl(p);
  }
  return fail(p, &t, "expected a statement (call, loop, break_if, window), found %s", tok_desc(&t, b, sizeof b));
}

/* Statements up to (not including) the '}' closing a loop, or 'ret' at depth 0. */
static int parse_block(P *p, Sched *s, int depth, SchedStmt **out, int *nout) {
  int cap = 8, n = 0;
  SchedStmt *st = arena_alloc(p->m->arena, (size_t)cap * sizeof *st);
  for (;;) {
    skip_nls(p);
    if (depth == 0 ? is_word(&p->tok, "ret") : is_punct(&p->tok, '}')) break;
    if (p->tok.kind == T_EOF) return fail(p, &p->tok, "unexpected end of text in a schedule");
    if (n == cap) {
      SchedStmt *g = arena_alloc(p->m->arena, (size_t)cap * 2 * sizeof *g);
      memcpy(g, st, (size_t)n * sizeof *st);
      st = g;
      cap *= 2;
    }
    if (!parse_stmt(p, s, depth, &st[n++])) return 0;
  }
  *out = st;
  *nout = n;
  return 1;
}

static int parse_var(P *p, Sched *s) {
  Tok t = p->tok;
  int64_t id;
  const char *name, *kind = NULL;
  if (!expect_punct(p, '%') || !get_int(p, 0, INT32_MAX, &id)) return 0;
  if (id != s->nvars) return fail(p, &t, "expected variable %%%d here, found %%%lld", s->nvars, (long long)id);
  if (!get_name(p, &name)) return 0;
  Tok kt = p->tok;
  if (!get_name(p, &kind)) return 0;
  int k = -1;
  for (int i = 0; i <= SV_CONST; i++)
    if (strcmp(kind, var_kinds[i]) == 0) k = i;
  if (k < 0) return fail(p, &kt, "unknown variable kind '%s'", kind);
  Type ty;
  double value = 0;
  if (!get_type(p, &ty)) return 0;
  if (k == SV_KNOB || k == SV_CONST) {
    if (!expect_punct(p, '=') || !get_float(p, &value)) return 0;
  }
  SrcLoc loc;
  if (!opt_loc(p, &loc) || !expect_nl(p)) return 0;
  ir_sched_var(p->m, s, name, (SchedVarKind)k, ty, value, loc);
  return 1;
}

static int parse_sched(P *p) {
  const char *name;
  SrcLoc loc;
  if (!expect_punct(p, '@') || !get_name(p, &name) || !opt_loc(p, &loc) || !expect_punct(p, '{') || !expect_nl(p)) return 0;
  Sched *s = ir_sched_new(p->m, name, loc);
  for (;;) {
    skip_nls(p);
    if (!is_word(&p->tok, "var")) break;
    lex(p);
    if (!parse_var(p, s)) return 0;
  }
  if (!parse_block(p, s, 0, &s->body, &s->nbody)) return 0;
  lex(p); /* ret */
  if (!get_var_list(p, s, &s->outs, &s->nout) || !expect_nl(p)) return 0;
  skip_nls(p);
  Tok close = p->tok;
  if (!expect_punct(p, '}') || !expect_nl(p)) return 0;
  DlmErr ve = {0};
  if (!ir_verify_sched(p->m, s, &ve)) return fail(p, &close, "%s", ve.msg);
  return 1;
}

/* ---------------------------------------------------------------- module */
static int parse_decl(P *p) {
  Tok t = next(p);
  char b[64];
  Module *m = p->m;
  if (is_word(&t, "file")) {
    int64_t idx;
    const char *path;
    Tok it = p->tok;
    if (!get_int(p, 0, 31, &idx) || !get_str(p, &path) || !expect_nl(p)) return 0;
    if (idx != m->nfiles) return fail(p, &it, "expected file %d here", m->nfiles);
    if (ir_file(m, path) != idx) return fail(p, &it, "file \"%s\" is listed twice", path);
    return 1;
  }
  if (is_word(&t, "sym")) {
    const char *name;
    Tok nt = p->tok;
    if (!get_name(p, &name) || !expect_nl(p)) return 0;
    if (ir_sym_find(m, name) >= 0) return fail(p, &nt, "symbol %s is declared twice", name);
    if (ir_sym(m, name) < 0) return fail(p, &nt, "more than %d symbols", DLM_MAX_SYMS);
    return 1;
  }
  if (is_word(&t, "meta")) {
    const char *k, *v;
    if (!get_str(p, &k) || !get_str(p, &v) || !expect_nl(p)) return 0;
    if (!ir_meta_get(m, k) && m->nmeta == (int)(sizeof m->meta_keys / sizeof *m->meta_keys))
      return fail(p, &t, "too many meta entries");
    ir_meta_set(m, k, v);
    return 1;
  }
  if (is_word(&t, "param")) {
    const char *name, *kind;
    Type ty;
    double a = 0, bb = 0;
    Tok tt = p->tok;
    if (!get_str(p, &name)) return 0;
    tt = p->tok;
    if (!get_type(p, &ty)) return 0;
    for (int d = 0; d < ty.rank; d++)
      if (!dim_is_const(ty.dims[d])) return fail(p, &tt, "a parameter needs a constant shape");
    if (!expect_word(p, "init")) return 0;
    Tok kt = p->tok;
    if (!get_name(p, &kind)) return 0;
    static const char *const inits[] = {"none", "zeros", "ones", "normal", "uniform"};
    int k = -1;
    for (int i = 0; i <= INIT_UNIFORM; i++)
      if (strcmp(kind, inits[i]) == 0) k = i;
    if (k < 0) return fail(p, &kt, "unknown init kind '%s'", kind);
    if ((k == INIT_NORMAL || k == INIT_UNIFORM) && (!get_float(p, &a) || !get_float(p, &bb))) return 0;
    SrcLoc loc;
    if (!opt_loc(p, &loc) || !expect_nl(p)) return 0;
    if (ir_param_add(m, name, ty, (InitKind)k, a, bb, loc) < 0) return fail(p, &t, "parameter \"%s\" is declared twice", name);
    return 1;
  }
  if (is_word(&t, "func")) return parse_func(p);
  if (is_word(&t, "sched")) return parse_sched(p);
  return fail(p, &t, "expected a declaration (file, sym, meta, param, func, sched), found %s", tok_desc(&t, b, sizeof b));
}

Module *ir_parse(const char *text, const char *filename, DlmErr *e) {
  DlmErr local = {0};
  if (!e) e = &local;
  P p = {text, text, 1, {T_EOF, text, 0, 1, 1}, NULL, e};
  lex(&p);
  skip_nls(&p);
  const char *name;
  Tok mt = p.tok;
  if (!is_word(&mt, "module")) {
    char b[64];
    fail(&p, &mt, "expected 'module', found %s", tok_desc(&mt, b, sizeof b));
    return NULL;
  }
  lex(&p);
  p.m = ir_module_new("");
  int ok = get_name(&p, &name) && expect_nl(&p);
  if (ok) p.m->name = name;
  while (ok) {
    skip_nls(&p);
    if (p.tok.kind == T_EOF) break;
    ok = parse_decl(&p);
  }
  if (ok) {
    DlmErr ve = {0};
    if (!ir_verify(p.m, &ve)) ok = fail(&p, &p.tok, "%s", ve.msg);
  }
  if (!ok) { ir_module_free(p.m); return NULL; }
  return p.m;
}
