/* sched_exec.h — executing a schedule program (Sched): its variables, loops, calls of graph
 * functions through a Backend, and early exits; knobs set by name. */
#ifndef DLM_SCHED_EXEC_H
#define DLM_SCHED_EXEC_H
#include "backend.h"

/* A knob value as text ("128", "0.5", "true"), parsed per the knob's declared type. */
typedef struct { const char *name; const char *value; } SchedKnob;

/* A graph function of the schedule whose result shapes use a symbol its arguments cannot bind
 * (e.g. an initializer returning i32[B, L] from no arguments) gets a variant "<name>$bind" with an
 * extra argument "$bind:<sym>" of type bool[sym] per such symbol; sched_run passes tensors of the
 * symbol's length there. Call before opening the backend on m. 1, or 0 with *e set. */
int sched_prepare(Module *m, const Sched *s, DlmErr *e);

/* Run s. Knobs not given keep their defaults; an unknown knob name or bad value is an error.
 * symval[k] is the value of module symbol k (0 = unknown) for the $bind arguments. outs[0..nout)
 * receive new tensors (the schedule's results). 1, or 0 with *e set. */
int sched_run(const Module *m, const Sched *s, const Backend *be, BackendState *bs, const ParamStore *ps,
              const SchedKnob *knobs, int nknobs, const int64_t *symval, Tensor **outs, DlmErr *e);

#endif
