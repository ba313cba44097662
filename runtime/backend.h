/* backend.h — the interface every execution backend implements (the reference interpreter, the
 * compiled CPU backend, later CUDA). The runtime (training, evaluation, sampling, `dlmrun call`)
 * only talks to this interface, so backends are interchangeable and comparable. */
#ifndef DLM_BACKEND_H
#define DLM_BACKEND_H

#include "tensor.h"

typedef struct BackendState BackendState;

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
} Backend;

extern const Backend backend_interp;           /* runtime/backend_interp.c */
extern const Backend backend_cpu;              /* runtime/backend_cpu.c */
extern const Backend backend_cuda;             /* runtime/backend_cuda.c (open fails without a device) */
const Backend *backend_find(const char *name);
/* runtime/backend_cuda.c: milliseconds of the last CUDA run spent uploading arguments and
 * parameters, on the device (first launch to synchronize), and downloading outputs */
void backend_cuda_last_times(double ms[3]);  /* NULL if unknown or not built */
/* bytes of parameters the last CUDA run uploaded (0 when every parameter was resident already) */
double backend_cuda_last_param_bytes(void);
/* with $DLM_CUDA_GRAPHS=1: 1 if the last CUDA run replayed a captured graph, 2 if it captured one,
 * 0 if it launched its plan plainly */
int backend_cuda_last_graph(void);

#endif
