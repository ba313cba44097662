/* call.c — `dlmrun ART call FUNCTION --ckpt CKPT --in NAME=FILE.npy ... --out NAME=FILE.npy ...`:
 * runs one function of the artifact on .npy inputs with checkpoint weights and writes the chosen
 * outputs as .npy. Inputs are named by the function's argument names, outputs by their names or
 * their position (0, 1, ...). */
#include "dlmrun.h"
#include "npy.h"
#include <stdlib.h>
#include <string.h>

#define MAX_IO 64

typedef struct { const char *name; const char *file; } NameFile;

static int split(const char *flag, const char *v, NameFile *nf) {
  const char *eq = strchr(v, '=');
  if (!eq || eq == v || !eq[1]) { fprintf(stderr, "dlmrun call: %s wants NAME=FILE.npy, got '%s'\n", flag, v); return 0; }
  nf->name = strndup(v, (size_t)(eq - v));
  nf->file = eq + 1;
  return nf->name != NULL;
}

static const char *arg_name(const Func *f, int pos) {
  for (int i = 0; i < f->nnodes; i++)
    if (f->nodes[i].op == OP_ARG && f->nodes[i].attr.i[0] == pos) return f->nodes[i].attr.s;
  return "?";
}

static int out_index(const Func *f, const char *name) {
  for (int k = 0; k < f->nout; k++)
    if (f->outnames && f->outnames[k] && strcmp(f->outnames[k], name) == 0) return k;
  char *end;
  long v = strtol(name, &end, 10);
  if (!*end && end != name && v >= 0 && v < f->nout) return (int)v;
  return -1;
}

static int run_call(const Module *m, const Func *f, const char *ckpt, const RtTarget *tgt, int allow_extra,
                    NameFile *ins, int nin, NameFile *outs, int nout) {
  DlmErr e = {0};
  int status = 1;
  Tensor *args[MAX_IO] = {0}, *res[MAX_IO] = {0};
  ParamStore *ps = NULL;
  BackendState *bs = NULL;
  const Backend *be = NULL;
  for (int a = 0; a < f->nargs; a++) {
    const char *an = arg_name(f, a);
    int k = -1;
    for (int i = 0; i < nin; i++)
      if (strcmp(ins[i].name, an) == 0) k = i;
    if (k < 0) { fprintf(stderr, "dlmrun call: %s: argument '%s' has no --in %s=FILE.npy\n", f->name, an, an); goto done; }
    if (!(args[a] = npy_read(ins[k].file, &e))) { fprintf(stderr, "dlmrun call: --in %s: %s\n", an, e.msg); goto done; }
  }
  for (int i = 0; i < nin; i++) {
    int found = 0;
    for (int a = 0; a < f->nargs; a++) found |= strcmp(ins[i].name, arg_name(f, a)) == 0;
    if (!found) { fprintf(stderr, "dlmrun call: %s has no argument named '%s'\n", f->name, ins[i].name); goto done; }
  }
  for (int i = 0; i < nout; i++)
    if (out_index(f, outs[i].name) < 0) {
      fprintf(stderr, "dlmrun call: %s has no output named '%s' (%d output%s: name them by position 0..%d", f->name,
              outs[i].name, f->nout, f->nout == 1 ? "" : "s", f->nout - 1);
      for (int k = 0; f->outnames && k < f->nout; k++)
        if (f->outnames[k]) fprintf(stderr, " or '%s'", f->outnames[k]);
      fprintf(stderr, ")\n");
      goto done;
    }
  if (ckpt) {
    if (!(ps = ckpt_load_weights(m, ckpt, 1, allow_extra, stderr, &e))) { fprintf(stderr, "dlmrun call: %s\n", e.msg); goto done; }
  } else if (m->nparams) {
    fprintf(stderr, "dlmrun call: the module has %d parameters: give --ckpt\n", m->nparams);
    goto done;
  } else {
    ps = pstore_new();
  }
  if (!(bs = rt_target_open("call", tgt, m, &be))) goto done;
  if (!be->run(bs, f, ps, args, res, NULL, &e)) {
    fprintf(stderr, "dlmrun call: %s (%s backend): %s\n", f->name, be->name, e.msg);
    goto done;
  }
  status = 0;
  for (int i = 0; i < nout && status == 0; i++)
    if (npy_write(outs[i].file, res[out_index(f, outs[i].name)], &e) != 0) {
      fprintf(stderr, "dlmrun call: --out %s: %s\n", outs[i].name, e.msg);
      status = 1;
    }
done:
  if (bs) be->close(bs);
  pstore_free(ps);
  for (int i = 0; i < MAX_IO; i++) { tensor_free(args[i]); tensor_free(res[i]); }
  return status;
}

int dlmrun_call(const char *artifact, int argc, char **argv) {
  if (argc < 1 || argv[0][0] == '-') return rt_usage("call", "%s", "needs a FUNCTION name");
  const char *fname = argv[0], *ckpt = NULL;
  RtTarget tgt = {NULL, NULL};
  NameFile ins[MAX_IO], outs[MAX_IO];
  int nin = 0, nout = 0, allow_extra = 0, status = 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if (!strcmp(a, "--allow-extra")) { allow_extra = 1; continue; }
    if (strcmp(a, "--ckpt") && strcmp(a, "--in") && strcmp(a, "--out") && strcmp(a, "--backend") && strcmp(a, "--device")) {
      rt_usage("call", "unknown option '%s'", a);
      goto done;
    }
    if (!(v = rt_value(argc, argv, &i))) goto done;
    if (!strcmp(a, "--ckpt")) ckpt = v;
    else if (rt_target_opt(a, v, &tgt)) continue;
    else {
      int *n = a[2] == 'i' ? &nin : &nout;
      NameFile *list = a[2] == 'i' ? ins : outs;
      if (*n == MAX_IO) { rt_usage("call", "too many %s options", a); goto done; }
      if (!split(a, v, &list[*n])) goto done;
      ++*n;
    }
  }
  if (nout == 0) { rt_usage("call", "%s", "needs at least one --out NAME=FILE.npy"); goto done; }
  if (rt_target_check("call", &tgt)) goto done;
  Module *m = rt_open_artifact(artifact);
  status = 1;
  if (m) {
    const Func *f = ir_func_find(m, fname);
    if (!f) {
      fprintf(stderr, "dlmrun call: %s has no function '%s'; it has:", artifact, fname);
      for (int i = 0; i < m->nfuncs; i++) fprintf(stderr, " %s", m->funcs[i]->name);
      fprintf(stderr, "\n");
    } else if (f->nargs > MAX_IO || f->nout > MAX_IO) {
      fprintf(stderr, "dlmrun call: %s has too many arguments or outputs (at most %d)\n", fname, MAX_IO);
    } else {
      status = run_call(m, f, ckpt, &tgt, allow_extra, ins, nin, outs, nout);
    }
    ir_module_free(m);
  }
done:
  for (int i = 0; i < nin; i++) free((char *)ins[i].name);
  for (int i = 0; i < nout; i++) free((char *)outs[i].name);
  return status;
}
