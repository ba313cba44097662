/* print.c — the line-oriented text form of a module (QBE style): deterministic, easy to diff, and
 * read back exactly by ir/parse.c, so that print(parse(print(M))) == print(M) byte for byte.
 * The grammar (full description in docs/ir.md):
 *
 *   module NAME
 *   file 0 "models/mdlm.dsl"                       source files, indexed by SrcLoc.file
 *   sym B                                          symbolic dims, in index order
 *   meta "key" "value"
 *   param "name" f32[768] init ones !0:3:1         init: none zeros ones | normal A B | uniform A B
 *   func @denoise {
 *     %0 = arg "z" {index=0} : i32[B,1024] "z" !0:5:14
 *     %2 = param "emb" : f32[50258,768]
 *     %3 = gather %2, %0 : f32[B,1024,768] "h" !0:12:7
 *     %9 = reduce_max %8 {axis=-1 keepdim=0} : f32[B,1024]
 *     %4 = transpose %3 {perm=[1,0,2]} : f32[1024,B,768]
 *     ret %9 "logits", %4
 *   }
 *   sched @sample !0:40:1 {
 *     var %0 x state i32[B,1024]                  kinds: input knob state loopvar cache const
 *     var %1 steps knob i64 = 1000                 knob and const carry "= value"
 *     loop %2 in %3, %1 cache "exact" !0:42:3 {
 *       call @denoise(%0, %2) -> %0 !0:43:5
 *       break_if %4
 *     }
 *     ret %0
 *   }
 * A KV-cache plan follows its loop's `}` (print_plan); a window plan's body holds
 * `window %lo, %hi, %next -> %rows, %next` (SS_WINDOW).
 *
 * A node line is: %ID = OP [STRING] [%IN, ...] [{ATTRS}] : TYPE ["node name"] [!FILE:LINE:COL].
 * Every named attribute of the op is printed, in ops.def order; list attributes as [a,b,...].
 * Node ids are the node indices; schedule variable ids are the variable indices. Scalars print
 * as the bare dtype (f32); a dim prints as k*S*T with the coefficient left out when it is 1.
 * Floats print with the fewest of 15..17 significant digits that read back to the same double
 * (inf, -inf and nan as such). Strings are double-quoted with \" \\ \n \t and \xHH escapes. Names
 * (module, functions, schedules, symbols, variables) print bare when they are identifiers
 * ([A-Za-z_][A-Za-z0-9_.]*) and as strings otherwise. Source locations print when line > 0. */
#include "ir.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void print_str(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", out);
    else if (*p == '\t') fputs("\\t", out);
    else if (*p < 0x20 || *p >= 0x7f) fprintf(out, "\\x%02x", *p);
    else fputc(*p, out);
  }
  fputc('"', out);
}

static int is_ident(const char *s) {
  if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return 0;
  for (const char *p = s + 1; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.')) return 0;
  return 1;
}

static void print_name(FILE *out, const char *s) {
  if (is_ident(s)) fputs(s, out);
  else print_str(out, s ? s : "");
}

static void print_float(FILE *out, double v) {
  char buf[64];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (v != v || strtod(buf, NULL) == v) break;
  }
  fputs(buf, out);
}

static void print_dim(const Module *m, Dim d, FILE *out) {
  if (d.syms == 0 || d.k == 0) { fprintf(out, "%lld", (long long)d.k); return; }
  int first = 1;
  if (d.k != 1) { fprintf(out, "%lld", (long long)d.k); first = 0; }
  for (int s = 0; s < DLM_MAX_SYMS; s++)
    if (d.syms & (1u << s)) {
      if (!first) fputc('*', out);
      fputs(s < m->nsyms ? m->syms[s] : "?", out);
      first = 0;
    }
}

static void print_type(const Module *m, const Type *t, FILE *out) {
  fputs(dtype_name(t->dtype), out);
  if (t->rank == 0) return;
  for (int i = 0; i < t->rank; i++) {
    fputc(i ? ',' : '[', out);
    print_dim(m, t->dims[i], out);
  }
  fputc(']', out);
}

static void print_loc(SrcLoc l, FILE *out) {
  if (l.line > 0) fprintf(out, " !%d:%d:%d", l.file, l.line, l.col);
}

