/* ir.h — the graph IR: element types, symbolic shapes, nodes, functions, the schedule program and
 * the module that holds them; plus the prototypes of every ir/ file (one banner per file).
 *
 * A Module owns an arena; everything reachable from it (names, node arrays, schedule statements)
 * lives there and is freed at once by ir_module_free. A Func is a pure dataflow graph in SSA form:
 * fn->nodes[i] defines value %i, nodes are in topological order (inputs have smaller ids), and each
 * node has exactly one result. Multi-result DSL constructs (chunk, tuples) lower to several nodes.
 * The schedule program (Sched) is the host-side structure around the graphs: loops over steps and
 * blocks, calls of graph functions, state variables, caches.
 */
#ifndef DLM_IR_H
#define DLM_IR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- element types */
typedef enum { DT_F32, DT_F64, DT_BF16, DT_F16, DT_I32, DT_I64, DT_BOOL, DT_COUNT } DType;

const char *dtype_name(DType t);            /* "f32", ... */
int dtype_from_name(const char *s, DType *out); /* 1 on success */
int dtype_is_float(DType t);
int dtype_is_int(DType t);                  /* i32, i64 (not bool) */
size_t dtype_size(DType t);                 /* bytes per element in memory */

/* ---------------------------------------------------------------- symbolic dimensions
 * A dimension is a monomial k * prod(symbols in mask): 1024, B, 2*L, B*L. Symbols are module-level
 * (Module.syms), at most DLM_MAX_SYMS, each with power 0 or 1. k >= 0. */
#define DLM_MAX_RANK 6
#define DLM_MAX_SYMS 16
typedef struct { int64_t k; uint32_t syms; } Dim;

static inline Dim dim_const(int64_t k) { Dim d = {k, 0}; return d; }
static inline Dim dim_sym(int s) { Dim d = {1, 1u << s}; return d; }
int dim_eq(Dim a, Dim b);
int dim_is_const(Dim d);
int dim_mul(Dim a, Dim b, Dim *out);        /* 0 if a symbol would appear squared */
int dim_div(Dim a, Dim b, Dim *out);        /* exact division only; 0 otherwise */
int64_t dim_eval(Dim d, const int64_t *symval); /* symval[s] = value of symbol s */

typedef struct { DType dtype; int rank; Dim dims[DLM_MAX_RANK]; } Type;

int type_eq(const Type *a, const Type *b);
Type type_scalar(DType t);
int type_numel_const(const Type *t, int64_t *n); /* 1 if all dims are constant and the count fits int64 */

/* ---------------------------------------------------------------- source locations and errors */
typedef struct { int file; int line; int col; } SrcLoc;  /* file indexes Module.files; line 0 = none */

typedef struct {
  int set;            /* nonzero once an error has been recorded (the first one wins) */
  SrcLoc loc;
  char msg[512];
} DlmErr;

