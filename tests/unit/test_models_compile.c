/* test_models_compile.c — every .dsl file directly in models/ and in docs/examples/ compiles with the frontend,
 * and the model files export what the runtime expects (functions with the documented signatures,
 * the samplers). Run from the repository root. */
#include "check.h"
#include "frontend.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Compiles every *.dsl directly inside dir; returns the number of files. */
static int compile_dir(const char *dir) {
  DIR *d = opendir(dir);
  CHECK_MSG(d != NULL, "cannot open %s", dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    if (!ends_with(ent->d_name, ".dsl")) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    Module *m = dsl_compile_file(path, NULL, 0, stderr);
    CHECK_MSG(m != NULL, "%s does not compile", path);
    if (m) ir_module_free(m);
    n++;
  }
  closedir(d);
  return n;
}

/* f exists and its output `out` has the given printed type. */
static void check_out(const Module *m, const char *fn, int out, const char *type) {
  const Func *f = ir_func_find(m, fn);
  CHECK_MSG(f != NULL, "%s: no function %s", m->name, fn);
  if (!f) return;
  CHECK_MSG(out < f->nout, "%s.%s has %d outputs", m->name, fn, f->nout);
  if (out >= f->nout) return;
  char buf[128];
  type_str(m, &f->nodes[f->outs[out]].type, buf, sizeof buf);
  CHECK_MSG(strcmp(buf, type) == 0, "%s.%s output %d is %s, expected %s", m->name, fn, out, buf, type);
}

static int has_sched(const Module *m, const char *name) {
  for (int i = 0; i < m->nscheds; i++)
    if (strcmp(m->scheds[i]->name, name) == 0) return 1;
  return 0;
}

static void check_mdlm(void) {
  Module *m = dsl_compile_file("models/mdlm.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return;
  check_out(m, "logits", 0, "f32[B,128,257]");
  check_out(m, "denoise", 0, "f32[B,128,257]");
  check_out(m, "loss", 0, "f32");
  const Func *f = ir_func_find(m, "loss");
  if (f) CHECK(f->nargs == 3);
  CHECK(has_sched(m, "ancestral"));
  ir_module_free(m);
}

static void check_duo(void) {
  DslDefine d[] = {{"vocab", "100"}, {"seq_len", "16"}};
  Module *m = dsl_compile_file("models/duo.dsl", d, 2, stderr);
  CHECK(m != NULL);
  if (!m) return;
  check_out(m, "logits", 0, "f32[B,16,100]");
  check_out(m, "denoise", 0, "f32[B,16,100]");
  check_out(m, "logits_soft", 0, "f32[B,16,100]");
  check_out(m, "loss", 0, "f32");
  CHECK(has_sched(m, "ancestral"));
  ir_module_free(m);
}

static void check_examples(void) {
  Module *m = dsl_compile_file("docs/examples/bd3lm_train_mask.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (m) { check_out(m, "denoise_train", 0, "f32[B,32,65]"); ir_module_free(m); }
  m = dsl_compile_file("docs/examples/block_sampler.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (m) {
    CHECK(has_sched(m, "blockwise"));
    int cached = 0, breaks = 0;  /* loop b cache(exact) { loop i { ...; break if ... } } */
    for (int i = 0; i < m->nscheds; i++)
      for (int j = 0; j < m->scheds[i]->nbody; j++) {
        const SchedStmt *s = &m->scheds[i]->body[j];
        if (s->kind != SS_LOOP || !s->cache_policy || strcmp(s->cache_policy, "exact") != 0) continue;
        cached++;
        for (int k = 0; k < s->nbody; k++)
          if (s->body[k].kind == SS_LOOP)
            for (int l = 0; l < s->body[k].nbody; l++) breaks += s->body[k].body[l].kind == SS_BREAK_IF;
      }
    CHECK(cached == 1);
    CHECK(breaks == 1);
    ir_module_free(m);
  }
}

int main(void) {
  CHECK(compile_dir("models") >= 2);
  CHECK(compile_dir("docs/examples") >= 3);
  check_mdlm();
  check_duo();
  check_examples();
  return check_summary("test_models_compile");
}