/* The op's attributes as {name=value ...}; nothing when the op has none. */
static void print_attrs(const Node *n, FILE *out) {
  const OpInfo *oi = &op_info[n->op];
  const char *lists[2] = {oi->iattrs, oi->fattrs};
  int any = 0;
  for (int l = 0; l < 2; l++) {
    int slot = 0;
    for (const char *p = lists[l]; *p;) {
      while (*p == ' ') p++;
      if (!*p) break;
      const char *q = p;
      while (*q && *q != ' ') q++;
      int list = *p == '*';
      const char *nm = list ? p + 1 : p;
      fprintf(out, "%s%.*s=", any ? " " : " {", (int)(q - nm), nm);
      any = 1;
      if (l == 1) print_float(out, n->attr.f[slot]);
      else if (!list) fprintf(out, "%lld", (long long)n->attr.i[slot]);
      else {
        fputc('[', out);
        for (int i = slot; i < n->attr.ni && i < DLM_MAX_IATTR; i++) fprintf(out, "%s%lld", i > slot ? "," : "", (long long)n->attr.i[i]);
        fputc(']', out);
      }
      slot++;
      p = q;
    }
  }
  if (any) fputc('}', out);
}

static void print_node(const Module *m, const Func *f, int id, FILE *out) {
  const Node *n = &f->nodes[id];
  fprintf(out, "  %%%d = %s", id, op_info[n->op].name);
  if (n->attr.s) { fputc(' ', out); print_str(out, n->attr.s); }
  for (int j = 0; j < n->nin; j++) fprintf(out, "%s%%%d", j ? ", " : " ", n->in[j]);
  print_attrs(n, out);
  fputs(" : ", out);
  print_type(m, &n->type, out);
  if (n->name) { fputc(' ', out); print_str(out, n->name); }
  print_loc(n->loc, out);
  fputc('\n', out);
}

void ir_print_func(const Module *m, const Func *f, FILE *out) {
  fputs("func @", out);
  print_name(out, f->name);
  fputs(" {\n", out);
  for (int i = 0; i < f->nnodes; i++) print_node(m, f, i, out);
  fputs("  ret", out);
  for (int i = 0; i < f->nout; i++) {
    fprintf(out, "%s%%%d", i ? ", " : " ", f->outs[i]);
    if (f->outnames && f->outnames[i]) { fputc(' ', out); print_str(out, f->outnames[i]); }
  }
  fputs("\n}\n", out);
}

/* ---------------------------------------------------------------- schedules */
static const char *const var_kind_names[] = {"input", "knob", "state", "loopvar", "cache", "const"};

static void print_var_list(FILE *out, const int *ids, int n) {
  for (int i = 0; i < n; i++) fprintf(out, "%s%%%d", i ? ", " : "", ids[i]);
}

static void print_stmts(const Module *m, const SchedStmt *st, int n, int depth, FILE *out);

/* ` plan "exact" exact block 8 rows 32 "note" {`, the buffers, `init {...}`, `body {...}`, `}`. */
static void print_plan(const Module *m, const SchedPlan *pl, int depth, FILE *out) {
  fputs(" plan ", out);
  print_str(out, pl->policy);
  fprintf(out, " %s block %lld rows %lld ", pl->approximate ? "approximate" : "exact", (long long)pl->block, (long long)pl->rows);
  print_str(out, pl->note ? pl->note : "");
  fputs(" {\n", out);
  for (int i = 0; i < pl->nbufs; i++) {
    const SchedKvBuf *b = &pl->bufs[i];
    fprintf(out, "%*skv %%%d ", 2 * depth + 2, "", b->var);
    print_str(out, b->what);
    fputs(" written ", out);
    print_str(out, b->written);
    fputs(" valid ", out);
    print_str(out, b->valid);
    fputs(" evicted ", out);
    print_str(out, b->evicted);
    fputc('\n', out);
  }
  fprintf(out, "%*sinit {\n", 2 * depth + 2, "");
  print_stmts(m, pl->init, pl->ninit, depth + 2, out);
  fprintf(out, "%*s}\n%*sbody {\n", 2 * depth + 2, "", 2 * depth + 2, "");
  print_stmts(m, pl->body, pl->nbody, depth + 2, out);
  fprintf(out, "%*s}\n%*s}", 2 * depth + 2, "", 2 * depth, "");
}