void err_set(DlmErr *e, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- ops (from ops.def) */
typedef enum { FC_SOURCE, FC_ELEMWISE, FC_BROADCAST, FC_INJECTIVE, FC_REDUCE, FC_OUTFUSABLE, FC_OPAQUE } FusionClass;

typedef enum {
#define OP(E, name, arity, fc, ia, fa, sa, shape, interp, diff) OP_##E,
#include "ops.def"
#undef OP
  OP_COUNT
} OpKind;

#define DLM_MAX_IATTR 8
#define DLM_MAX_FATTR 2
typedef struct {
  int64_t i[DLM_MAX_IATTR]; int ni;   /* ni = number of int slots in use (list attrs set it) */
  double f[DLM_MAX_FATTR];
  const char *s;                      /* string attribute (arena-owned), or NULL */
} Attrs;

struct Module; struct Node;
typedef int (*ShapeRule)(const struct Module *m, const struct Node *n, const Type *const *in, Type *out, DlmErr *e);

typedef struct {
  const char *name;
  int arity;                 /* -1 = variadic */
  FusionClass fclass;
  const char *iattrs, *fattrs; /* space-separated attribute names */
  int has_sattr;
  ShapeRule shape;
  int diff;                  /* has a gradient rule */
} OpInfo;

extern const OpInfo op_info[OP_COUNT];
int op_from_name(const char *s, OpKind *out);   /* 1 on success */
const char *fclass_name(FusionClass c);

/* ---------------------------------------------------------------- graph */
typedef struct Node {
  OpKind op;
  Type type;            /* result type */
  int nin; int *in;     /* input value ids, all < this node's id */
  Attrs attr;
  SrcLoc loc;
  const char *name;     /* optional: DSL variable name, for dumps (arena-owned) */
} Node;

typedef struct Func {
  const char *name;
  Node *nodes; int nnodes, cap;
  int nargs;            /* arg nodes: OP_ARG with attr.i[0] = position; need not be first */
  int nout; int *outs;  /* returned value ids */
  const char **outnames;/* optional names of the outputs (may be NULL) */
} Func;

typedef enum { INIT_NONE, INIT_ZEROS, INIT_ONES, INIT_NORMAL, INIT_UNIFORM } InitKind;

typedef struct {
  const char *name;     /* checkpoint tensor name, e.g. backbone.blocks.0.norm1.weight */
  Type type;            /* all dims constant */
  InitKind init; double a, b;  /* normal(mean a, std b) / uniform(a, b) */
  SrcLoc loc;
} ParamDecl;

/* ---------------------------------------------------------------- schedule program
 * Variables are scalars (loop indices, knobs) or tensors (state, caches). Statements call graph
 * functions, loop, or leave a loop early. Everything a graph needs from the schedule (step index,
 * knobs, state) is passed as an argument; graphs have no hidden inputs. */
typedef enum { SV_INPUT, SV_KNOB, SV_STATE, SV_LOOPVAR, SV_CACHE, SV_CONST } SchedVarKind;
typedef struct {
  const char *name;
  SchedVarKind kind;
  Type type;            /* scalars have rank 0 */
  double value;         /* SV_KNOB default / SV_CONST value */
  SrcLoc loc;
} SchedVar;

typedef enum { SS_CALL, SS_LOOP, SS_BREAK_IF, SS_WINDOW } SchedStmtKind;
typedef struct SchedStmt {
  SchedStmtKind kind;
  SrcLoc loc;
  /* SS_CALL: res = func(args); SS_BREAK_IF: leave the innermost loop when scalar bool var args[0] is true;
     SS_WINDOW (KV-cache plan bodies only): args = {lo, hi, span}, res = {rows, span}, span an i64[2]
     holding the previous window's [lo, hi) ([0, 0] before the first): checks that lo == span[1] and
     lo < hi <= the plan's rows, sets rows (i64[W]) to span[0], ..., hi-1 and span to [lo, hi] */
  int func; int nargs; int *args; int nres; int *res;
  /* SS_LOOP: for var in [lo, hi): body; lo/hi are scalar variable ids */
  int var, lo, hi;
  struct SchedStmt *body; int nbody;
  const char *cache_policy; /* SS_LOOP: NULL, or the cache policy the DSL asked for ("exact", "prefix", ...) */
  int memo;                 /* SS_CALL: 1 if the runtime may reuse the previous results of this call when
                               every argument is bit-identical to the previous call's (DSL `memo`) */
  struct SchedPlan *plan;   /* SS_LOOP with a cache policy: the KV-cache plan (passes/kvcache.c), or NULL */
} SchedStmt;

/* The KV-cache plan of a `cache(policy)` loop (passes/kvcache.c, docs/passes.md). policy is "exact"
 * (proved: the same results as the loop's own body), "dual" (approximate, Fast-dLLM style) or "none"
 * (nothing planned; note says why). With a plan the runtime runs init before the loop and body
 * instead of the loop's own body (unless caching is off); block/rows: the loop variable b walks the
 * blocks of `block` rows of a sequence axis of `rows` rows; block 0 in a plan with a body: each
 * iteration works on a window of rows with run-time bounds (an SS_WINDOW statement in the body).
 * Each buffer is a SV_CACHE variable with what it holds and when it is written, valid and evicted,
 * in words. */
typedef struct {
  int var;
  const char *what, *written, *valid, *evicted;
} SchedKvBuf;

typedef struct SchedPlan {
  const char *policy;
  int approximate;
  int64_t block, rows;
  const char *note;
  SchedKvBuf *bufs; int nbufs;
  SchedStmt *init; int ninit;
  SchedStmt *body; int nbody;
} SchedPlan;

typedef struct Sched {
  const char *name;
  SrcLoc loc;
  SchedVar *vars; int nvars, capvars;
  SchedStmt *body; int nbody;
  int nout; int *outs;  /* variable ids returned */
} Sched;

/* ---------------------------------------------------------------- module */
typedef struct Arena Arena;

typedef struct Module {
  const char *name;
  Arena *arena;
  const char *files[32]; int nfiles;            /* source files named by SrcLoc.file */
  const char *syms[DLM_MAX_SYMS]; int nsyms;    /* symbolic dimension names */
  ParamDecl *params; int nparams, capparams;
  Func **funcs; int nfuncs, capfuncs;
  Sched **scheds; int nscheds, capscheds;
  const char *meta_keys[64]; const char *meta_vals[64]; int nmeta; /* key=value metadata (consts, tokenizer ...) */
} Module;

/* ================================================================ ir/arena.c */
Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t n);          /* zeroed, 16-byte aligned; aborts on OOM */
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ================================================================ ir/ir.c: building modules */
Module *ir_module_new(const char *name);
void ir_module_free(Module *m);
int ir_file(Module *m, const char *path);            /* index of path in m->files, adding it */
int ir_sym(Module *m, const char *name);              /* index of a symbol, adding it; -1 if full */
int ir_sym_find(const Module *m, const char *name);   /* -1 if absent */
int ir_param_add(Module *m, const char *name, Type t, InitKind init, double a, double b, SrcLoc loc); /* -1 if duplicate */
int ir_param_find(const Module *m, const char *name);
Func *ir_func_new(Module *m, const char *name);       /* NULL if the name exists */
Func *ir_func_find(const Module *m, const char *name);
int ir_func_index(const Module *m, const char *name);
void ir_meta_set(Module *m, const char *key, const char *val);
const char *ir_meta_get(const Module *m, const char *key);

