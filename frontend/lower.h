/* lower.h — internal interface of the DSL checker/lowerer: values, environments, the lowering
 * context, and the functions each frontend/lower_*.c and sema_*.c file provides. */
#ifndef DLM_LOWER_H
#define DLM_LOWER_H
#include "ast.h"
#include "frontend.h"

/* A value during lowering: compile-time numbers and dims, graph values, parameter paths, tuples. */
typedef enum {
  V_NONE, V_NUM, V_DIM, V_TENSOR, V_PARAM, V_PARAMARR, V_TUPLE, V_LIST, V_DTYPE, V_SCHED
} VKind;

typedef struct Val {
  VKind kind;
  int is_int, is_bool;     /* V_NUM */
  int64_t ival; double num;/* V_NUM (num is set for ints too) */
  Dim dim;                 /* V_DIM (a symbolic monomial) */
  int id;                  /* V_TENSOR node id; V_SCHED variable id */
  const Item *st;          /* V_PARAM/V_PARAMARR: struct item (NULL: a single tensor parameter) */
  const char *path;        /* V_PARAM/V_PARAMARR checkpoint path */
  int64_t count;           /* V_PARAMARR length */
  struct Val *items; int nitems; /* V_TUPLE, V_LIST */
  DType dtype;             /* V_DTYPE */
} Val;

typedef struct { const char *name; Val v; } Binding;

/* One function frame: local bindings (variables, shape variables, "..." prefix). */
typedef struct Env {
  Binding *b; int n, cap;
} Env;

typedef struct Global { const char *name; Item *item; Val val; int has_val; int used; } Global;

typedef struct SegCtx SegCtx;   /* lower_sampler.c: a graph being built from sampler statements */

typedef struct Lower {
  Module *m;               /* module receiving params, symbols, functions (scratch during checks) */
  Arena *arena;            /* compilation arena (AST and scratch) */
  DlmErr err;
  Global *globals; int nglobals, capglobals;
  Func *f;                 /* function being emitted, or NULL (compile-time context) */
  Env *env;                /* current frame */
  const Item *calls[64]; int ncalls; /* inlining stack */
  int depth;               /* expression recursion depth */
  int stream;              /* next rand_uniform stream */
  SegCtx *seg;             /* sampler segment, or NULL */
  long work;               /* statements lowered (bounds unrolling) */
  int check_consts;        /* >0: unbound shape variables get distinct constants, not symbols */
} Lower;

#define LOWER_MAX_DEPTH 400
#define LOWER_MAX_INLINE 48
#define LOWER_MAX_UNROLL 100000
#define LOWER_MAX_WORK 2000000
#define LOWER_MAX_NODES 4000000
#define LOWER_MAX_PARAMS 20000

/* ---- values and environments (lower_expr.c) */
Val val_num(double d);
Val val_int(int64_t i);
Val val_bool(int b);
Val val_tensor(int id);
Val val_dimv(Dim d);              /* V_NUM when constant, V_DIM otherwise */
int env_get(Env *env, const char *name, Val *out);
void env_set(Lower *L, Env *env, const char *name, Val v);
Global *global_find(Lower *L, const char *name);
const Type *val_type(Lower *L, Val v);      /* type of a V_TENSOR */
const char *val_str(Lower *L, Val v, char *buf, size_t n); /* for messages */
int fail(Lower *L, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4))); /* returns 0 */

/* ---- expressions (lower_expr.c) */
int lower_expr(Lower *L, const Expr *e, Val *out);
int lower_name(Lower *L, const Expr *e, Val *out);
int need_tensor_ctx(Lower *L, SrcLoc loc);
int emit(Lower *L, OpKind op, const Type *given, int nin, const int *in, const Attrs *a, SrcLoc loc); /* -1 on error */
int materialize(Lower *L, Val v, DType dt, SrcLoc loc);  /* node id for a number or tensor; -1 on error */
int binary_op(Lower *L, OpX op, Val a, Val b, SrcLoc loc, Val *out);
int ct_int(Lower *L, const Expr *e, int64_t *out);        /* compile-time integer */
int ct_num(Lower *L, const Expr *e, double *out);         /* compile-time number */
int ct_dim(Lower *L, const Expr *e, Dim *out);            /* compile-time dimension */
int val_to_dim(Lower *L, Val v, SrcLoc loc, Dim *out);
DType default_dtype(Val v);

/* ---- indexing (lower_index.c) */
int lower_index(Lower *L, const Expr *e, Val *out);
int norm_axis(Lower *L, int64_t axis, int rank, SrcLoc loc, int *out);

/* ---- builtins (lower_builtin.c, lower_builtin2.c) */
int is_builtin(const char *name);
int lower_builtin(Lower *L, const Expr *e, Val *out);
/* Map call arguments to named slots: names[i] (nreq required). Fills slots (NULL = absent). */
int call_slots(Lower *L, const Expr *e, const char *const *names, int nnames, int nreq, const Expr **slots);
int lower_builtin_shape(Lower *L, const Expr *e, Val *out); /* layout and creation builtins */

/* ---- types (lower_types.c) */
int type_is_tensor(Lower *L, const TypeExpr *t);     /* dtype name (not a struct) */
int eval_type(Lower *L, const TypeExpr *t, Type *out);   /* all dims known in the current env */
int check_type(Lower *L, const TypeExpr *t, Val v, SrcLoc loc, const char *what);
int bind_type(Lower *L, const TypeExpr *t, Val actual, SrcLoc loc, const char *what); /* unify shape vars */
int bind_type_symbolic(Lower *L, const TypeExpr *t, Type *out);  /* unbound names become module symbols */

/* ---- functions and statements (lower_fn.c) */
int lower_call_fn(Lower *L, const Expr *e, Item *fn, Val *out);
int lower_stmts(Lower *L, Stmt *const *body, int n, int top, Val *ret, int *returned);
int lower_assign(Lower *L, const Stmt *s);
int lower_export(Lower *L, Item *fn);
int check_unused_fn(Lower *L, Item *fn);

/* ---- structs and parameters (lower_struct.c) */
int declare_param_root(Lower *L, Item *it);
int param_root(Lower *L, const TypeExpr *t, const Expr *init, const char *prefix, SrcLoc loc, Val *out); /* instantiate + value */
int param_field(Lower *L, Val base, const char *field, SrcLoc loc, Val *out);
int param_index(Lower *L, Val base, int64_t k, SrcLoc loc, Val *out);
int instantiate_struct(Lower *L, const Item *st, const char *prefix, int depth, SrcLoc loc);
int param_value(Lower *L, Val v, SrcLoc loc, Val *out); /* V_PARAM of a single tensor -> OP_PARAM */

/* ---- masks and attention (lower_mask.c) */
int lower_attention(Lower *L, const Expr *e, Val *out);

/* ---- samplers (lower_sampler.c) */
int lower_sampler(Lower *L, Item *it);
int seg_arg(Lower *L, int var, SrcLoc loc, Val *out);  /* a schedule variable read inside a graph */

/* ---- consts and the module (sema_const.c) */
int sema_consts(Lower *L, const DslDefine *defs, int ndefs);

#endif
