/* test_passes_models.c — every pass, and the whole pipeline, on the real models: each
 * .dsl file of models/ is compiled small (the -D values below), every function is run by the interpreter
 * on random inputs before and after the pass, and the outputs must be exactly equal in float64
 * mode (scale_fold, and so the whole pipeline, reassociates products: within 1e-12). The pipeline's result must be a
 * fixpoint: no pass changes it again. Run from the repository root. */
#include "frontend.h"
#include "passes_check.h"
#include <dirent.h>

static const DslDefine small[] = {
  {"vocab", "11"}, {"seq_len", "8"}, {"layers", "1"}, {"dim", "16"}, {"heads", "2"}, {"cond_dim", "8"},
};

static int whole_pipeline(Module *m, DlmErr *e) { return pass_pipeline_run(m, NULL, e) ? 0 : -1; }

static void check_model(const char *path) {
  int64_t symval[DLM_MAX_SYMS];
  for (int i = 0; i < DLM_MAX_SYMS; i++) symval[i] = 2;  /* B = 2 */
  int n;
  const Pass *p = pass_table(&n);
  for (int i = 0; i <= n; i++) {
    Module *m = dsl_compile_file(path, small, (int)(sizeof small / sizeof *small), stderr);
    CHECK_MSG(m != NULL, "%s does not compile", path);
    if (!m) return;
    CHECK_MSG(m->nfuncs > 0 && m->nfuncs <= 24, "%s: %d functions", path, m->nfuncs);
    int runnable = 0;
    for (int k = 0; k < m->nfuncs; k++) {
      runnable += pc_runnable(m->funcs[k]);
      if (i == 0 && !pc_runnable(m->funcs[k]))
        printf("%s: %s not run: a symbol it uses is not bound by its arguments\n", path, m->funcs[k]->name);
    }
    CHECK_MSG(runnable >= 3, "%s: only %d functions can run", path, runnable);
    const char *name = i < n ? p[i].name : "pipeline";
    int changes;
    double d = pc_pass_diff(m, i < n ? p[i].run : whole_pipeline, symval, 2, DT_F64, &changes);
    double tol = i == n || p[i].run == pass_scale_fold ? 1e-12 : 0;  /* the pipeline runs scale_fold too */
    CHECK_MSG(d >= 0 && d <= tol, "%s: %s: difference %g", path, name, d);
    if (i == n) {
      DlmErr e = {0};
      for (int k = 0; k < n; k++) CHECK_MSG(p[k].run(m, &e) == 0, "%s: %s changed the pipeline's result", path, p[k].name);
    }
    printf("%s: %-12s changes %d, max difference %g\n", path, name, changes, d);
    ir_module_free(m);
  }
}

int main(void) {
  DIR *dir = opendir("models");
  CHECK_MSG(dir != NULL, "run from the repository root: no models/ directory");
  int nmodels = 0;
  struct dirent *de;
  while (dir && (de = readdir(dir))) {
    size_t len = strlen(de->d_name);
    if (len < 5 || strcmp(de->d_name + len - 4, ".dsl")) continue;
    char path[512];
    snprintf(path, sizeof path, "models/%s", de->d_name);
    check_model(path);
    nmodels++;
  }
  if (dir) closedir(dir);
  CHECK_MSG(nmodels >= 2, "found %d models", nmodels);
  return check_summary("test_passes_models");
}
