/* test_rt_call.c — `dlmrun call` and checkpoint weights: a function run from .npy inputs with
 * weights from a safetensors file gives the interpreter's output; missing, mis-shaped and extra
 * tensors are reported by name (inv_freq buffers and --allow-extra are tolerated); unknown
 * arguments, outputs and functions are errors; a training checkpoint round-trips exactly and
 * provides its EMA weights. */
#include "check.h"
#include "dlmrun.h"
#include "interp.h"
#include "npy.h"
#include "rt_fixture.h"
#include "safetensors.h"
#include "train.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/test_rt_call.XXXXXX";
static char pbuf[8][512];

static const char *p(int k, const char *name) {
  snprintf(pbuf[k], sizeof pbuf[k], "%s/%s", dir, name);
  return pbuf[k];
}

static int call(const char *art, int n, const char **args) {
  char *argv[32];
  for (int i = 0; i < n; i++) argv[i] = (char *)args[i];
  return dlmrun_call(art, n, argv);
}

static ParamStore *load(const Module *m, const char *path, int allow, char *msg) {
  DlmErr e = {0};
  ParamStore *ps = ckpt_load_weights(m, path, 1, allow, NULL, &e);
  snprintf(msg, 512, "%s", e.msg);
  return ps;
}

int main(void) {
  CHECK(mkdtemp(dir) != NULL);
  Module *m = rt_tiny_module();
  CHECK(m != NULL);
  if (!m) return check_summary("test_rt_call");
  DlmErr e = {0};
  char art[600], wfile[600], in_z[600], in_s[600], out[600], msg[512];
  snprintf(art, sizeof art, "%s", p(0, "m.dlmc"));
  snprintf(wfile, sizeof wfile, "%s", p(1, "w.safetensors"));
  snprintf(in_z, sizeof in_z, "z=%s", p(2, "z.npy"));
  snprintf(in_s, sizeof in_s, "sigma=%s", p(3, "s.npy"));
  snprintf(out, sizeof out, "0=%s", p(4, "out.npy"));
  CHECK(artifact_write(art, m, &e));
  ParamStore *w = pstore_init(m, 3);
  /* a non-zero output layer so that the logits depend on the weights */
  Tensor *ow = pstore_get(w, "backbone.output_layer.linear.weight");
  for (int64_t i = 0; i < ow->numel; i++) tensor_set(ow, i, 0.01 * (double)(i % 7) - 0.03);
  CHECK(st_save(wfile, w, NULL, &e) == 0);
  int64_t zs[2] = {2, 8}, ss[1] = {2};
  Tensor *z = tensor_new(DT_I32, 2, zs), *sg = tensor_new(DT_F32, 1, ss);
  for (int i = 0; i < 16; i++) tensor_set(z, i, i % 3 ? (i * 31) % 256 : 256);
  CHECK(npy_write(pbuf[2], z, &e) == 0 && npy_write(pbuf[3], sg, &e) == 0);

  const char *ok_args[] = {"logits", "--ckpt", wfile, "--in", in_z, "--in", in_s, "--out", out, "--backend", "interp"};
  CHECK(call(art, 11, ok_args) == 0);
  Tensor *got = npy_read(pbuf[4], &e), *want = NULL;
  Tensor *args[2] = {z, sg};
  CHECK(interp_run(m, ir_func_find(m, "logits"), w, args, &want, DT_F32, &e));
  CHECK(got && want && tensor_same_shape(got, want) && memcmp(got->data, want->data, (size_t)want->numel * 4) == 0);
  tensor_free(got); tensor_free(want);

  /* names: output by name missing, unknown input, missing input, unknown function */
  const char *bad_out[] = {"logits", "--ckpt", wfile, "--in", in_z, "--in", in_s, "--out", "nope=x.npy", "--backend", "interp"};
  CHECK(call(art, 11, bad_out) == 1);
  const char *bad_in[] = {"logits", "--ckpt", wfile, "--in", in_z, "--in", in_s, "--in", "t=x.npy", "--out", out, "--backend", "interp"};
  CHECK(call(art, 13, bad_in) == 1);
  const char *miss_in[] = {"logits", "--ckpt", wfile, "--in", in_z, "--out", out, "--backend", "interp"};
  CHECK(call(art, 9, miss_in) == 1);
  const char *bad_fn[] = {"nofn", "--ckpt", wfile, "--out", out};
  CHECK(call(art, 5, bad_fn) == 1);
  const char *usage[] = {"logits", "--ckpt", wfile};
  CHECK(call(art, 3, usage) == 2);

  /* checkpoint name errors */
  ParamStore *ps = load(m, wfile, 0, msg);
  CHECK(ps != NULL);
  pstore_free(ps);
  ParamStore *v = pstore_init(m, 3);
  Tensor *t = pstore_get(v, "backbone.blocks.0.norm1.weight");
  int64_t bad_shape[1] = {t->shape[0] + 1};
  pstore_put(v, "backbone.blocks.0.norm1.weight", tensor_new(DT_F32, 1, bad_shape));
  CHECK(st_save(p(5, "bad.safetensors"), v, NULL, &e) == 0);
  CHECK(!load(m, pbuf[5], 0, msg) && strstr(msg, "backbone.blocks.0.norm1.weight") && strstr(msg, "shape"));
  pstore_free(v);
  /* missing: a store without the final bias */
  v = pstore_new();
  for (int i = 0; i < w->n; i++)
    if (strcmp(w->names[i], "backbone.output_layer.linear.bias")) pstore_put(v, w->names[i], tensor_clone(w->tensors[i]));
  CHECK(st_save(pbuf[5], v, NULL, &e) == 0);
  CHECK(!load(m, pbuf[5], 0, msg) && strstr(msg, "missing tensor 'backbone.output_layer.linear.bias'"));
  /* extras: inv_freq is ignored, an unknown tensor is an error unless allowed */
  pstore_put(v, "backbone.output_layer.linear.bias", tensor_clone(pstore_get(w, "backbone.output_layer.linear.bias")));
  pstore_put(v, "backbone.rotary_emb.inv_freq", tensor_new(DT_F32, 1, ss));
  CHECK(st_save(pbuf[5], v, NULL, &e) == 0);
  ps = load(m, pbuf[5], 0, msg);
  CHECK(ps != NULL);
  pstore_free(ps);
  pstore_put(v, "backbone.extra.weight", tensor_new(DT_F32, 1, ss));
  CHECK(st_save(pbuf[5], v, NULL, &e) == 0);
  CHECK(!load(m, pbuf[5], 0, msg) && strstr(msg, "'backbone.extra.weight'") && strstr(msg, "--allow-extra"));
  ps = load(m, pbuf[5], 1, msg);
  CHECK(ps != NULL);
  pstore_free(ps);
  pstore_free(v);

  /* training checkpoint: exact round trip; the EMA weights are what eval/sample/call load */
  TrainState s = {pstore_init(m, 1), pstore_init(m, 2), pstore_init(m, 3), pstore_init(m, 4), 17}, r = {0};
  CkptMeta cm = {0}, back = {0};
  ckpt_meta_set(&cm, "config.lr", "%s", "0.001");
  CHECK(ckpt_save(dir, m, &s, &cm, &e));
  CHECK(ckpt_load(dir, m, &r, &back, &e));
  CHECK(r.step == 17 && ckpt_meta_get(&back, "config.lr") && !strcmp(ckpt_meta_get(&back, "config.lr"), "0.001"));
  int same = r.w && r.w->n == m->nparams;
  ParamStore *a[4] = {s.w, s.ema, s.m, s.v}, *b[4] = {r.w, r.ema, r.m, r.v};
  for (int g = 0; same && g < 4; g++)
    for (int i = 0; same && i < m->nparams; i++)
      same = !strcmp(a[g]->names[i], b[g]->names[i]) && !memcmp(a[g]->tensors[i]->data, b[g]->tensors[i]->data, (size_t)a[g]->tensors[i]->numel * 4);
  CHECK(same);
  ps = load(m, dir, 0, msg);
  CHECK(ps && !memcmp(pstore_get(ps, m->params[0].name)->data, pstore_get(s.ema, m->params[0].name)->data, 4));
  pstore_free(ps);
  train_state_free(&r);
  CHECK(!ckpt_load(wfile, m, &r, &back, &e) && strstr(e.msg, "not a dlmrun training checkpoint"));
  train_state_free(&s);
  train_state_free(&r);
  ckpt_meta_free(&cm); ckpt_meta_free(&back);

  tensor_free(z); tensor_free(sg);
  pstore_free(w);
  for (int k = 0; k < 6; k++) remove(pbuf[k]);
  remove(p(0, CKPT_FILE));
  remove(p(1, "m.dlmc")); remove(p(1, "w.safetensors"));
  rmdir(dir);
  ir_module_free(m);
  return check_summary("test_rt_call");
}
