/* backend_cuda_internal.h — what the CUDA backend's files share (runtime/backend_cuda.c: driver
 * and cuBLAS loading, compile, memory layout, launches, the host-tensor `run`;
 * backend_cuda_values.c: resident values; backend_cuda_train.c: the training step). The driver API is loaded with dlopen, so its types are
 * declared here by their ABI. */
#ifndef DLM_BACKEND_CUDA_INTERNAL_H
#define DLM_BACKEND_CUDA_INTERNAL_H
#include "backend.h"
#include "cuda_emit.h"

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUmodule, *CUfunction;

typedef struct {
  void *lib, *blas;
  CUresult (*Init)(unsigned);
  CUresult (*DeviceGetCount)(int *);
  CUresult (*DeviceGet)(int *, int);
  CUresult (*DeviceGetAttribute)(int *, int, int);
  CUresult (*DevicePrimaryCtxRetain)(CUcontext *, int);
  CUresult (*DevicePrimaryCtxRelease)(int);
  CUresult (*CtxSetCurrent)(CUcontext);
  CUresult (*CtxSynchronize)(void);
  CUresult (*ModuleLoadData)(CUmodule *, const void *);
  CUresult (*ModuleUnload)(CUmodule);
  CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*FuncSetAttribute)(CUfunction, int, int);
  CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *, void **, void **);
  CUresult (*MemAlloc)(CUdeviceptr *, size_t);
  CUresult (*MemFree)(CUdeviceptr);
  CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*GetErrorString)(CUresult, const char **);
  /* CUDA graphs ($DLM_CUDA_GRAPHS=1; optional: absent entry points turn them off) */
  CUresult (*StreamCreate)(void **, unsigned);
  CUresult (*StreamDestroy)(void *);
  CUresult (*StreamBeginCapture)(void *, int);
  CUresult (*StreamEndCapture)(void *, void **);
  CUresult (*GraphInstantiate)(void **, void *, unsigned long long);
  CUresult (*GraphLaunch)(void *, void *);
  CUresult (*GraphExecDestroy)(void *);
  CUresult (*GraphDestroy)(void *);
  CUresult (*MemsetD8Async)(CUdeviceptr, unsigned char, size_t, void *);
  int (*blasSetStream)(void *, void *);
  int (*blasCreate)(void **);
  int (*blasDestroy)(void *);
  int (*GemmEx)(void *, int, int, int, int, int, const void *, const void *, int, int, const void *, int, int, const void *,
                void *, int, int, int, int);
  int (*GemmBatchedEx)(void *, int, int, int, int, int, const void *, const void *, int, int, const void *, int, int, const void *, void *,
                       int, int, int, int, int);
  int (*GemmStridedBatchedEx)(void *, int, int, int, int, int, const void *, const void *, int, int, long long, const void *,
                              int, int, long long, const void *, void *, int, int, long long, int, int, int);
} Cu;

enum { CUDA_R_32F = 0, CUDA_R_16BF = 14, CUBLAS_COMPUTE_32F = 68, CUBLAS_GEMM_DEFAULT = -1, OP_N = 0, OP_T = 1 };

/* a parameter resident on the device: fp32 master copy and its bf16 rounding (for gemms) */
typedef struct {
  const void *host;  /* the host tensor's data when uploaded */
  size_t bytes;
  uint64_t hash;     /* of those bytes */
  CUdeviceptr dev, dev16;
} DevParam;

typedef struct {
  const Func *f;
  CudaUnit u;
  CUmodule *mods; int nmods; /* one module per NVRTC chunk */
  CUfunction *fn;   /* per launch (NULL for gemm) */
  /* the captured work (CUDA graphs): valid while exec_key (symbol values, every device address
   * the work uses) is the same */
  void *exec;
  uint64_t exec_key;
  int no_graph;     /* capture failed once: plain launches from then on */
  /* resident values (backend_cuda_values.c): the function's own pointer table on the device
   * and its host copy (uploaded when it changes) */
  CUdeviceptr vtab;
  CUdeviceptr *vhost;
  CUdeviceptr arena;  /* its own arena (resident values, training steps), or 0 */
  size_t arena_size;
} CudaFn;

typedef struct CudaTrain CudaTrain;
typedef struct CudaLt CudaLt;
struct BackendState {
  const Module *m;
  Cu cu;
  int dev, arch;
  CUcontext ctx;
  void *blas;
  CudaFn *fns;
  int nfns, cap;
  CUdeviceptr arena;
  size_t arena_size;
  DevParam *params;     /* per module parameter (index as in m->params) */
  CUmodule util;        /* cuda_bf16_copy_src */
  CUfunction to_bf16;
  void *stream;         /* with graphs: the stream plans are captured on and replayed (else 0) */
  /* resident values (backend_cuda_values.c) */
  CUmodule vmod;        /* cuda_value_ops_src */
  CUfunction convert, set_int, flag_or;
  CUdeviceptr bads;     /* one failure flag per function (CUDA_MAX_FNS ints), for work not waited on */
  const ParamStore *held; /* BackendDev.hold: parameters not checked again while this store is held */
  struct { CUdeviceptr p; size_t cap; } *pool; int npool, cappool; /* released value buffers */
  int64_t up, down;     /* transfers (BackendDev.transfers) */
  DlmErr values_err;    /* set: why resident values are unavailable (the value kernels did not load) */
  CudaTrain *train;     /* backend_cuda_train.c: the resident training state, or NULL */
  CudaLt *lt;           /* backend_cuda_lt.c: cuBLASLt for gemm epilogues, or NULL */
  char lt_why[256];     /* why cuBLASLt is unavailable (set at open) or why an epilogue fell back last */
};

