/* cuda_target.c — `dlmc compile --target cuda`: generates the CUDA unit of every function of the
 * module (adding loss.grad and the other objectives' gradients, as the artifact does), so an op
 * without a CUDA kernel is a compile-time error naming the op; with --emit cuda it writes the CUDA
 * C sources (one FUNCTION.cu per function into a directory, or all to stdout), with --stats it
 * prints per function the launches after and before the fusion of codegen/cuda_emit.c and the
 * bytes of intermediates no longer written, and for a DSL model with a `layers` const the
 * launches one more block adds (the model compiled again with layers = 1 and 2). */
#include "autodiff.h"
#include "cuda_emit.h"
#include "frontend.h"
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

/* the launches of f's unit (fused or not) with its gemm epilogues (*fallback: without them); -1
 * with *e set on failure */
static int launches(const Module *m, const Func *f, int fuse, int *gemms, int *fallback, DlmErr *e) {
  CudaUnit u;
  if (!cuda_emit_func_fuse(m, f, fuse, &u, e)) return -1;
  int g = 0;
  for (int k = 0; k < u.nlaunch; k++) g += u.launch[k].kind == CL_GEMM;
  if (gemms) *gemms = g;
  if (fallback) *fallback = cuda_unit_launches(&u, 1);
  int n = cuda_unit_launches(&u, 0);
  cuda_unit_free(&u);
  return n;
}

/* m's source compiled again with every const as it was but `layers` = L, with loss.grad */
static Module *recompile(const Module *m, int L, DlmErr *e) {
  DslDefine defs[64];
  char lv[16];
  snprintf(lv, sizeof lv, "%d", L);
  int nd = 0;
  for (int i = 0; i < m->nmeta && nd < 64; i++) {
    /* consts only: other metadata (tokenizer, frozen_copy:NAME ...) is not an identifier or not a const */
    const char *k = m->meta_keys[i];
    int ident = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_';
    for (const char *p = k; ident && *p; p++) ident = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (!ident || strcmp(k, "tokenizer") == 0) continue;
    defs[nd].name = m->meta_keys[i];
    defs[nd].value = strcmp(m->meta_keys[i], "layers") == 0 ? lv : m->meta_vals[i];
    nd++;
  }
  FILE *quiet = fopen("/dev/null", "w");
  Module *r = dsl_compile_file(m->files[0], defs, nd, quiet ? quiet : stderr);
  if (quiet) fclose(quiet);
  if (!r) { err_set(e, (SrcLoc){0, 0, 0}, "%s does not compile again with layers=%d", m->files[0], L); return NULL; }
  PassOptions po = {0};
  Func *loss = ir_func_find(r, "loss");
  if (!pass_pipeline_run(r, &po, e) || (loss && (!ad_grad(r, loss, 0, NULL, 0, 1, e) || !pass_pipeline_run(r, &po, e)))) {
    ir_module_free(r);
    return NULL;
  }
  return r;
}

int cuda_block_launches(const Module *m, CudaBlockLaunches *out, DlmErr *e) {
  memset(out, 0, sizeof *out);
  const char *src = m->nfiles > 0 ? m->files[0] : NULL;
  size_t n = src ? strlen(src) : 0;
  if (!ir_meta_get(m, "layers") || n < 4 || strcmp(src + n - 4, ".dsl") != 0) {
    err_set(e, (SrcLoc){0, 0, 0}, "the module is not a DSL model with a `layers` const");
    return 0;
  }
  Module *one = recompile(m, 1, e), *two = one ? recompile(m, 2, e) : NULL;
  const char *names[3] = {"logits", "loss", "loss.grad"};
  int *fields[3][3] = {{&out->forward, &out->forward_gemms, &out->forward_fallback}, {&out->loss, NULL, NULL},
                        {&out->step, &out->step_gemms, &out->step_fallback}};
  int ok = one && two;
  for (int k = 0; ok && k < 3; k++) {
    const Func *f1 = ir_func_find(one, names[k]), *f2 = ir_func_find(two, names[k]);
    if (!f1 || !f2) { err_set(e, (SrcLoc){0, 0, 0}, "the model has no function %s", names[k]); ok = 0; break; }
    int g1 = 0, g2 = 0, b1 = 0, b2 = 0, l1 = launches(one, f1, 1, &g1, &b1, e), l2 = l1 < 0 ? -1 : launches(two, f2, 1, &g2, &b2, e);
    if (l2 < 0) { ok = 0; break; }
    *fields[k][0] = l2 - l1;
    if (fields[k][1]) *fields[k][1] = g2 - g1;
    if (fields[k][2]) *fields[k][2] = b2 - b1;
  }
  if (ok) out->backward = out->step - out->loss;
  if (one) ir_module_free(one);
  if (two) ir_module_free(two);
  return ok;
}

int cuda_target(Module *m, const char *emit_dir, int emit_stdout, int stats, FILE *out, DlmErr *e) {
  int added = ad_loss_grads(m, e);
  if (added < 0) return 0;
  if (added > 0) {
    PassOptions po = {0};
    if (!pass_pipeline_run(m, &po, e)) return 0;
  }
  if (emit_dir && mkdir(emit_dir, 0777) != 0 && errno != EEXIST) {
    err_set(e, (SrcLoc){0, 0, 0}, "cannot create the directory %s: %s", emit_dir, strerror(errno));
    return 0;
  }
  if (stats) fprintf(out, "CUDA launches per function (after fusion, before fusion; bytes not written count symbols as 1):\n");
  for (int i = 0; i < m->nfuncs; i++) {
    const Func *f = m->funcs[i];
    CudaUnit u;
    if (!cuda_emit_func(m, f, &u, e)) return 0;
    int gemms = 0, epis = 0, nodes = 0, before = stats ? launches(m, f, 0, NULL, NULL, e) : 0;
    if (before < 0) { cuda_unit_free(&u); return 0; }
    for (int k = 0; k < u.nlaunch; k++) gemms += u.launch[k].kind == CL_GEMM, epis += u.launch[k].epi != 0;
    for (int id = 0; id < f->nnodes; id++) nodes += u.live[id];
    if (stats) {
      fprintf(out, "  %-16s %6d live nodes, %6d kernels + %4d cuBLAS gemms = %6d launches (%d before fusion; %d nodes fused, %d sinks; %.0f bytes of intermediates not written",
              f->name, nodes, u.nkernels - u.nalt, gemms, cuda_unit_launches(&u, 0), before, u.nfused, u.nsinks, u.fused_bytes);
      if (epis) fprintf(out, "; %d cuBLASLt bias+GELU epilogues, %d launches without cuBLASLt", epis, cuda_unit_launches(&u, 1));
      fprintf(out, ")\n");
    }
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
  if (stats && ir_meta_get(m, "layers") && ir_func_find(m, "logits")) {
    CudaBlockLaunches bl;
    DlmErr be = {0};
    if (cuda_block_launches(m, &bl, &be))
      fprintf(out, "Launches per block (layers=2 minus layers=1): forward (logits) %d (%d cuBLAS gemms; %d without cuBLASLt's epilogue), training step (loss.grad) %d (%d gemms; %d without cuBLASLt): backward %d\n",
              bl.forward, bl.forward_gemms, bl.forward_fallback, bl.step, bl.step_gemms, bl.step_fallback, bl.backward);
    else fprintf(out, "Launches per block: not computed (%s)\n", be.msg);
  }
  return 1;
}
