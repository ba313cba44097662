/* kvcache.h — internals of the KV-cache planning pass (passes/kvcache*.c; docs/passes.md).
 *
 * Vocabulary. The pass plans one `cache(policy)` loop `loop b in 0..n` of a schedule. The token
 * state x (i32[B, L]) is the variable the network reads and the loop body rewrites; its axis 1 is
 * the row axis, cut into blocks of `bs` rows; iteration b may change only the rows of block b
 * (proved from the writers' `where`). A function F called in the loop body is rebuilt as G, whose
 * values are either "full" (as in F) or "rows" (rows [b*bs, b*bs+bs) of an F value along one axis).
 * A cached attention takes its queries' rows and keys/values merged from a cache buffer (rows of
 * finished blocks) and the current block's rows.
 *
 * Dynamic row windows. When the writers of x return where(r >= lo && r < hi && ..., new, x) with
 * lo, hi scalar schedule variables (Eso-LM's [done, end)), the plan works on the rows of windows
 * instead of blocks: a `window` statement before the first network call takes the rows from the
 * previous window's lo to hi into an i64[W] cache variable (W a module symbol bound from its shape
 * at each call), the rebuilt calls compute those rows (the previous window's, now final, and the
 * current one's), the network steps also return their buffers with those rows merged in (no
 * commit calls), and the mask must be row-causal (blocks of one row). */
#ifndef DLM_KVCACHE_H
#define DLM_KVCACHE_H
#include "passes.h"

/* One cache buffer: the keys or values (F node fnode of function func) of one attention. */
typedef struct {
  int func, fnode, attn;
  int var;              /* the SV_CACHE schedule variable */
} KvBuf;

#define KV_MAX_BUFS 256

/* What the pass knows while planning one loop. */
typedef struct {
  Module *m;
  Sched *s;
  const SchedStmt *loop;
  int xvar, bvar;       /* the token state and the loop's block variable */
  int64_t bs, L;        /* rows per block (0 until a writer proves it), rows of x */
  int64_t window;       /* blocks of keys a query block sees (the mask's reach), n = L / bs if all */
  int win;              /* 1: a dynamic row window [lovar, hivar) (bs is then 1, for the mask proof) */
  int lovar, hivar;     /* the window's bounds (scalar schedule variables), -1 until found */
  int wvar, nextvar;    /* the rows computed (i64[W]) and kv.span (i64[2]: the last window's lo, hi) */
  Dim wdim;             /* W: the number of rows of a window */
  int approx;           /* cache(dual): no block-causality proof; buffers refreshed per iteration */
  int written[1024];    /* schedule variables written inside the loop body (1 = written) */
  KvBuf bufs[KV_MAX_BUFS]; int nbufs;
  char why[400];        /* set when the plan fails: why no cache */
  SrcLoc whyloc;
} KvCtx;

/* Per-function facts: which F argument positions each node reads (bit 63 = position 63 or more). */
typedef struct {
  KvCtx *c;
  const Func *F;
  const SchedStmt *call;
  uint64_t *deps;
  uint64_t xbits, bbits, varbits;  /* F arg positions holding x, b, and values changing in the loop */
  signed char *pred, *ridx, *maskok; /* memoized proofs per node: 0 unknown, 1 yes, -1 no */
  uint64_t fullargs;    /* set by kv_build: the argument positions the rebuilt function reads in
                           full, not only through the computed rows */
} KvFunc;

/* ================================================================ kvcache_eval.c: proofs by evaluation */
/* Fills kf->deps and the arg-position masks for the call. 0 on out of memory. */
int kv_func_init(KvFunc *kf, KvCtx *c, const Func *F, const SchedStmt *call);
/* 1 if node n (reading only b and constants) is true exactly on the rows of block b along its last
 * axis (size c->L) for every b in [0, L/bs) and every leading index. When c->bs is 0 it is set from
 * b = 0. */
int kv_is_block_pred(KvFunc *kf, int n);
/* A conjunct of the bool node n (through `and`) that kv_is_block_pred proves, or -1. */
int kv_find_block_pred(KvFunc *kf, int n);
/* 1 if the bool node n has conjuncts (through `and`) r >= lo and r < hi (or lo <= r, hi > r), with
 * r an iota along one axis of size L (other dims 1, possibly cast) and lo, hi scalar integer
 * arguments (possibly cast); *raxis = that axis counted from the last (0 = the last axis). With
 * c->lovar/hivar set, lo and hi must be passed those variables; else they are set from the first
 * window found. */
int kv_find_window(KvFunc *kf, int n, int *raxis);
/* 1 if integer node n is i64/i32[bs] reading only b and equal to b*bs + j for every block b. */
int kv_is_rows_index(KvFunc *kf, int n);
/* 1 if the bool mask node n ([..., L, L], reading no argument) lets no query attend a key of a
 * later block; sets c->window. 0 with c->why set otherwise. */
int kv_mask_block_causal(KvFunc *kf, int attn, int n);

/* ================================================================ kvcache_build.c: rebuilding F */
/* What kv_build makes from F: the step (F's outputs, cached attentions inside), the commit (the
 * merged keys/values of every buffer of F: block b's rows new, the rest from the buffers), the
 * refresh (every buffer's keys/values on all rows, computed as F does: the dual policy) or, for
 * window plans, the rows (outputs with rows on axis 1 computed on the window's rows only, zeros
 * elsewhere: for values whose other rows are never read). */
typedef enum { KV_STEP, KV_COMMIT, KV_REFRESH, KV_ROWS } KvBuildKind;
/* Builds G from F for the call. Returns the new function's index with *argvars and *nargs: the
 * schedule variables to pass (arena), -1 with c->why set when the plan fails, -2 with *e set on an
 * internal error. *ncached: attentions that use a cache. */
int kv_build(KvFunc *kf, KvBuildKind kind, int **argvars, int *nargs, int *ncached, DlmErr *e);
/* A function of no arguments returning zeros of every buffer's type (and a window plan's kv.span);
 * its index or -2. */
int kv_build_init(KvCtx *c, DlmErr *e);
/* A fresh function name "<base><suffix>" (with a number when taken). */
const char *kv_func_name(Module *m, const char *base, const char *suffix);

#endif
