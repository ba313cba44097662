/* checkpoint.c — the training-state checkpoint (weights, EMA, Adam moments, metadata) in one
 * safetensors file written atomically, and its metadata helpers (see train.h). */
#include "train.h"
#include "dlmrun.h"
#include "safetensors.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const SrcLoc noloc = {0, 0, 0};
static const char *const groups[4] = {"", "ema.", "adam_m.", "adam_v."};

void train_state_free(TrainState *s) {
  pstore_free(s->w); pstore_free(s->ema); pstore_free(s->m); pstore_free(s->v);
  memset(s, 0, sizeof *s);
}

void ckpt_meta_set(CkptMeta *cm, const char *key, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  for (int i = 0; i < cm->n; i++)
    if (strcmp(cm->keys[i], key) == 0) {
      free(cm->vals[i]);
      cm->vals[i] = strdup(buf);
      return;
    }
  if (cm->n == CKPT_MAX_META) abort();  /* callers set a fixed, small set of keys */
  cm->keys[cm->n] = strdup(key);
  cm->vals[cm->n++] = strdup(buf);
}

const char *ckpt_meta_get(const CkptMeta *cm, const char *key) {
  for (int i = 0; i < cm->n; i++)
    if (strcmp(cm->keys[i], key) == 0) return cm->vals[i];
  return NULL;
}

void ckpt_meta_free(CkptMeta *cm) {
  for (int i = 0; i < cm->n; i++) { free((char *)cm->keys[i]); free(cm->vals[i]); }
  cm->n = 0;
}

int ckpt_save(const char *dir, const Module *m, const TrainState *s, const CkptMeta *cm, DlmErr *e) {
  ParamStore all = {0};
  ParamStore *src[4] = {s->w, s->ema, s->m, s->v};
  int n = 0;
  for (int g = 0; g < 4; g++) n += src[g]->n;
  all.names = calloc((size_t)n + 1, sizeof *all.names);
  all.tensors = calloc((size_t)n + 1, sizeof *all.tensors);
  const char *keys[CKPT_MAX_META + 2], *vals[CKPT_MAX_META + 2];
  char step[32];
  int ok = all.names && all.tensors;
  for (int g = 0; ok && g < 4; g++)
    for (int i = 0; ok && i < src[g]->n; i++) {
      if (ir_param_copy_source(m, ir_param_find(m, src[g]->names[i])) >= 0) continue;   /* frozen copies are not stored */
      size_t len = strlen(groups[g]) + strlen(src[g]->names[i]) + 1;
      char *name = malloc(len);
      if (!name) { ok = 0; break; }
      snprintf(name, len, "%s%s", groups[g], src[g]->names[i]);
      all.names[all.n] = name;
      all.tensors[all.n++] = src[g]->tensors[i];   /* borrowed */
    }
  if (!ok) err_set(e, noloc, "out of memory");
  int nk = 0;
  keys[nk] = "format"; vals[nk++] = CKPT_FORMAT;
  snprintf(step, sizeof step, "%lld", (long long)s->step);
  keys[nk] = "step"; vals[nk++] = step;
  for (int i = 0; i < cm->n; i++) {
    if (!strcmp(cm->keys[i], "format") || !strcmp(cm->keys[i], "step")) continue;
    keys[nk] = cm->keys[i]; vals[nk++] = cm->vals[i];
  }
  char *path = NULL;
  if (ok) {
    size_t plen = strlen(dir) + sizeof CKPT_FILE + 1;
    path = malloc(plen);
    if (path) snprintf(path, plen, "%s/%s", dir, CKPT_FILE);
    StMeta meta = {nk, keys, vals};
    ok = path && st_save(path, &all, &meta, e) == 0;
  }
  free(path);
  for (int i = 0; i < all.n; i++) free(all.names[i]);
  free(all.names);
  free(all.tensors);
  return ok;
}

int ckpt_load(const char *path, const Module *m, TrainState *s, CkptMeta *cm, DlmErr *e) {
  memset(s, 0, sizeof *s);
  char *file = ckpt_file(path);
  if (!file) { err_set(e, noloc, "out of memory"); return 0; }
  StFile *f = st_open(file, e);
  if (!f) { free(file); return 0; }
  const char *fmt = st_meta_get(f, "format");
  const char *step = st_meta_get(f, "step");
  char *end = NULL;
  long long st = step ? strtoll(step, &end, 10) : -1;
  int ok = 1;
  if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0) {
    err_set(e, noloc, "%s: not a dlmrun training checkpoint (metadata format is %s%s%s, expected %s)", file,
            fmt ? "'" : "", fmt ? fmt : "absent", fmt ? "'" : "", CKPT_FORMAT);
    ok = 0;
  } else if (!step || *end || st < 0) {
    err_set(e, noloc, "%s: metadata 'step' is missing or not a count", file);
    ok = 0;
  }
  ParamStore **dst[4] = {&s->w, &s->ema, &s->m, &s->v};
  char name[1024], a[128];
  for (int g = 0; ok && g < 4; g++) {
    *dst[g] = pstore_new();
    for (int i = 0; ok && i < m->nparams; i++) {
      const ParamDecl *p = &m->params[i];
      snprintf(name, sizeof name, "%s%s", groups[g], p->name);
      int src = ir_param_copy_source(m, i);
      Tensor *t = src >= 0 ? tensor_clone((*dst[g])->tensors[src]) : st_find(f, name) >= 0 ? st_tensor(f, name, e) : NULL;
      if (!t) {
        if (!e->set) err_set(e, noloc, "%s: missing tensor '%s'", file, name);
        ok = 0;
        break;
      }
      int same = t->dtype == p->type.dtype && t->rank == p->type.rank;
      for (int d = 0; same && d < t->rank; d++) same = t->shape[d] == p->type.dims[d].k;
      if (!same) {
        err_set(e, noloc, "%s: tensor '%s' does not have the parameter's type %s", file, name, type_str(m, &p->type, a, sizeof a));
        tensor_free(t);
        ok = 0;
      } else if (!pstore_put(*dst[g], p->name, t)) {
        tensor_free(t);
        err_set(e, noloc, "out of memory");
        ok = 0;
      }
    }
  }
  for (int i = 0; ok && i < st_meta_count(f); i++) ckpt_meta_set(cm, st_meta_key(f, i), "%s", st_meta_get(f, st_meta_key(f, i)));
  s->step = st;
  st_close(f);
  free(file);
  if (!ok) train_state_free(s);
  return ok;
}
