/* test_frontend_models.c — compiles the test programs under tests/dsl/ and checks the IR they lower
 * to (functions, arguments, result types, parameters, schedules). With a file argument it compiles
 * that file and prints the IR instead (a manual check without dlmc). */
#include "check.h"
#include "frontend.h"
#include <stdlib.h>
#include <string.h>

static const char *ty(const Module *m, const Type *t) {
  static char buf[8][128];
  static int k;
  k = (k + 1) % 8;
  return type_str(m, t, buf[k], sizeof buf[k]);
}

static void check_verify(const Module *m) {
  DlmErr e;
  memset(&e, 0, sizeof e);
  int ok = ir_verify(m, &e);
  CHECK_MSG(ok, "ir_verify: %s (line %d)", e.msg, e.loc.line);
}

static void test_tiny_dit(void) {
  Module *m = dsl_compile_file("tests/dsl/tiny_dit.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return;
  check_verify(m);
  Func *f = ir_func_find(m, "denoise");
  CHECK(f != NULL);
  if (f) {
    CHECK(f->nargs == 2);
    CHECK(f->nout == 1);
    CHECK(strcmp(ty(m, &f->nodes[f->outs[0]].type), "f32[B,8,33]") == 0);
    int natt = 0, nmask_iota = 0;
    for (int i = 0; i < f->nnodes; i++) {
      if (f->nodes[i].op == OP_ATTENTION) {
        natt++;
        CHECK(f->nodes[i].nin == 4);
        CHECK(strcmp(ty(m, &f->nodes[f->nodes[i].in[3]].type), "bool[8,8]") == 0);
        CHECK_NEAR(f->nodes[i].attr.f[0], 1.0 / sqrt(8.0), 1e-12);
      }
      if (f->nodes[i].op == OP_IOTA && f->nodes[i].type.rank == 2) nmask_iota++;
    }
    CHECK(natt == 2);          /* one per layer, unrolled */
    CHECK(nmask_iota == 4);
  }
  Func *l = ir_func_find(m, "loss");
  CHECK(l && l->nargs == 3 && l->nout == 1 && l->nodes[l->outs[0]].type.rank == 0);
  /* parameters: 2 + 2 layers * 7 + 1 */
  CHECK(m->nparams == 2 + 2 * 7 + 1);
  int p = ir_param_find(m, "backbone.blocks.1.attn_qkv.weight");
  CHECK(p >= 0);
  if (p >= 0) {
    CHECK(strcmp(ty(m, &m->params[p].type), "f32[48,16]") == 0);
    CHECK(m->params[p].init == INIT_UNIFORM);
    CHECK_NEAR(m->params[p].b, 0.25, 1e-12);
  }
  p = ir_param_find(m, "backbone.blocks.0.adaLN_modulation.1.bias");
  CHECK(p >= 0 && m->params[p].init == INIT_ZEROS && m->params[p].type.dims[0].k == 96);
  p = ir_param_find(m, "backbone.blocks.0.norm1.weight");
  CHECK(p >= 0 && m->params[p].init == INIT_ONES);
  CHECK(ir_meta_get(m, "vocab") && strcmp(ir_meta_get(m, "vocab"), "32") == 0);
  CHECK(ir_meta_get(m, "mask_id") && strcmp(ir_meta_get(m, "mask_id"), "32") == 0);
  ir_module_free(m);
}

static void test_bd3_blocks(void) {
  Module *m = dsl_compile_file("tests/dsl/bd3_blocks.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return;
  check_verify(m);
  CHECK(ir_func_find(m, "denoise") != NULL);   /* from the import */
  Func *t = ir_func_find(m, "train_attn");
  CHECK(t && t->nargs == 3);
  if (t) {
    const Node *att = &t->nodes[t->outs[0]];
    CHECK(att->op == OP_ATTENTION && att->nin == 4);
    CHECK(strcmp(ty(m, &t->nodes[att->in[3]].type), "bool[16,16]") == 0);
    CHECK_NEAR(att->attr.f[0], 0.125, 0);
  }
  CHECK(m->nscheds == 1);
  if (m->nscheds != 1) { ir_module_free(m); return; }
  const Sched *s = m->scheds[0];
  CHECK(strcmp(s->name, "blocks") == 0);
  CHECK(s->nvars >= 4 && s->vars[0].kind == SV_KNOB && s->vars[0].value == 4);
  CHECK(s->vars[1].kind == SV_KNOB && strcmp(s->vars[1].name, "seed") == 0);
  CHECK(s->vars[2].kind == SV_STATE && strcmp(ty(m, &s->vars[2].type), "i32[B,8]") == 0);
  CHECK(s->nbody == 2 && s->body[0].kind == SS_CALL && s->body[1].kind == SS_LOOP);
  if (s->nbody == 2) {
    const SchedStmt *outer = &s->body[1];
    CHECK(outer->cache_policy && strcmp(outer->cache_policy, "exact") == 0);
    CHECK(s->vars[outer->hi].kind == SV_CONST && s->vars[outer->hi].value == 2); /* NB = 8 / 4 */
    CHECK(outer->nbody == 1 && outer->body[0].kind == SS_LOOP);
    if (outer->nbody == 1) {
      const SchedStmt *inner = &outer->body[0];
      CHECK(inner->nbody == 2 && inner->body[0].kind == SS_CALL && inner->body[1].kind == SS_BREAK_IF);
      if (inner->nbody == 2) {
        const SchedStmt *call = &inner->body[0];
        const Func *g = m->funcs[call->func];
        CHECK(strcmp(g->name, "blocks.1") == 0);
        CHECK(call->nargs == 4 && g->nargs == 4);   /* x, seed, i, b */
        CHECK(call->nres == 2 && g->nout == 2);     /* x and the break condition */
        CHECK(call->res[0] == 2);
        CHECK(inner->body[1].args[0] == call->res[1]);
        CHECK(g->nodes[g->outs[1]].type.rank == 0 && g->nodes[g->outs[1]].type.dtype == DT_BOOL);
      }
    }
  }
  CHECK(s->nout == 1 && s->outs[0] == 2);
  ir_module_free(m);
}

static void test_notes_examples(void) {
  Module *m = dsl_compile_file("tests/dsl/notes_examples.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return;
  check_verify(m);
  static const char *const funcs[] = {"denoise", "many", "ancestral.0", "ancestral.1", "ancestral.2", "blocks.0", "blocks.1"};
  CHECK(m->nfuncs == 7);
  for (int i = 0; i < 7; i++) CHECK_MSG(ir_func_find(m, funcs[i]) != NULL, "missing function %s", funcs[i]);
  Func *f = ir_func_find(m, "many");
  CHECK(f && f->nout == 4);
  if (f && f->nout == 4) {
    CHECK(strcmp(ty(m, &f->nodes[f->outs[0]].type), "f32[B,16]") == 0);
    CHECK(strcmp(ty(m, &f->nodes[f->outs[1]].type), "i32[B]") == 0);
    CHECK(strcmp(ty(m, &f->nodes[f->outs[2]].type), "f32[B,1]") == 0);
    CHECK(strcmp(ty(m, &f->nodes[f->outs[3]].type), "f64[B,16]") == 0);
  }
  CHECK(m->nparams == 1 + 2 * 6);
  int p = ir_param_find(m, "backbone.blocks.1.sub.w");
  CHECK(p >= 0 && m->params[p].init == INIT_ONES && m->params[p].type.dims[0].k == 32);
  CHECK(ir_meta_get(m, "cube") && strcmp(ir_meta_get(m, "cube"), "4") == 0);      /* 2**3 % 5 - -1 */
  CHECK(ir_meta_get(m, "scale") && atof(ir_meta_get(m, "scale")) == 1 / sqrt(8.0));
  CHECK(m->nscheds == 2 && m->scheds[0]->nout == 1);
  ir_module_free(m);
}

static void test_defines(void) {
  DslDefine d[2] = {{"D", "32"}, {"seq_len", "12"}};
  Module *m = dsl_compile_file("tests/dsl/tiny_dit.dsl", d, 2, stderr);
  CHECK(m != NULL);
  if (!m) return;
  int p = ir_param_find(m, "backbone.blocks.0.attn_qkv.weight");
  CHECK(p >= 0 && strcmp(ty(m, &m->params[p].type), "f32[96,32]") == 0);
  CHECK(ir_meta_get(m, "D") && strcmp(ir_meta_get(m, "D"), "32") == 0);
  Func *f = ir_func_find(m, "denoise");
  CHECK(f && strcmp(ty(m, &f->nodes[f->outs[0]].type), "f32[B,12,33]") == 0);
  ir_module_free(m);
}

static void test_imports(void) {
  Module *m = dsl_compile_file("tests/dsl/import_twice.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return;
  CHECK(m->nfiles == 3);
  Func *f = ir_func_find(m, "f");
  CHECK(f && f->nout == 1 && f->nodes[f->outs[0]].op == OP_ADD);
  ir_module_free(m);
}

int main(int argc, char **argv) {
  if (argc > 1) {
    Module *m = dsl_compile_file(argv[1], NULL, 0, stderr);
    if (!m) return 1;
    ir_print(m, stdout);
    ir_module_free(m);
    return 0;
  }
  test_tiny_dit();
  test_bd3_blocks();
  test_notes_examples();
  test_defines();
  test_imports();
  return check_summary("test_frontend_models");
}
