/* ast.h — the DSL's abstract syntax tree (built by parser.y, allocated in a per-compilation arena)
 * and the parse context shared by the reentrant scanner and parser. */
#ifndef DLM_AST_H
#define DLM_AST_H
#include "ir.h"

/* A growable array of pointers in the arena. */
typedef struct { void **v; int n, cap; } Vec;
void vec_push(Arena *a, Vec *vec, void *p);

typedef enum {
  E_NUM, E_NAME, E_BOOL, E_BIN, E_UN, E_CALL, E_FIELD, E_INDEX, E_LIST,
  E_RANGE,      /* a:b inside an index (a or b may be NULL) */
  E_ELLIPSIS,   /* ... inside an index */
} ExprKind;

typedef enum {
  OPX_OR, OPX_AND, OPX_EQ, OPX_NE, OPX_LT, OPX_LE, OPX_GT, OPX_GE,
  OPX_ADD, OPX_SUB, OPX_MUL, OPX_DIV, OPX_MOD, OPX_POW, OPX_NEG, OPX_NOT
} OpX;

typedef struct Expr {
  ExprKind kind;
  SrcLoc loc;
  OpX op;                 /* E_BIN, E_UN */
  int is_int;             /* E_NUM: an integer literal (value in ival) */
  int64_t ival;
  double num;             /* E_NUM value (also for integers); E_BOOL: 0/1 */
  const char *name;       /* E_NAME, E_CALL callee, E_FIELD field */
  struct Expr *a, *b;     /* operands; E_FIELD/E_INDEX base in a; E_RANGE bounds */
  struct Expr **args;     /* E_CALL arguments, E_LIST items, E_INDEX items */
  const char **argnames;  /* E_CALL: keyword name per argument, or NULL */
  int nargs;
} Expr;

typedef struct TypeExpr {
  SrcLoc loc;
  const char *name;       /* dtype name or struct name */
  int has_dims;           /* written with [...] */
  int ellipsis;           /* leading ... */
  Expr **dims; int ndims;
} TypeExpr;

typedef enum { S_ASSIGN, S_RETURN, S_FOR, S_LOOP, S_STATE, S_BREAK_IF } StmtKind;

typedef struct Stmt {
  StmtKind kind;
  SrcLoc loc;
  const char **names; SrcLoc *nlocs; int nnames; /* S_ASSIGN targets, S_STATE name */
  TypeExpr *type;         /* S_ASSIGN annotation (one target), S_STATE type */
  Expr *value;            /* S_ASSIGN/S_STATE value, S_BREAK_IF condition */
  Expr **values; int nvalues; /* S_RETURN */
  const char *var;        /* S_FOR/S_LOOP variable */
  Expr *lo, *hi;
  const char *cache; SrcLoc cache_loc; /* S_LOOP cache(policy) */
  int memo;               /* S_ASSIGN `x = memo e` (samplers only) */
  struct Stmt **body; int nbody;
} Stmt;

typedef struct Param {
  SrcLoc loc;
  const char *name;
  TypeExpr *type;         /* NULL for untyped mask parameters */
  Expr *dflt;             /* sampler knob default */
} Param;

typedef struct Field {
  SrcLoc loc;
  const char *name;
  TypeExpr *type;
  Expr *init;             /* NULL = zeros */
  const char *ckpt;       /* NULL = field name */
} Field;

typedef enum { I_IMPORT, I_CONST, I_DIM, I_STRUCT, I_PARAM, I_FN, I_MASK, I_SAMPLER } ItemKind;

typedef struct Item {
  ItemKind kind;
  SrcLoc loc;
  const char *name;       /* I_IMPORT: the path string */
  int exported;
  Expr *value;            /* I_CONST value, I_MASK body, I_PARAM initializer */
  Param **params; int nparams;  /* fn args, sampler knobs, mask index names (2) */
  Param **extra; int nextra;    /* mask parameters after ';' */
  TypeExpr **rets; int nrets;   /* fn/sampler results */
  Stmt **body; int nbody;
  Field **fields; int nfields;
  TypeExpr *type;         /* I_PARAM */
  const char *ckpt;       /* I_PARAM checkpoint prefix */
} Item;

/* Parse context: one per source file. */
typedef struct ParseCtx {
  Arena *arena;
  int file;               /* index in the compilation's file table (= Module.files) */
  Vec items;              /* Item* */
  DlmErr err;             /* first error (lexer or parser) */
  int depth;              /* bracket nesting, bounded by the scanner */
  SrcLoc comment;         /* where the open block comment started */
} ParseCtx;

#define DSL_MAX_NESTING 200

/* Parses text (len bytes, may contain NULs) into ctx->items. Returns 1 on success, else 0 with ctx->err. */
int dsl_parse(ParseCtx *ctx, const char *text, size_t len);

/* AST constructors (ast.c) */
Expr *ast_expr(ParseCtx *c, ExprKind k, SrcLoc loc);
Expr *ast_bin(ParseCtx *c, OpX op, Expr *a, Expr *b, SrcLoc loc);
Expr *ast_un(ParseCtx *c, OpX op, Expr *a, SrcLoc loc);
void ast_vec_to(ParseCtx *c, Vec *v, void ***out, int *n);
const char *opx_text(OpX op);

#endif