#define CUDA_MAX_FNS 1024   /* functions per backend state (failure flag slots) */

/* One run's buffers: the pointer table V (2 * nnodes + 1 entries: node buffers, then matmul
 * scratch), the bf16 copies of resident parameters V16, the arena bytes used (total, of which the
 * last vbytes + 256 hold the host path's pointer table and failure flag). */
typedef struct {
  int64_t sv[DLM_MAX_SYMS];
  CUdeviceptr *V, *V16;
  size_t total, vbytes;
  double upbytes;   /* parameter bytes uploaded */
} Layout;

SrcLoc cuda_noloc(void);
const char *cu_err(const Cu *cu, CUresult r);
/* f's compiled kernels (generated, compiled and loaded on first use; at most CUDA_MAX_FNS per
 * state, each owning the failure-flag slot at its index), or NULL with *e set */
CudaFn *cuda_get_fn(BackendState *s, const Func *f, DlmErr *e);
/* make the state's context current on this thread: 1, or 0 with *e set */
int cuda_make_current(BackendState *s, DlmErr *e);
/* the start of every call of f: argument nodes into argn (256 entries), the symbol values bound
 * from the argument shapes (and presym) into L->sv (L zeroed first), the context made current;
 * returns f's kernels, or NULL with *e set */
CudaFn *cuda_call_begin(BackendState *s, const Func *f, const Node **argn, Tensor *const *args, const int64_t *presym, Layout *L,
                        DlmErr *e);
size_t cuda_storage_size(DType t);
int64_t cuda_numel(const Type *t, const int64_t *sv);
/* lay out f's buffers for the symbol values in L->sv: resident parameters, then the arguments
 * (alias[a] != 0: argument a is read where it is, at that device address), results and scratch
 * in the backend's arena, or with own in the function's own arena (so its addresses do not move
 * when other functions need more), grown when too small. L->V/V16 are malloc'd (free with
 * cuda_layout_free). */
int cuda_layout(BackendState *s, CudaFn *fn, const ParamStore *ps, const CUdeviceptr *alias, int own, Layout *L, DlmErr *e);
void cuda_layout_free(Layout *L);
/* upload host arguments (converted to their storage) and the parameters that are not resident
 * into their buffers of layout L */
int cuda_upload_args(BackendState *s, CudaFn *fn, const Layout *L, const ParamStore *ps, Tensor *const *args, DlmErr *e);
/* fn's own pointer table on the device (fn->vtab) = L->V, uploaded when it changed */
int cuda_fn_table(BackendState *s, CudaFn *fn, const Layout *L, DlmErr *e);
/* queue fn's launch plan (kernels and gemms) on s->stream */
int cuda_launch_all(BackendState *s, CudaFn *fn, const CUdeviceptr *V, const CUdeviceptr *V16, CUdeviceptr Vdev, CUdeviceptr bad,
                    const int64_t *sv, DlmErr *e);
/* queue the work emit(s, ctx) for fn: as a CUDA graph (replayed while key is the same) when the
 * backend has a stream for graphs, else plainly */
typedef int (*CudaEmit)(BackendState *s, void *ctx, DlmErr *e);
int cuda_run_graph(BackendState *s, CudaFn *fn, uint64_t key, CudaEmit emit, void *ctx, DlmErr *e);
uint64_t cuda_hash(const void *p, size_t n);
/* the message of failure flag value flag (1 + node id) of f */
void cuda_flag_error(const Func *f, int flag, DlmErr *e);
/* the resident device copy of parameter `name` (host tensor t, f32), uploaded again (and its
 * bf16 copy refreshed) when the host bytes changed (unless held); *up += bytes uploaded */
DevParam *cuda_resident_param(BackendState *s, const char *name, SrcLoc loc, const Tensor *t, double *up, DlmErr *e);
/* launch k with grid x block threads on s->stream */
int cuda_launch1(BackendState *s, CUfunction k, int64_t n, void **params, const char *what, DlmErr *e);

/* backend_cuda_lt.c: gemm epilogues (CudaLaunch.epi) through cuBLASLt */
void cuda_lt_open(BackendState *s);   /* failure (no libcublasLt ...): s->lt stays NULL, s->lt_why says why */
void cuda_lt_close(BackendState *s);
/* queue launch l's product with its bias + GELU epilogue (D: the operand region it writes; bias:
 * the parameter's copy in D's type): 1 done, 0 error (*e set), -1 not available (no cuBLASLt, no
 * algorithm for these sizes, a failed call: s->lt_why says which; nothing was written and the
 * caller runs the plain gemm and the fallback kernel) */
int cuda_lt_gemm(BackendState *s, const CudaFn *fn, const CudaLaunch *l, CUdeviceptr A, CUdeviceptr B, CUdeviceptr bias, CUdeviceptr D,
                 const int64_t *sv, DlmErr *e);

/* backend_cuda_train.c */
extern const BackendTrain backend_cuda_train;
void cuda_train_close(BackendState *s);

/* backend_cuda_values.c */
extern const BackendDev backend_cuda_dev;
void cuda_values_open(BackendState *s);   /* failure: s->values_err set, host tensors still work */
void cuda_values_close(BackendState *s);
#endif
