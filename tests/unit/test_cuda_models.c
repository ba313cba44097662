/* test_cuda_models.c — the CUDA backend against the CPU backend on every function of
 * models/mdlm.dsl and models/duo.dsl (exported ones, sampler step functions) and the gradient of
 * each `loss`, at a small size, with the same random parameters and arguments, twice: with fp32
 * matrix products ($DLM_CUDA_GEMM=f32) every float output within the normalized error 1e-4 and every
 * integer output (sampled tokens) identical, with and without elementwise fusion
 * ($DLM_CUDA_FUSE=0), and (MDLM) with the plans captured and launched as CUDA graphs
 * ($DLM_CUDA_GRAPHS=1); then as configured for speed (bf16 products, fp32
 * accumulation) within 3e-2 (forward outputs) or 1e-1 (parameter gradients, which pass through
 * about 26 bf16 products: docs/cuda.md derives it, test_cuda_emul_bf16 measures 0.01-0.035 for
 * the operand rounding alone) and at most 5% of the tokens differing (a bf16 product can flip a
 * near tie; every difference is printed). With fp32 products (MDLM), the runtime paths that keep
 * state on the device: the ancestral sampler with resident loop state (plain and with CUDA
 * graphs) gives the host path's tokens exactly (also run a second time) and transfers nothing
 * inside its loop after the first iteration (which uploads each function's pointer table); a sampler with `break if` in nested loops gives the interpreter's results with the
 * break flag read every 3 iterations; and two device training steps (BackendTrain: norm, clip,
 * AdamW, EMA on the device) match the host optimizer (runtime/optim.c) applied to the CUDA
 * backend's gradients within 1e-4 (weights, EMA) and 1e-3 (moments) normalized error (the
 * gradients' atomic sums and the norm's summation order differ). In every fused mode the DiT
 * MLPs' bias + GELU must have run as cuBLASLt epilogues of the first MLP gemm (a fallback fails,
 * with its reason), and MDLM runs once more with DLM_CUDA_LT=0 (the fallback operand kernels
 * must run instead, within 1e-4 too). Without a usable GPU, opening the
 * backend must fail with "no CUDA device: <reason>" (checked) and the test then skips (77). */
#include "sched_break_src.h"
#include "sched_exec.h"
#include "test_cpu_fixture.h"
#include "train.h"

static double gpu_tol = 1e-4, gpu_tol_grad = 1e-4, token_frac = 0;
static const char *mode = "fp32 gemm";

static const DslDefine small[] = {{"vocab", "37"}, {"seq_len", "16"}, {"layers", "2"},
                                  {"dim", "32"}, {"heads", "2"}, {"cond_dim", "16"}};

static void make_args(const Func *f, Tensor **args) {
  for (int id = 0; id < f->nnodes; id++) {
    const Node *n = &f->nodes[id];
    if (n->op != OP_ARG) continue;
    int64_t shape[DLM_MAX_RANK];
    for (int d = 0; d < n->type.rank; d++) shape[d] = n->type.dims[d].k * (n->type.dims[d].syms ? 3 : 1);
    DType t = n->type.dtype;
    double lo = dtype_is_float(t) ? 0.1 : t == DT_BOOL ? 0 : n->type.rank ? 0 : 3;
    double hi = dtype_is_float(t) ? 0.9 : t == DT_BOOL ? 2 : n->type.rank ? 37 : 40;
    args[n->attr.i[0]] = cpu_rand_tensor(t, n->type.rank, shape, lo, hi);
  }
}

static int tokens_close(const char *what, const Tensor *got, const Tensor *want) {
  if (!got || !want || got->numel != want->numel) { fprintf(stderr, "%s: shapes differ\n", what); return 0; }
  int64_t diff = 0;
  for (int64_t k = 0; k < want->numel; k++)
    if (tensor_get(got, k) != tensor_get(want, k)) {
      fprintf(stderr, "%s: element %lld is %g on cuda, %g on cpu\n", what, (long long)k, tensor_get(got, k), tensor_get(want, k));
      diff++;
    }
  return (double)diff <= token_frac * (double)want->numel;
}

