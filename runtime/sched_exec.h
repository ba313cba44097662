/* sched_exec.h — executing a schedule program (Sched): its variables, loops, calls of graph
 * functions through a Backend, and early exits; knobs set by name. */
#ifndef DLM_SCHED_EXEC_H
#define DLM_SCHED_EXEC_H
#include "backend.h"

/* A knob value as text ("128", "0.5", "true"), parsed per the knob's declared type. */
typedef struct { const char *name; const char *value; } SchedKnob;

/* Memo calls (SchedStmt.memo): each keeps its last arguments and results; a call whose arguments
 * are byte-identical (dtype, shape and data) to the previous call's reuses the results without
 * running. no_memo runs every call (to check that reuse changes nothing). Counts: hits and misses
 * of memo calls (reused, run); nfe, the network evaluations: calls that ran of functions reading
 * parameters; steps, how often the first memo statement in program order was reached (the
 * sampling steps of a sampler whose step starts with its memoized network call). */
typedef struct {
  int no_memo;
  int64_t hits, misses, nfe, steps;
} SchedMemo;

/* KV-cache plans (SchedStmt.plan, passes/kvcache.c): no_cache runs every planned loop's own body
 * instead of its plan; cached_loops / approx_loops count the loop runs that used an exact / an
 * approximate plan; commits counts the calls that ran of parameter-reading functions whose results
 * are all cache buffers (the commit passes, which SchedMemo.nfe leaves out, as BD3-LM's counts do). */
typedef struct {
  int no_cache;
  int64_t cached_loops, approx_loops, commits;
} SchedCache;

/* Run s. Knobs not given keep their defaults; an unknown knob name or bad value is an error.
 * symval[k] is the value of module symbol k (0 = unknown), passed to every call for the symbols
 * no argument carries (an initializer returning i32[B, L] from no arguments). outs[0..nout)
 * receive new tensors (the schedule's results). 1, or 0 with *e set. */
int sched_run(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
              const SchedKnob *knobs, int nknobs, const int64_t *symval, Tensor **outs, DlmErr *e);
/* sched_run with memo control and counts (memo may be NULL: reuse on, counts not reported). */
int sched_run_memo(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
                   const SchedKnob *knobs, int nknobs, const int64_t *symval, SchedMemo *memo, Tensor **outs, DlmErr *e);
/* sched_run_memo with KV-cache control and counts (cache may be NULL: plans used, not counted). */
int sched_run_cache(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
                    const SchedKnob *knobs, int nknobs, const int64_t *symval, SchedMemo *memo, SchedCache *cache,
                    Tensor **outs, DlmErr *e);

#endif
