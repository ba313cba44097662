/* ast.c — constructors for the DSL syntax tree; every node lives in the compilation's arena. */
#include "ast.h"
#include <string.h>

void vec_push(Arena *a, Vec *vec, void *p) {
  if (vec->n == vec->cap) {
    int nc = vec->cap ? vec->cap * 2 : 4;
    void **nv = arena_alloc(a, (size_t)nc * sizeof *nv);
    if (vec->n) memcpy(nv, vec->v, (size_t)vec->n * sizeof *nv);
    vec->v = nv;
    vec->cap = nc;
  }
  vec->v[vec->n++] = p;
}

Expr *ast_expr(ParseCtx *c, ExprKind k, SrcLoc loc) {
  Expr *e = arena_alloc(c->arena, sizeof *e);
  e->kind = k;
  e->loc = loc;
  return e;
}

Expr *ast_bin(ParseCtx *c, OpX op, Expr *a, Expr *b, SrcLoc loc) {
  Expr *e = ast_expr(c, E_BIN, loc);
  e->op = op;
  e->a = a;
  e->b = b;
  return e;
}

Expr *ast_un(ParseCtx *c, OpX op, Expr *a, SrcLoc loc) {
  Expr *e = ast_expr(c, E_UN, loc);
  e->op = op;
  e->a = a;
  return e;
}

void ast_vec_to(ParseCtx *c, Vec *v, void ***out, int *n) {
  (void)c;
  *out = v->v;
  *n = v->n;
}

const char *opx_text(OpX op) {
  static const char *t[] = {"||", "&&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "**", "-", "!"};
  return (unsigned)op < sizeof t / sizeof *t ? t[op] : "?";
}