/* the normalized error |a - b|_2 / |b|_2 of float outputs (inf when NaN/inf places differ), or for
 * integer outputs the fraction of differing elements */
static double diff_measure(const Tensor *got, const Tensor *want) {
  if (!got || !want || got->numel != want->numel) return INFINITY;
  double num = 0, den = 0;
  int64_t ndiff = 0;
  for (int64_t k = 0; k < want->numel; k++) {
    double a = tensor_get(got, k), b = tensor_get(want, k);
    if (!dtype_is_float(want->dtype)) { ndiff += a != b; continue; }
    if (!isfinite(a) || !isfinite(b)) {
      if (!((isnan(a) && isnan(b)) || a == b)) return INFINITY;
      continue;
    }
    num += (a - b) * (a - b);
    den += b * b;
  }
  if (!dtype_is_float(want->dtype)) return want->numel ? (double)ndiff / (double)want->numel : 0;
  return sqrt(num) / (den > 0 ? sqrt(den) : 1);
}

/* gemm epilogues of the functions compared by one check_model: run in cuBLASLt, fallen back */
static int epi_lt, epi_fallback;
static char epi_why[256];

static void compare(const char *what, const Func *f, BackendState *gpu, BackendState *cpu, const ParamStore *ps, Tensor *const *args) {
  Tensor *want[128] = {0}, *got[128] = {0};
  DlmErr e1 = {0}, e2 = {0};
  if (f->nout > 128) { CHECK_MSG(0, "%s: too many outputs", what); return; }
  int ok1 = backend_cpu.run(cpu, f, ps, args, want, NULL, &e1);
  int ok2 = backend_cuda.run(gpu, f, ps, args, got, NULL, &e2);
  int lt = 0, fb = 0;
  const char *why = "";
  backend_cuda_last_epilogues(&lt, &fb, &why);
  epi_lt += lt;
  epi_fallback += fb;
  if (fb) snprintf(epi_why, sizeof epi_why, "%s", why);
  CHECK_MSG(ok1 == ok2, "%s: cpu %s (%s), cuda %s (%s)", what, ok1 ? "ran" : "failed", e1.msg, ok2 ? "ran" : "failed", e2.msg);
  if (!ok1 || !ok2) printf("| cuda vs cpu (%s): %s | cpu: %s / cuda: %s | %s |\n", mode, what, ok1 ? "ran" : e1.msg, ok2 ? "ran" : e2.msg, ok1 == ok2 ? "PASS (both refuse)" : "FAIL");
  for (int k = 0; ok1 && ok2 && k < f->nout; k++) {
    char nm[256];
    snprintf(nm, sizeof nm, "%.100s output %d (%.100s)", what, k, f->outnames && f->outnames[k] ? f->outnames[k] : "?");
    double tol = strcmp(f->name, "loss.grad") == 0 && k > 0 ? gpu_tol_grad : gpu_tol;
    int ok = dtype_is_float(want[k]->dtype) ? cpu_close_enough(nm, got[k], want[k], tol) : tokens_close(nm, got[k], want[k]);
    CHECK_MSG(ok, "%s: cuda differs from cpu", nm);
    printf("| cuda vs cpu (%s): %s | %s %.3g (limit %.3g) | %s |\n", mode, nm,
           dtype_is_float(want[k]->dtype) ? "norm. error" : "fraction of tokens differing", diff_measure(got[k], want[k]),
           dtype_is_float(want[k]->dtype) ? tol : token_frac, ok ? "PASS" : "FAIL");
  }
  for (int k = 0; k < f->nout; k++) {
    tensor_free(want[k]);
    tensor_free(got[k]);
  }
}

