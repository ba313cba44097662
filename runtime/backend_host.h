/* backend_host.h — backend-resident values (BackendDev) for the backends that run on host tensors
 * (the interpreter and the CPU backend): a value is a host tensor, so "resident" costs nothing
 * and the resident schedule path can be checked against the host path on any machine. Such a
 * backend's state starts with a HostHead: the function that runs on host tensors and the
 * transfer counts. */
#ifndef DLM_BACKEND_HOST_H
#define DLM_BACKEND_HOST_H
#include "backend.h"

typedef int (*HostRunFn)(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                         const int64_t *symval, DlmErr *e);
typedef struct {
  HostRunFn run;      /* runs f on host tensors (not counted) */
  int64_t up, down;   /* transfers: see BackendDev.transfers */
} HostHead;

extern const BackendDev backend_host_dev;
/* Backend.run of such a backend: head->run, counting each argument as an upload and each output
 * as a download. */
int backend_host_run(BackendState *s, const Func *f, const ParamStore *ps, Tensor *const *args, Tensor **outs,
                     const int64_t *symval, DlmErr *e);
#endif
