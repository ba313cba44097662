/* backend.h — the interface every execution backend implements (the reference interpreter, the
 * compiled CPU backend, later CUDA). The runtime (training, evaluation, sampling, `dlmrun call`)
 * only talks to this interface, so backends are interchangeable and comparable. */
#ifndef DLM_BACKEND_H
#define DLM_BACKEND_H

#include "tensor.h"

typedef struct BackendState BackendState;
typedef struct BackendDev BackendDev;
typedef struct BackendTrain BackendTrain;

typedef struct Backend {
  const char *name;                              /* "interp", "cpu", "cuda" */
  /* Prepare to run the functions of m (compile kernels, plan memory). m must outlive the state. */
  BackendState *(*open)(const Module *m, DlmErr *e);
  /* Run function f of the module with host tensors; outs[0..f->nout) receive new host tensors
   * (float outputs in f32). Parameters are read from ps by name. Symbol values (B, ...) are bound
   * from the argument shapes; symval, if not NULL, gives values up front (symval[s] > 0 binds
   * symbol s) for symbols no argument carries. Returns 1, or 0 with *e set. */
  int (*run)(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
             const int64_t *symval, DlmErr *e);
  void (*close)(BackendState *s);
  const BackendDev *dev;     /* backend-resident values (below), or NULL */
  int prefer_resident;       /* 1: the schedule executor keeps loop state in the backend by default */
  const BackendTrain *train; /* training steps on resident parameters (below), or NULL */
} Backend;

/* Backend-resident values: tensors that stay in the backend between calls (device memory for
 * CUDA; host tensors for the CPU and the interpreter), so a loop of calls moves no data through
 * the host and never waits for the device. Float values hold f32 (as `run`'s outputs do). Work
 * on values is queued; only download waits for it. */
typedef struct BackendValue BackendValue;
struct BackendDev {
  /* a value holding a copy of t (an upload) */
  BackendValue *(*upload)(BackendState *s, const Tensor *t, DlmErr *e);
  /* a host copy of v (a download: waits for the queued work, then reports any kernel failure) */
  Tensor *(*download)(BackendState *s, const BackendValue *v, DlmErr *e);
  void (*release)(BackendState *s, BackendValue *v);
  /* run f on values. outs[k] in/out: a value of output k's dtype and shape is overwritten in
   * place (its storage does not move), any other (or NULL) is released and replaced by a new
   * value. Arguments may be outputs too (results are written after every read). With skip (a
   * bool scalar value) true when the work runs, the outputs are left unchanged. */
  int (*run)(BackendState *s, const Func *f, const ParamStore *ps, BackendValue *const *args, BackendValue **outs,
             const int64_t *symval, const BackendValue *skip, DlmErr *e);
  /* v (an integer or bool scalar) = x, unless skip (may be NULL) is true; x travels with the
   * queued work (a launch argument), not as a transfer */
  int (*set_int)(BackendState *s, BackendValue *v, int64_t x, const BackendValue *skip, DlmErr *e);
  /* dst (a bool scalar) |= src (a bool scalar) */
  int (*flag_or)(BackendState *s, BackendValue *dst, const BackendValue *src, DlmErr *e);
  /* ps does not change until hold(s, NULL): resident parameters are not checked again */
  void (*hold)(BackendState *s, const ParamStore *ps);
  /* transfers so far: tensors that crossed between the host and the backend (host tensors given
   * to or returned by `run`, uploads and downloads of values, and a backend's own copies) */
  void (*transfers)(BackendState *s, int64_t *up, int64_t *down);
  /* NULL, or 0 when this state cannot keep values (the reason in *e): callers use host tensors */
  int (*ready)(BackendState *s, DlmErr *e);
};

/* Training with the weights, their EMA and the AdamW moments resident in the backend: a step runs
 * the gradient function, the global gradient norm, clipping, AdamW, the EMA and the refresh of
 * the weights' bf16 copies where the parameters are, with the arithmetic of runtime/optim.c; only
 * the batch goes in and the loss and the norm come out. The host stores are brought up to date
 * by sync (for checkpoints). */
typedef struct {
  int64_t t;                      /* update number, 1-based */
  double lr, beta1, beta2, eps, weight_decay, clip;
  double ema_decay;               /* this step's EMA decay (ema_decay(cfg, t)) */
} BackendOptStep;
struct BackendTrain {
  /* take the training state (f32 stores with the module's parameter names; they must outlive
   * the training) into the backend */
  int (*begin)(BackendState *s, ParamStore *w, ParamStore *ema, ParamStore *m, ParamStore *v, DlmErr *e);
  /* one update with gradient function g on args: gidx[i] is the output of g holding parameter
   * i's gradient (-1: none; that parameter only gets the EMA); out: the loss (output 0) and the
   * global gradient norm before clipping */
  int (*step)(BackendState *s, const Func *g, const int *gidx, Tensor *const *args, const BackendOptStep *o, double *loss,
              double *gnorm, DlmErr *e);
  int (*sync)(BackendState *s, DlmErr *e);   /* the stores given to begin = the backend's state */
  void (*end)(BackendState *s);              /* forget the training state (no sync) */
};

extern const Backend backend_interp;           /* runtime/backend_interp.c */
extern const Backend backend_cpu;              /* runtime/backend_cpu.c */
extern const Backend backend_cuda;             /* runtime/backend_cuda.c (open fails without a device) */
const Backend *backend_find(const char *name);
/* runtime/backend_cuda.c: milliseconds of the last CUDA run spent uploading arguments and
 * parameters, on the device (first launch to synchronize), and downloading outputs */
void backend_cuda_last_times(double ms[3]);  /* NULL if unknown or not built */
/* bytes of parameters the last CUDA run uploaded (0 when every parameter was resident already) */
double backend_cuda_last_param_bytes(void);
/* the gemm epilogues (bias + GELU in one cuBLASLt call, docs/cuda.md) of the last plan the CUDA
 * backend queued (not counting graph replays): how many ran in cuBLASLt, how many fell back to
 * the plain gemm and the operand kernel, and why the last one did ("" when none) */
void backend_cuda_last_epilogues(int *lt, int *fallback, const char **why);
/* with $DLM_CUDA_GRAPHS=1: 1 if the last CUDA run replayed a captured graph, 2 if it captured one,
 * 0 if it launched its plan plainly */
int backend_cuda_last_graph(void);

#endif
