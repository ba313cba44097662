/* cuda_target.c — `dlmc compile --target cuda`: generates the CUDA unit of every function of the
 * module (adding loss.grad, the gradient of an exported `loss`, as the artifact does), so an op
 * without a CUDA kernel is a compile-time error naming the op; with --emit cuda it writes the CUDA
 * C sources (one FUNCTION.cu per function into a directory, or all to stdout), with --stats it
 * prints the launch counts after and before the elementwise fusion of codegen/cuda_emit.c. */
#include "autodiff.h"
#include "cuda_emit.h"
#include "passes.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* the file name for function name (dots kept, other unusual characters as '_') */
static void file_name(const char *dir, const char *fn, char *buf, size_t n) {
  int k = snprintf(buf, n, "%s/", dir);
  for (const char *p = fn; *p && (size_t)k + 4 < n; p++)
    buf[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ? *p : '_';
  snprintf(buf + k, n - (size_t)k, ".cu");
}

int cuda_target(Module *m, const char *emit_dir, int emit_stdout, int stats, FILE *out, DlmErr *e) {
  Func *loss = ir_func_find(m, "loss");
  if (loss && !ir_func_find(m, "loss.grad")) {
    PassOptions po = {0};
    if (!ad_grad(m, loss, 0, NULL, 0, 1, e) || !pass_pipeline_run(m, &po, e)) return 0;
  }
  if (emit_dir && mkdir(emit_dir, 0777) != 0 && errno != EEXIST) {
    err_set(e, (SrcLoc){0, 0, 0}, "cannot create the directory %s: %s", emit_dir, strerror(errno));
    return 0;
  }
  if (stats) fprintf(out, "CUDA launches per function (elementwise fusion; bytes not written count symbols as 1):\n");
  for (int i = 0; i < m->nfuncs; i++) {
    const Func *f = m->funcs[i];
    CudaUnit u;
    if (!cuda_emit_func(m, f, &u, e)) return 0;
    int gemms = 0, nodes = 0;
    for (int k = 0; k < u.nlaunch; k++) gemms += u.launch[k].kind == CL_GEMM;
    for (int id = 0; id < f->nnodes; id++) nodes += u.live[id];
    if (stats)
      fprintf(out, "  %-16s %6d live nodes, %6d kernels + %4d cuBLAS gemms = %6d launches (%d before fusion; %.0f bytes of intermediates not written)\n",
              f->name, nodes, u.nkernels, gemms, u.nkernels + gemms, u.nkernels + gemms + u.nfused, u.fused_bytes);
    int ok = 1;
    if (emit_stdout) fputs(u.src, out);
    else if (emit_dir) {
      char path[4096];
      file_name(emit_dir, f->name, path, sizeof path);
      FILE *fp = fopen(path, "w");
      ok = fp && fputs(u.src, fp) >= 0;
      if (fp && fclose(fp) != 0) ok = 0;
      if (!ok) err_set(e, (SrcLoc){0, 0, 0}, "cannot write %s: %s", path, strerror(errno));
    }
    cuda_unit_free(&u);
    if (!ok) return 0;
  }
  return 1;
}