static void check_model(const char *path, BackendState **gpu_io) {
  Module *m = cpu_compile_model(path, small, (int)(sizeof small / sizeof *small), 0);
  if (!m) return;
  DlmErr e = {0};
  ParamStore *ps = cpu_random_params(m);
  BackendState *cpu = backend_cpu.open(m, &e), *gpu = backend_cuda.open(m, &e);
  CHECK_MSG(cpu != NULL, "%s: cpu open: %s", path, e.msg);
  *gpu_io = gpu;
  epi_lt = epi_fallback = 0;
  epi_why[0] = 0;
  for (int i = 0; gpu && cpu && i < m->nfuncs; i++) {
    const Func *f = m->funcs[i];
    Tensor *args[64] = {0};
    if (f->nargs > 64) continue;
    make_args(f, args);
    char what[256];
    snprintf(what, sizeof what, "%s %s", path, f->name);
    compare(what, f, gpu, cpu, ps, args);
    for (int a = 0; a < f->nargs; a++) tensor_free(args[a]);
  }
  /* fused, the DiT MLPs' first gemm carries bias + GELU as a cuBLASLt epilogue: the comparisons
   * above checked that path only if it ran (DLM_CUDA_LT=0: the fallback must run instead) */
  const char *fz = getenv("DLM_CUDA_FUSE"), *lt = getenv("DLM_CUDA_LT");
  if (gpu && cpu && !(fz && !strcmp(fz, "0"))) {
    int want_lt = !(lt && !strcmp(lt, "0"));
    int ok = want_lt ? epi_lt > 0 && epi_fallback == 0 : epi_lt == 0 && epi_fallback > 0;
    CHECK_MSG(ok, "%s: gemm epilogues: %d in cuBLASLt, %d fell back (%s)", path, epi_lt, epi_fallback, epi_why);
    printf("| cuda gemm epilogues (%s): %s, bias + GELU | %d ran in cuBLASLt, %d fell back to the operand kernel%s%s | %s |\n", mode, path,
           epi_lt, epi_fallback, epi_fallback ? ": " : "", epi_why, ok ? "PASS" : "FAIL");
  }
  if (gpu) backend_cuda.close(gpu);
  if (cpu) backend_cpu.close(cpu);
  pstore_free(ps);
  ir_module_free(m);
}

/* the ancestral sampler, host path against resident values, on the CUDA backend */
static void check_resident_sampler(const char *path) {
  Module *m = cpu_compile_model(path, small, (int)(sizeof small / sizeof *small), 0);
  if (!m) return;
  DlmErr e = {0};
  ParamStore *ps = cpu_random_params(m);
  BackendState *gpu = backend_cuda.open(m, &e);
  const Sched *s = NULL;
  for (int i = 0; i < m->nscheds; i++)
    if (!strcmp(m->scheds[i]->name, "ancestral")) s = m->scheds[i];
  CHECK_MSG(gpu && s, "%s: %s", path, gpu ? "no ancestral sampler" : e.msg);
  int64_t symval[DLM_MAX_SYMS] = {0};
  symval[ir_sym_find(m, "B")] = 2;
  SchedKnob knobs[1] = {{"steps", "8"}};
  Tensor *host[1] = {0}, *res[1] = {0}, *again[1] = {0};
  SchedDev dh = {1, 0, 0, 0, 0, 0, 0}, d1 = {2, 0, 0, 0, 0, 0, 0}, d2 = {2, 0, 0, 0, 0, 0, 0};
  int ok = gpu && s && sched_run_dev(m, s, &backend_cuda, gpu, ps, knobs, 1, symval, NULL, NULL, &dh, host, &e);
  ok = ok && sched_run_dev(m, s, &backend_cuda, gpu, ps, knobs, 1, symval, NULL, NULL, &d1, res, &e);
  ok = ok && sched_run_dev(m, s, &backend_cuda, gpu, ps, knobs, 1, symval, NULL, NULL, &d2, again, &e);
  CHECK_MSG(ok, "%s: ancestral: %s", path, e.msg);
  int same = ok && host[0]->numel == res[0]->numel && !memcmp(host[0]->data, res[0]->data, (size_t)host[0]->numel * 4) &&
             !memcmp(host[0]->data, again[0]->data, (size_t)host[0]->numel * 4);
  CHECK_MSG(same, "%s (%s): resident tokens differ from the host path's", path, mode);
  int quiet = ok && d1.steady_transfers == 0 && d2.steady_transfers == 0;
  CHECK_MSG(quiet, "%s (%s): %lld, %lld transfers after the first iteration of the resident loop", path, mode, (long long)d1.steady_transfers,
            (long long)d2.steady_transfers);
  printf("| cuda resident sampler loop (%s): %s ancestral, 8 steps, B 2 | tokens %s the host path's; transfers in the loop: host path %lld, "
         "resident %lld and %lld (two runs), of which after the first iteration %lld and %lld | %s |\n",
         mode, path, same ? "identical to" : "DIFFER from", (long long)dh.loop_transfers, (long long)d1.loop_transfers,
         (long long)d2.loop_transfers, (long long)d1.steady_transfers, (long long)d2.steady_transfers, same && quiet ? "PASS" : "FAIL");
  tensor_free(host[0]);
  tensor_free(res[0]);
  tensor_free(again[0]);
  if (gpu) backend_cuda.close(gpu);
  pstore_free(ps);
  ir_module_free(m);
}

