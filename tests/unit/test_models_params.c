/* test_models_params.c — the parameters of models/mdlm.dsl and models/duo.dsl at the released
 * OWT sizes: the total count (169,627,218, mdlm-remdm.md §6) and the checkpoint names and shapes of
 * the tensor-name table (mdlm-remdm.md §7), plus the small default sizes. Expected numbers are from
 * the spec, not from the compiler. */
#include "check.h"
#include "frontend.h"
#include <string.h>

static const DslDefine owt[] = {
  {"vocab", "50257"}, {"seq_len", "1024"}, {"layers", "12"}, {"dim", "768"}, {"heads", "12"}, {"cond_dim", "128"},
};

static int64_t total_params(const Module *m) {
  int64_t total = 0;
  for (int i = 0; i < m->nparams; i++) {
    int64_t n = 0;
    CHECK(type_numel_const(&m->params[i].type, &n));
    if (ir_param_copy_source(m, i) < 0) total += n;   /* Duo's DCD teacher is a frozen copy, not a parameter of its own */
  }
  return total;
}

/* The parameter `name` exists with exactly the given shape (f32). */
static void check_param(const Module *m, const char *name, int rank, const int64_t *dims) {
  int i = ir_param_find(m, name);
  CHECK_MSG(i >= 0, "missing parameter %s", name);
  if (i < 0) return;
  const Type *t = &m->params[i].type;
  CHECK_MSG(t->dtype == DT_F32, "%s is %s", name, dtype_name(t->dtype));
  CHECK_MSG(t->rank == rank, "%s has rank %d, expected %d", name, t->rank, rank);
  for (int d = 0; d < rank && d < t->rank; d++)
    CHECK_MSG(dim_is_const(t->dims[d]) && t->dims[d].k == dims[d], "%s dim %d is %lld, expected %lld", name, d,
              (long long)t->dims[d].k, (long long)dims[d]);
}

static void check_init(const Module *m, const char *name, InitKind init, double a, double b) {
  int i = ir_param_find(m, name);
  CHECK_MSG(i >= 0, "missing parameter %s", name);
  if (i < 0) return;
  const ParamDecl *p = &m->params[i];
  CHECK_MSG(p->init == init, "%s has init kind %d, expected %d", name, (int)p->init, (int)init);
  if (init == INIT_UNIFORM || init == INIT_NORMAL) {
    CHECK_NEAR(p->a, a, 1e-12);
    CHECK_NEAR(p->b, b, 1e-12);
  }
}