/* Append a node. `given` is the declared result type for ops that need one (see ops.def), else NULL
 * (then the shape rule derives it; if given is non-NULL for other ops it must match). Returns the
 * new value id, or -1 with *e set (e->loc = loc). Attribute and string are copied into the arena. */
int ir_emit(Module *m, Func *f, OpKind op, const Type *given, int nin, const int *in,
            const Attrs *attr, SrcLoc loc, DlmErr *e);
int ir_arg(Module *m, Func *f, const char *name, Type t, SrcLoc loc);   /* appends an OP_ARG, position = f->nargs++ */
void ir_set_outputs(Module *m, Func *f, int n, const int *vals, const char *const *names);
Attrs attrs_none(void);
int ir_attr_index(OpKind op, const char *name, int *is_float); /* slot of a named attribute, -1 if none */

/* Sched building */
Sched *ir_sched_new(Module *m, const char *name, SrcLoc loc);
int ir_sched_var(Module *m, Sched *s, const char *name, SchedVarKind k, Type t, double value, SrcLoc loc);

/* Type printing into a caller buffer ("f32[B,1024,768]") */
char *type_str(const Module *m, const Type *t, char *buf, size_t n);
char *dim_str(const Module *m, Dim d, char *buf, size_t n);

/* ================================================================ ir/shape.c: shape rules (named in ops.def) */
#define OP(E, name, arity, fc, ia, fa, sa, shape, interp, diff) \
  int shape(const Module *m, const Node *n, const Type *const *in, Type *out, DlmErr *e);
#include "ops.def"
#undef OP
int shape_broadcast_types(const Type *a, const Type *b, Type *out); /* numpy broadcast of shapes; dtype of a */

/* ================================================================ ir/verify.c */
int ir_verify_func(const Module *m, const Func *f, DlmErr *e);  /* 1 if valid */
int ir_verify(const Module *m, DlmErr *e);
int ir_verify_sched(const Module *m, const Sched *s, DlmErr *e); /* 1 if valid */

/* ================================================================ ir/print.c, ir/parse.c, ir/dot.c */
void ir_print(const Module *m, FILE *out);             /* the line-oriented text form */
void ir_print_func(const Module *m, const Func *f, FILE *out);
Module *ir_parse(const char *text, const char *filename, DlmErr *e); /* NULL + e on error; e->loc line/col in text */
void ir_print_dot(const Module *m, FILE *out);


/* ================================================================ ir/param_copy.c: frozen parameter copies
 * A meta entry "frozen_copy:<dst>" = "<src>" (the DSL's `param dst: T = frozen_copy(src)`) declares every
 * parameter named <dst> or <dst>.<rest> a non-trained copy of <src> / <src>.<rest>: autodiff gives it no
 * gradient, checkpoints do not store it, and the runtime fills it from its source. */
#define IR_FROZEN_COPY_META "frozen_copy:"
int ir_param_copy_source(const Module *m, int p);  /* index of the source of parameter p, or -1 (not a copy) */

#endif