/* `break if` in nested loops with resident values on the device: the interpreter's results */
static void check_resident_breaks(void) {
  int64_t symval[DLM_MAX_SYMS] = {0};
  Module *m = sched_break_module(symval);
  if (!m) return;
  DlmErr e = {0};
  BackendState *in = backend_interp.open(m, &e), *gpu = backend_cuda.open(m, &e);
  const char *lims[3] = {"40", "1000", "5"};
  for (int l = 0; in && gpu && l < 3; l++) {
    SchedKnob knobs[1] = {{"lim", lims[l]}};
    SchedDev dh = {1, 0, 0, 0, 0, 0, 0}, dr = {2, 3, 0, 0, 0, 0, 0};
    Tensor *want[2] = {0}, *got[2] = {0};
    int ok = sched_run_dev(m, m->scheds[0], &backend_interp, in, NULL, knobs, 1, symval, NULL, NULL, &dh, want, &e);
    ok = ok && sched_run_dev(m, m->scheds[0], &backend_cuda, gpu, NULL, knobs, 1, symval, NULL, NULL, &dr, got, &e);
    CHECK_MSG(ok, "brk lim %s: %s", lims[l], e.msg);
    int same = ok;
    for (int k = 0; same && k < 2; k++) same = want[k]->numel == got[k]->numel && !memcmp(want[k]->data, got[k]->data, (size_t)want[k]->numel * 4);
    CHECK_MSG(same, "brk lim %s: cuda resident results differ from the interpreter's", lims[l]);
    printf("| cuda resident loops with break (%s): lim %s, flag read every 3 iterations | %s the interpreter; %lld flag reads | %s |\n", mode,
           lims[l], same ? "same results as" : "DIFFERENT from", (long long)dr.flag_reads, same ? "PASS" : "FAIL");
    for (int k = 0; k < 2; k++) { tensor_free(want[k]); tensor_free(got[k]); }
  }
  if (in) backend_interp.close(in);
  if (gpu) backend_cuda.close(gpu);
  ir_module_free(m);
}

static double norm_err(const ParamStore *a, const ParamStore *b) {
  double num = 0, den = 0;
  for (int i = 0; i < b->n; i++) {
    const Tensor *x = pstore_get(a, b->names[i]), *y = b->tensors[i];
    if (!x || x->numel != y->numel) return INFINITY;
    for (int64_t k = 0; k < y->numel; k++) {
      double d = tensor_get(x, k) - tensor_get(y, k);
      num += d * d;
      den += tensor_get(y, k) * tensor_get(y, k);
    }
  }
  return sqrt(num) / (den > 0 ? sqrt(den) : 1);
}

static ParamStore *clone_store(const ParamStore *ps, int zero) {
  ParamStore *c = pstore_new();
  for (int i = 0; c && i < ps->n; i++) {
    Tensor *t = zero ? tensor_new(ps->tensors[i]->dtype, ps->tensors[i]->rank, ps->tensors[i]->shape) : tensor_clone(ps->tensors[i]);
    if (!pstore_put(c, ps->names[i], t)) { pstore_free(c); return NULL; }
  }
  return c;
}