static void print_stmts(const Module *m, const SchedStmt *st, int n, int depth, FILE *out) {
  for (int i = 0; i < n; i++, st++) {
    fprintf(out, "%*s", 2 * depth, "");
    switch (st->kind) {
    case SS_CALL:
      fputs("call @", out);
      print_name(out, st->func >= 0 && st->func < m->nfuncs ? m->funcs[st->func]->name : "?");
      fputc('(', out);
      print_var_list(out, st->args, st->nargs);
      fputc(')', out);
      if (st->nres) { fputs(" -> ", out); print_var_list(out, st->res, st->nres); }
      if (st->memo) fputs(" memo", out);
      print_loc(st->loc, out);
      fputc('\n', out);
      break;
    case SS_LOOP:
      fprintf(out, "loop %%%d in %%%d, %%%d", st->var, st->lo, st->hi);
      if (st->cache_policy) { fputs(" cache ", out); print_str(out, st->cache_policy); }
      print_loc(st->loc, out);
      fputs(" {\n", out);
      print_stmts(m, st->body, st->nbody, depth + 1, out);
      fprintf(out, "%*s}", 2 * depth, "");
      if (st->plan) print_plan(m, st->plan, depth, out);
      fputc('\n', out);
      break;
    case SS_BREAK_IF:
      fprintf(out, "break_if %%%d", st->nargs > 0 ? st->args[0] : -1);
      print_loc(st->loc, out);
      fputc('\n', out);
      break;
    case SS_WINDOW:
      fputs("window ", out);
      print_var_list(out, st->args, st->nargs);
      fputs(" -> ", out);
      print_var_list(out, st->res, st->nres);
      print_loc(st->loc, out);
      fputc('\n', out);
      break;
    }
  }
}

static void print_sched(const Module *m, const Sched *s, FILE *out) {
  fputs("sched @", out);
  print_name(out, s->name);
  print_loc(s->loc, out);
  fputs(" {\n", out);
  for (int i = 0; i < s->nvars; i++) {
    const SchedVar *v = &s->vars[i];
    fprintf(out, "  var %%%d ", i);
    print_name(out, v->name);
    fprintf(out, " %s ", (unsigned)v->kind <= SV_CONST ? var_kind_names[v->kind] : "?");
    print_type(m, &v->type, out);
    if (v->kind == SV_KNOB || v->kind == SV_CONST) { fputs(" = ", out); print_float(out, v->value); }
    print_loc(v->loc, out);
    fputc('\n', out);
  }
  print_stmts(m, s->body, s->nbody, 1, out);
  fputs("  ret", out);
  if (s->nout) fputc(' ', out);
  print_var_list(out, s->outs, s->nout);
  fputs("\n}\n", out);
}

/* ---------------------------------------------------------------- module */
static const char *const init_names[] = {"none", "zeros", "ones", "normal", "uniform"};

void ir_print(const Module *m, FILE *out) {
  fputs("module ", out);
  print_name(out, m->name);
  fputc('\n', out);
  for (int i = 0; i < m->nfiles; i++) { fprintf(out, "file %d ", i); print_str(out, m->files[i]); fputc('\n', out); }
  for (int i = 0; i < m->nsyms; i++) { fputs("sym ", out); print_name(out, m->syms[i]); fputc('\n', out); }
  for (int i = 0; i < m->nmeta; i++) {
    fputs("meta ", out);
    print_str(out, m->meta_keys[i]);
    fputc(' ', out);
    print_str(out, m->meta_vals[i]);
    fputc('\n', out);
  }
  for (int i = 0; i < m->nparams; i++) {
    const ParamDecl *p = &m->params[i];
    fputs("param ", out);
    print_str(out, p->name);
    fputc(' ', out);
    print_type(m, &p->type, out);
    fprintf(out, " init %s", (unsigned)p->init <= INIT_UNIFORM ? init_names[p->init] : "?");
    if (p->init == INIT_NORMAL || p->init == INIT_UNIFORM) {
      fputc(' ', out);
      print_float(out, p->a);
      fputc(' ', out);
      print_float(out, p->b);
    }
    print_loc(p->loc, out);
    fputc('\n', out);
  }
  for (int i = 0; i < m->nfuncs; i++) ir_print_func(m, m->funcs[i], out);
  for (int i = 0; i < m->nscheds; i++) print_sched(m, m->scheds[i], out);
}
