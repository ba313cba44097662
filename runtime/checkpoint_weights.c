/* checkpoint_weights.c — loading a module's parameters from a checkpoint: a dlmrun run directory
 * (its EMA or raw weights) or any safetensors file using the model's tensor names (see dlmrun.h). */
#include "dlmrun.h"
#include "safetensors.h"
#include "train.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const SrcLoc noloc = {0, 0, 0};

char *ckpt_file(const char *path) {
  struct stat st;
  size_t n = strlen(path);
  char *out = malloc(n + sizeof CKPT_FILE + 1);
  if (!out) return NULL;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(out, n + sizeof CKPT_FILE + 1, "%s/%s", path, CKPT_FILE);
  else memcpy(out, path, n + 1);
  return out;
}

static int is_known_buffer(const char *name) {
  const char *dot = strrchr(name, '.');
  return strcmp(dot ? dot + 1 : name, "inv_freq") == 0;
}

static char *shape_text(int rank, const int64_t *shape, char *buf, size_t n) {
  size_t u = (size_t)snprintf(buf, n, "[");
  for (int d = 0; d < rank && u < n; d++) u += (size_t)snprintf(buf + u, n - u, "%s%lld", d ? "," : "", (long long)shape[d]);
  if (u < n) snprintf(buf + u, n - u, "]");
  return buf;
}

/* The tensor converted to dtype (t is consumed). */
static Tensor *convert(Tensor *t, DType dt) {
  if (t->dtype == dt) return t;
  Tensor *c = tensor_new(dt, t->rank, t->shape);
  if (c)
    for (int64_t i = 0; i < t->numel; i++) tensor_set(c, i, tensor_get(t, i));
  tensor_free(t);
  return c;
}

ParamStore *ckpt_load_weights(const Module *m, const char *path, int use_ema, int allow_extra, FILE *warn, DlmErr *e) {
  char *file = ckpt_file(path);
  if (!file) { err_set(e, noloc, "out of memory"); return NULL; }
  StFile *f = st_open(file, e);
  if (!f) { free(file); return NULL; }
  const char *fmt = st_meta_get(f, "format");
  int ours = fmt && strcmp(fmt, CKPT_FORMAT) == 0;
  const char *prefix = ours && use_ema ? "ema." : "";
  size_t plen = strlen(prefix);
  ParamStore *ps = pstore_new();
  int ok = ps != NULL;
  char name[1024], a[128], b[128];
  for (int i = 0; ok && i < m->nparams; i++) {
    const ParamDecl *p = &m->params[i];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    int src = ir_param_copy_source(m, i);
    if (src >= 0) {   /* a frozen copy: its source's values (sources come first) */
      Tensor *c = tensor_clone(ps->tensors[src]);
      if (!c || !pstore_put(ps, p->name, c)) { tensor_free(c); err_set(e, noloc, "out of memory"); ok = 0; }
      continue;
    }
    int k = st_find(f, name);
    if (k < 0) { err_set(e, noloc, "%s: missing tensor '%s' (parameter %s)", file, name, type_str(m, &p->type, a, sizeof a)); ok = 0; break; }
    DType dt; int rank; int64_t shape[DLM_MAX_RANK], want[DLM_MAX_RANK];
    st_info(f, k, &dt, &rank, shape);
    int same = rank == p->type.rank;
    for (int d = 0; d < p->type.rank; d++) {
      want[d] = p->type.dims[d].k;
      if (same && shape[d] != want[d]) same = 0;
    }
    if (!same) {
      err_set(e, noloc, "%s: tensor '%s' has shape %s, the model's parameter is %s", file, name,
              shape_text(rank, shape, a, sizeof a), shape_text(p->type.rank, want, b, sizeof b));
      ok = 0;
      break;
    }
    Tensor *t = st_tensor(f, name, e);
    if (t && !(t = convert(t, p->type.dtype))) err_set(e, noloc, "out of memory");
    if (t && !pstore_put(ps, p->name, t)) { tensor_free(t); t = NULL; err_set(e, noloc, "out of memory"); }
    ok = t != NULL;
  }
  for (int i = 0; ok && i < st_count(f); i++) {
    const char *n = st_name(f, i);
    if (strncmp(n, prefix, plen) == 0 && ir_param_find(m, n + plen) >= 0) continue;
    if (ours) continue;   /* the other groups of a training checkpoint (raw or EMA weights, Adam moments) */
    if (is_known_buffer(n) || allow_extra) {
      if (warn) fprintf(warn, "dlmrun: warning: %s: ignoring tensor '%s' (%s)\n", file, n, is_known_buffer(n) ? "a buffer the model recomputes" : "not a parameter of the model");
      continue;
    }
    err_set(e, noloc, "%s: tensor '%s' is not a parameter of the model (pass --allow-extra to ignore it)", file, n);
    ok = 0;
  }
  st_close(f);
  free(file);
  if (!ok) { pstore_free(ps); return NULL; }
  return ps;
}