/* two device training steps against the host optimizer on the CUDA gradients */
static void check_device_train(const char *path) {
  Module *m = cpu_compile_model(path, small, (int)(sizeof small / sizeof *small), 0);
  if (!m) return;
  DlmErr e = {0};
  const Func *g = ir_func_find(m, "loss.grad");
  ParamStore *w = cpu_random_params(m);
  ParamStore *hw = clone_store(w, 0), *hema = clone_store(w, 0), *hm = clone_store(w, 1), *hv = clone_store(w, 1);
  ParamStore *dw = clone_store(w, 0), *dema = clone_store(w, 0), *dm = clone_store(w, 1), *dv = clone_store(w, 1);
  BackendState *ref = backend_cuda.open(m, &e), *dev = ref ? backend_cuda.open(m, &e) : NULL;
  int *gidx = calloc((size_t)m->nparams + 1, sizeof *gidx);
  int ok = g && ref && dev && gidx && hw && hema && hm && hv && dw && dema && dm && dv;
  CHECK_MSG(ok, "%s: device training setup: %s", path, e.msg);
  for (int i = 0; ok && i < m->nparams; i++) {
    gidx[i] = -1;
    for (int k = 1; k < g->nout; k++)
      if (g->outnames && g->outnames[k] && !strncmp(g->outnames[k], "grad:", 5) && !strcmp(g->outnames[k] + 5, m->params[i].name)) gidx[i] = k;
  }
  ok = ok && backend_cuda.train->begin(dev, dw, dema, dm, dv, &e);
  CHECK_MSG(ok, "%s: begin: %s", path, e.msg);
  OptConfig c = {.lr = 1e-3, .warmup = 0, .steps = 10, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01, .clip = 1.0, .ema = 0.99};
  double lref = 0, nref = 0, ldev = 0, ndev = 0;
  for (int64_t t = 1; ok && t <= 2; t++) {
    Tensor *args[3] = {0}, *outs[512] = {0};
    make_args(g, args);
    if (g->nout > 512) { ok = 0; break; }
    ok = backend_cuda.run(ref, g, hw, args, outs, NULL, &e);
    CHECK_MSG(ok, "%s: loss.grad: %s", path, e.msg);
    if (ok) {
      Tensor *grads[512];
      int n = 0;
      for (int i = 0; i < m->nparams; i++)
        if (gidx[i] >= 0) grads[n++] = outs[gidx[i]];
      lref = tensor_get(outs[0], 0);
      nref = grad_global_norm(grads, n);
      double scale = clip_factor(nref, c.clip), lr = lr_at(&c, t), d = ema_decay(c.ema, t);
      for (int i = 0; i < m->nparams; i++) {
        const char *nm = m->params[i].name;
        if (gidx[i] >= 0) adamw_update(&c, t, lr, scale, pstore_get(hw, nm), outs[gidx[i]], pstore_get(hm, nm), pstore_get(hv, nm));
        ema_update(d, pstore_get(hema, nm), pstore_get(hw, nm));
      }
      BackendOptStep o = {t, lr, c.beta1, c.beta2, c.eps, c.weight_decay, c.clip, d};
      ok = backend_cuda.train->step(dev, g, gidx, args, &o, &ldev, &ndev, &e);
      CHECK_MSG(ok, "%s: device step %lld: %s", path, (long long)t, e.msg);
    }
    for (int k = 0; k < g->nout; k++) tensor_free(outs[k]);
    for (int a = 0; a < 3; a++) tensor_free(args[a]);
  }
  ok = ok && backend_cuda.train->sync(dev, &e);
  double ew = ok ? norm_err(dw, hw) : INFINITY, ee = ok ? norm_err(dema, hema) : INFINITY;
  double em = ok ? norm_err(dm, hm) : INFINITY, ev = ok ? norm_err(dv, hv) : INFINITY;
  int pass = ok && ew < 1e-4 && ee < 1e-4 && em < 1e-3 && ev < 1e-3 && fabs(ldev - lref) <= 1e-5 * fabs(lref) && fabs(ndev - nref) <= 1e-4 * nref;
  CHECK_MSG(pass, "%s: device training: weights %.3g ema %.3g m %.3g v %.3g loss %.9g/%.9g norm %.9g/%.9g (%s)", path, ew, ee, em, ev, ldev,
            lref, ndev, nref, e.msg);
  printf("| cuda device training step (%s): %s, 2 steps vs the host optimizer | norm. error weights %.3g, EMA %.3g, m %.3g, v %.3g; "
         "loss %.6g vs %.6g; grad norm %.6g vs %.6g | %s |\n",
         mode, path, ew, ee, em, ev, ldev, lref, ndev, nref, pass ? "PASS" : "FAIL");
  if (dev) backend_cuda.train->end(dev);
  if (dev) backend_cuda.close(dev);
  if (ref) backend_cuda.close(ref);
  free(gidx);
  pstore_free(w); pstore_free(hw); pstore_free(hema); pstore_free(hm); pstore_free(hv);
  pstore_free(dw); pstore_free(dema); pstore_free(dm); pstore_free(dv);
  ir_module_free(m);
}

