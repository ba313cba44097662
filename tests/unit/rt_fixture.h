/* rt_fixture.h — shared by the runtime tests: a tiny MDLM (models/mdlm.dsl with small consts)
 * compiled as dlmc does for an artifact (pass pipeline, then loss.grad). */
#ifndef DLM_RT_FIXTURE_H
#define DLM_RT_FIXTURE_H
#include "artifact.h"
#include "frontend.h"
#include "passes.h"

static const DslDefine rt_tiny[] = {{"seq_len", "8"}, {"layers", "1"}, {"dim", "16"}, {"heads", "2"}, {"cond_dim", "8"}};

static Module *rt_tiny_module(void) {
  Module *m = dsl_compile_file("models/mdlm.dsl", rt_tiny, 5, stderr);
  if (!m) return NULL;
  DlmErr e = {0};
  PassOptions po = {0};
  if (!pass_pipeline_run(m, &po, &e) || !artifact_prepare(m, &e)) {
    fprintf(stderr, "rt_tiny_module: %s\n", e.msg);
    ir_module_free(m);
    return NULL;
  }
  return m;
}
#endif