static void check_owt_mdlm(void) {
  Module *m = dsl_compile_file("models/mdlm.dsl", owt, 6, stderr);
  CHECK(m != NULL);
  if (!m) return;
  /* 1 embedding + 4 timestep-MLP + 12 blocks x 10 + 5 final-layer tensors; no rotary inv_freq. */
  CHECK(m->nparams == 1 + 4 + 12 * 10 + 5);
  CHECK(total_params(m) == 169627218);
  CHECK(ir_param_find(m, "backbone.rotary_emb.inv_freq") < 0);
  check_param(m, "backbone.vocab_embed.embedding", 2, (int64_t[]){50258, 768});
  check_param(m, "backbone.sigma_map.mlp.0.weight", 2, (int64_t[]){128, 256});
  check_param(m, "backbone.sigma_map.mlp.0.bias", 1, (int64_t[]){128});
  check_param(m, "backbone.sigma_map.mlp.2.weight", 2, (int64_t[]){128, 128});
  check_param(m, "backbone.sigma_map.mlp.2.bias", 1, (int64_t[]){128});
  check_param(m, "backbone.blocks.0.norm1.weight", 1, (int64_t[]){768});
  check_param(m, "backbone.blocks.0.attn_qkv.weight", 2, (int64_t[]){2304, 768});
  check_param(m, "backbone.blocks.5.attn_out.weight", 2, (int64_t[]){768, 768});
  check_param(m, "backbone.blocks.7.norm2.weight", 1, (int64_t[]){768});
  check_param(m, "backbone.blocks.3.mlp.0.weight", 2, (int64_t[]){3072, 768});
  check_param(m, "backbone.blocks.3.mlp.0.bias", 1, (int64_t[]){3072});
  check_param(m, "backbone.blocks.3.mlp.2.weight", 2, (int64_t[]){768, 3072});
  check_param(m, "backbone.blocks.3.mlp.2.bias", 1, (int64_t[]){768});
  check_param(m, "backbone.blocks.11.adaLN_modulation.weight", 2, (int64_t[]){4608, 128});
  check_param(m, "backbone.blocks.11.adaLN_modulation.bias", 1, (int64_t[]){4608});
  check_param(m, "backbone.output_layer.norm_final.weight", 1, (int64_t[]){768});
  check_param(m, "backbone.output_layer.linear.weight", 2, (int64_t[]){50258, 768});
  check_param(m, "backbone.output_layer.linear.bias", 1, (int64_t[]){50258});
  check_param(m, "backbone.output_layer.adaLN_modulation.weight", 2, (int64_t[]){1536, 128});
  check_param(m, "backbone.output_layer.adaLN_modulation.bias", 1, (int64_t[]){1536});
  CHECK(ir_param_find(m, "backbone.blocks.12.norm1.weight") < 0);
  /* Registration order = the EMA shadow_params order (mdlm-remdm.md §7). */
  CHECK(strcmp(m->params[0].name, "backbone.vocab_embed.embedding") == 0);
  CHECK(strcmp(m->params[5].name, "backbone.blocks.0.norm1.weight") == 0);
  CHECK(strcmp(m->params[14].name, "backbone.blocks.0.adaLN_modulation.bias") == 0);
  CHECK(strcmp(m->params[m->nparams - 1].name, "backbone.output_layer.adaLN_modulation.bias") == 0);
  /* Initializers (mdlm-remdm.md §6): embedding U(+-1/sqrt(768)), adaLN-Zero, zero output layer,
   * LayerNorm weights one, PyTorch default Linear init U(+-1/sqrt(fan_in)). */
  double e = 1.0 / sqrt(768.0), f = 1.0 / sqrt(3072.0), s = 1.0 / sqrt(256.0);
  check_init(m, "backbone.vocab_embed.embedding", INIT_UNIFORM, -e, e);
  check_init(m, "backbone.sigma_map.mlp.0.weight", INIT_UNIFORM, -s, s);
  check_init(m, "backbone.blocks.0.attn_qkv.weight", INIT_UNIFORM, -e, e);
  check_init(m, "backbone.blocks.0.mlp.2.weight", INIT_UNIFORM, -f, f);
  check_init(m, "backbone.blocks.0.norm1.weight", INIT_ONES, 0, 0);
  check_init(m, "backbone.blocks.4.adaLN_modulation.weight", INIT_ZEROS, 0, 0);
  check_init(m, "backbone.output_layer.linear.weight", INIT_ZEROS, 0, 0);
  check_init(m, "backbone.output_layer.linear.bias", INIT_ZEROS, 0, 0);
  check_init(m, "backbone.output_layer.adaLN_modulation.bias", INIT_ZEROS, 0, 0);
  ir_module_free(m);
}

/* Duo's K = len(tokenizer) = 50258 for OWT (GPT-2 + [PAD]) and no mask row: the same shapes. */
static void check_owt_duo(void) {
  DslDefine d[6];
  memcpy(d, owt, sizeof d);
  d[0].value = "50258";
  Module *m = dsl_compile_file("models/duo.dsl", d, 6, stderr);
  CHECK(m != NULL);
  if (!m) return;
  CHECK(total_params(m) == 169627218);
  check_param(m, "backbone.output_layer.linear.weight", 2, (int64_t[]){50258, 768});
  check_param(m, "backbone.blocks.11.adaLN_modulation.weight", 2, (int64_t[]){4608, 128});
  ir_module_free(m);
}

/* Defaults: vocab 256 (+1 mask row for MDLM), 2 layers, hidden 128, 4 heads, cond 64. */
static void check_defaults(void) {
  Module *m = dsl_compile_file("models/mdlm.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return;
  CHECK(m->nparams == 1 + 4 + 2 * 10 + 5);
  check_param(m, "backbone.vocab_embed.embedding", 2, (int64_t[]){257, 128});
  check_param(m, "backbone.sigma_map.mlp.0.weight", 2, (int64_t[]){64, 256});
  check_param(m, "backbone.blocks.1.adaLN_modulation.weight", 2, (int64_t[]){768, 64});
  CHECK(ir_param_find(m, "backbone.blocks.2.norm1.weight") < 0);
  ir_module_free(m);
  m = dsl_compile_file("models/duo.dsl", NULL, 0, stderr);
  CHECK(m != NULL);
  if (!m) return;
  check_param(m, "backbone.output_layer.linear.weight", 2, (int64_t[]){256, 128});
  ir_module_free(m);
}

int main(void) {
  check_owt_mdlm();
  check_owt_duo();
  check_defaults();
  return check_summary("test_models_params");
}