/* argv[1], if given: the one model to check (check.sh runs the models in parallel) */
int main(int argc, char **argv) {
  cpu_test_env();
  BackendState *gpu = NULL;
  const char *only = argc > 1 ? argv[1] : NULL;
  setenv("DLM_CUDA_GEMM", "f32", 1);
  check_model(only ? only : "models/mdlm.dsl", &gpu);
  if (!gpu) {
    /* no device here: the error must say so, plainly */
    Module *m = ir_module_new("empty");
    DlmErr e = {0};
    BackendState *s = backend_cuda.open(m, &e);
    CHECK_MSG(s == NULL && strncmp(e.msg, "no CUDA device: ", 16) == 0, "cuda open without a device: '%s'", e.msg);
    if (s) backend_cuda.close(s);
    ir_module_free(m);
    int failed = check_failed;
    check_summary("test_cuda_models");
    if (failed) return 1;
    printf("test_cuda_models: skipped (%s)\n", e.msg);
    return 77;
  }
  if (!only) check_model("models/duo.dsl", &gpu);
  /* the same without elementwise fusion: tells a fusion bug from a kernel bug */
  setenv("DLM_CUDA_FUSE", "0", 1);
  mode = "fp32 gemm, unfused";
  check_model(only ? only : "models/mdlm.dsl", &gpu);
  if (!only) check_model("models/duo.dsl", &gpu);
  unsetenv("DLM_CUDA_FUSE");
  /* without cuBLASLt: the epilogues' fallback kernels */
  setenv("DLM_CUDA_LT", "0", 1);
  mode = "fp32 gemm, DLM_CUDA_LT=0";
  check_model(only ? only : "models/mdlm.dsl", &gpu);
  unsetenv("DLM_CUDA_LT");
  /* state kept on the device: resident sampler loops, the device training step */
  mode = "fp32 gemm";
  if (!only || strstr(only, "mdlm")) {
    check_resident_sampler("models/mdlm.dsl");
    check_resident_breaks();
    check_device_train("models/mdlm.dsl");
  }
  /* the plans captured as CUDA graphs and launched (each function's first call captures) */
  setenv("DLM_CUDA_GRAPHS", "1", 1);
  mode = "fp32 gemm, CUDA graphs";
  check_model(only ? only : "models/mdlm.dsl", &gpu);
  if (!only || strstr(only, "mdlm")) {
    check_resident_sampler("models/mdlm.dsl");
    check_device_train("models/mdlm.dsl");
  }
  unsetenv("DLM_CUDA_GRAPHS");
  setenv("DLM_CUDA_GEMM", "bf16", 1);
  gpu_tol = 3e-2;
  gpu_tol_grad = 1e-1; /* docs/cuda.md "bf16 tolerance"; measured by test_cuda_emul_bf16 */
  token_frac = 0.05;
  mode = "bf16 gemm";
  check_model(only ? only : "models/mdlm.dsl", &gpu);
  if (!only) check_model("models/duo.dsl", &gpu);
  return check_summary("test_cuda_models");
}
