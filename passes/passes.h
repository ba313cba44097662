/* passes.h — the graph-IR pass manager and the passes it runs.
 *
 * A pass is one function `int pass_xxx(Module *m, DlmErr *e)` over a whole module. It returns the
 * number of changes it made (0 when the module is already in the form the pass produces), or -1
 * with *e set when the module is invalid. Passes are listed once, in order, in passes/pipeline.c
 * (pass_table); each has a name (for --dump-after=NAME) and a one-letter code (for -d LETTERS).
 * See docs/passes.md for how to write and register a pass. */
#ifndef DLM_PASSES_H
#define DLM_PASSES_H

#include "ir.h"

typedef int (*PassFn)(Module *m, DlmErr *e);

typedef struct {
  const char *name;     /* "fold" */
  char letter;          /* 'K': `-d K` dumps the IR after this pass */
  PassFn run;
  int repeat;           /* 1: part of the simplification rounds run until nothing changes */
  const char *what;     /* one line for --help and the docs */
} Pass;

/* ================================================================ passes/pipeline.c */
/* The letter 'P' dumps the module as it enters the pipeline (as parsed / lowered). */
#define PASS_DUMP_INPUT 'P'
#define PASS_MAX_ROUNDS 16

typedef struct {
  const char *dump_letters;  /* NULL or the -d letters */
  const char *dump_after;    /* NULL or a pass name (--dump-after=NAME) */
  int verify;                /* run ir_verify after every pass even in release (NDEBUG) builds */
  FILE *dump_out;            /* where dumps go; NULL = stderr */
} PassOptions;

const Pass *pass_table(int *n);              /* the registered passes, in pipeline order */
const Pass *pass_find(const char *name);     /* NULL if no pass has that name */
/* 1 if every letter names a pass or PASS_DUMP_INPUT; else 0 and *bad = the first unknown letter. */
int pass_letters_valid(const char *letters, char *bad);
/* Run the pipeline: the non-repeating passes once in order, the repeating ones in rounds until a
 * round changes nothing (at most PASS_MAX_ROUNDS). Returns 1, or 0 with *e set. */
int pass_pipeline_run(Module *m, const PassOptions *o, DlmErr *e);

/* ================================================================ passes/rewrite.c
 * Rebuilding a function in one forward sweep. rw_begin takes the node array out of f; the pass
 * then visits the old nodes in order and, for each, either copies it (rw_copy), replaces it by new
 * nodes (rw_emit, then rw_map), or forwards it to an earlier value (rw_map). Old ids that are never
 * mapped are dropped; an output or input that refers to a dropped node is an internal error.
 * rw_end remaps the outputs. Ids given to rw_emit are new ids; rw_new(rw, old) translates. */
typedef struct {
  Module *m;
  Func *f;
  Node *old; int nold;  /* the function's nodes before the rewrite */
  int *map;             /* old id -> new id, -1 while unmapped (arena-owned) */
} Rewrite;

void rw_begin(Rewrite *rw, Module *m, Func *f);
int rw_new(const Rewrite *rw, int old);                 /* the new id of an old value (aborts if dropped) */
int rw_copy(Rewrite *rw, int old, DlmErr *e);           /* copies old node (inputs translated); new id or -1 */
int rw_emit(Rewrite *rw, OpKind op, const Type *given, int nin, const int *newin, const Attrs *a,
            SrcLoc loc, const char *name, DlmErr *e);   /* a fresh node; new id or -1 */
void rw_map(Rewrite *rw, int old, int newid);
void rw_end(Rewrite *rw);
/* 1 if value id of f is a const (a fill of one value over its type), setting *value. */
int node_const_value(const Func *f, int id, double *value);

/* ================================================================ the passes (one file each) */
int pass_shape_infer(Module *m, DlmErr *e);   /* passes/shape_infer.c */
int pass_fold(Module *m, DlmErr *e);          /* passes/fold.c */
int pass_scale_fold(Module *m, DlmErr *e);    /* passes/example_scale_fold.c */
int pass_cse(Module *m, DlmErr *e);           /* passes/cse.c */
int pass_dce(Module *m, DlmErr *e);           /* passes/dce.c */
int pass_kvcache(Module *m, DlmErr *e);       /* passes/kvcache.c: KV-cache plans of cache(...) loops */

/* ================================================================ passes/stats.c */
typedef struct {
  int64_t ops[OP_COUNT];  /* nodes per op kind */
  int64_t nops;           /* all nodes except sources (arg, param, const) */
  int64_t kernels;        /* for now = nops (no fusion yet) */
  double flops;           /* for the given symbol values */
  double tokens;          /* size of the first argument's last dim (1 if none) */
} FuncStats;

/* Symbol values by module symbol index; symbols not set are 1. */
void stats_func(const Module *m, const Func *f, const int64_t *symval, FuncStats *out);
double stats_node_flops(const Module *m, const Func *f, const Node *n, const int64_t *symval);
int64_t stats_param_count(const Module *m);   /* total elements of all parameters except frozen copies */
/* Prints n with thousands separators (169,627,218) into buf. */
char *stats_commas(int64_t n, char *buf, size_t len);
/* The --stats report: per function ops by name, kernels, FLOPs per token; then parameters. */
void stats_print(const Module *m, const int64_t *symval, FILE *out);

#endif
