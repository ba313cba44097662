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

/* Loop state resident in the backend (Backend.dev; docs/cuda.md "Runtime"). mode: 0 = the
 * backend's preference (Backend.prefer_resident), 1 = host tensors, 2 = resident values. With
 * resident values every variable lives in the backend: calls take and overwrite values, loop
 * variables are set by queued work, and inside a loop nothing is uploaded or downloaded and
 * nothing waits for the device, except that a loop with `break if` reads its break flag every
 * check_every iterations (0: 8): the break condition is or-ed into a device flag that freezes
 * the rest of the loop (later results are discarded on the device), so the results are those of
 * the host path; up to check_every - 1 frozen iterations run in vain. Memo calls always run (a
 * comparison of their arguments would wait for the device): same results, more evaluations.
 * Counts (both modes, when the backend counts transfers): transfers in all, loop_transfers those
 * made inside top-level loops (after the loop's entry uploaded its knobs and constants),
 * flag_reads the break-flag reads; steady_transfers those made in the iterations of top-level
 * loops after the first (a backend may set itself up in the first: the CUDA backend uploads each
 * function's pointer table at its first use); resident says which mode ran. */
typedef struct {
  int mode, check_every;
  int64_t transfers, loop_transfers, flag_reads;
  int resident;
  int64_t steady_transfers;
} SchedDev;

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
/* sched_run_cache with the choice of resident loop state (dev may be NULL: the backend's preference). */
int sched_run_dev(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
                  const SchedKnob *knobs, int nknobs, const int64_t *symval, SchedMemo *memo, SchedCache *cache,
                  SchedDev *dev, Tensor **outs, DlmErr *e);

#endif
