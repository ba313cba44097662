/* dlmc_main.c — the `dlmc` command: reads a .dsl program (or a .ir module), runs the pass pipeline
 * and emits the IR, its graph, statistics or a summary. Exit status: 0 ok, 1 bad input, 2 usage. */
#include "artifact.h"
#include "diag.h"
#include "frontend.h"
#include "passes.h"
#include "cuda_emit.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DLMC_VERSION "0.1.0"
#define MAX_DEFINES 64

static const char usage_text[] =
  "usage: dlmc compile FILE [options]\n"
  "       dlmc --help | --version\n"
  "\n"
  "Compiles FILE (a .dsl program; a file ending in .ir is read as graph-IR text) through the pass\n"
  "pipeline. Without --emit or --stats it prints a one-paragraph summary.\n"
  "\n"
  "options:\n"
  "  -D NAME=VALUE      override a top-level DSL const (ignored for .ir input)\n"
  "  --dim NAME=VALUE   the value of the symbolic dimension NAME for --stats and the summary\n"
  "                     (symbols not given count as 1, so a batch B is 1)\n"
  "  --emit ir|dot      print the module after the passes as IR text or as a Graphviz graph\n"
  "  -d LETTERS         dump the IR to stderr after each pass named by a letter (see below)\n"
  "  --dump-after=PASS  dump the IR to stderr after the pass PASS\n"
  "  --stats            per function: ops by name, kernels, FLOPs per token; parameter count\n"
  "  --verify           verify the IR after every pass (always on in debug builds)\n"
  "  --target cuda      generate CUDA C for every function (with loss.grad): an op without a CUDA\n"
  "                     kernel is an error; --emit cuda prints the sources (-o DIR: DIR/FN.cu),\n"
  "                     --stats prints kernels and cuBLAS calls per function\n"
  "  -o OUT             write the emitted text (IR unless --emit dot) to OUT, atomically; an OUT\n"
  "                     ending in .dlmc receives the artifact dlmrun runs (the IR with loss.grad,\n"
  "                     the gradient of an exported `loss`, and the consts)\n"
  "  -h, --help         this help\n"
  "      --version      print the version\n";

static void print_passes(FILE *out) {
  int n;
  const Pass *p = pass_table(&n);
  fprintf(out, "\npasses, in order (letter for -d, name for --dump-after):\n  %c  %-12s the module as it enters the pipeline\n",
          PASS_DUMP_INPUT, "(input)");
  for (int i = 0; i < n; i++) fprintf(out, "  %c  %-12s %s\n", p[i].letter, p[i].name, p[i].what);
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "dlmc: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(try dlmc --help)\n");
  return 2;
}

typedef struct {
  const char *file, *emit, *out, *dump_letters, *dump_after;
  int stats, verify, target_cuda;
  DslDefine defs[MAX_DEFINES]; int ndefs;
  DslDefine dims[MAX_DEFINES]; int ndims;
} Options;

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Parses `compile` arguments; returns 0 or the usage exit status. */
static int parse_args(int argc, char **argv, Options *o) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
    if (strncmp(a, "-D", 2) == 0 || strcmp(a, "--dim") == 0 || strncmp(a, "--dim=", 6) == 0) {
      int is_dim = a[1] == '-';
      val = is_dim ? (a[5] == '=' ? a + 6 : NULL) : (a[2] ? a + 2 : NULL);
      if (!val) val = i + 1 < argc ? argv[++i] : NULL;
      if (!val) return usage_error("%s needs NAME=VALUE", a);
      const char *eq = strchr(val, '=');
      if (!eq || eq == val || !eq[1]) return usage_error("-D and --dim want NAME=VALUE, got '%s'", val);
      DslDefine *list = is_dim ? o->dims : o->defs;
      int *count = is_dim ? &o->ndims : &o->ndefs;
      if (*count == MAX_DEFINES) return usage_error("too many -D or --dim options (at most %s each)", "64");
      char *name = strndup(val, (size_t)(eq - val));
      if (!name) return usage_error("%s", "out of memory");
      list[*count].name = name;
      list[(*count)++].value = eq + 1;
    } else if (strcmp(a, "--emit") == 0 || strncmp(a, "--emit=", 7) == 0) {
      val = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
      if (!val || (strcmp(val, "ir") && strcmp(val, "dot") && strcmp(val, "cuda")))
        return usage_error("--emit wants ir, dot or cuda, got '%s'", val ? val : "");
      o->emit = val;
    } else if (strncmp(a, "-d", 2) == 0) {
      o->dump_letters = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
      if (!o->dump_letters) return usage_error("%s needs LETTERS", a);
    } else if (strncmp(a, "--dump-after=", 13) == 0 || strcmp(a, "--dump-after") == 0) {
      val = a[12] == '=' ? a + 13 : (i + 1 < argc ? argv[++i] : NULL);
      if (!val || !pass_find(val)) return usage_error("--dump-after: no pass named '%s'", val ? val : "");
      o->dump_after = val;
    } else if (strcmp(a, "--target") == 0 || strncmp(a, "--target=", 9) == 0) {
      val = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
      if (!val || (strcmp(val, "cuda") && strcmp(val, "cpu"))) return usage_error("--target wants cpu or cuda, got '%s'", val ? val : "");
      o->target_cuda = strcmp(val, "cuda") == 0;
    } else if (strcmp(a, "--stats") == 0) {
      o->stats = 1;
    } else if (strcmp(a, "--verify") == 0) {
      o->verify = 1;
    } else if (strcmp(a, "-o") == 0) {
      if (i + 1 >= argc) return usage_error("%s needs a file name", a);
      o->out = argv[++i];
    } else if (a[0] == '-' && a[1]) {
      return usage_error("unknown option '%s'", a);
    } else if (o->file) {
      return usage_error("more than one input file ('%s')", a);
    } else {
      o->file = a;
    }
  }
  if (!o->file) return usage_error("%s", "compile needs a FILE");
  if (o->emit && strcmp(o->emit, "cuda") == 0 && !o->target_cuda) return usage_error("%s", "--emit cuda needs --target cuda");
  char bad;
  if (o->dump_letters && !pass_letters_valid(o->dump_letters, &bad)) {
    char s[2] = {bad, 0};
    return usage_error("-d: no pass has the letter '%s'", s);
  }
  return 0;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (n + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) { free(buf); buf = NULL; }
      buf = nb;
    }
  }
  int err = ferror(f);
  fclose(f);
  if (!buf || err) { free(buf); errno = err ? EIO : ENOMEM; return NULL; }
  buf[n] = 0;
  *len = n;
  return buf;
}

/* Prints an error with source context: loc's file from the module, else the input file. */
static void report(const Module *m, const char *path, const char *text, const DlmErr *e) {
  const char *where = path;
  const char *src = text;
  if (m && e->loc.line > 0 && e->loc.file >= 0 && e->loc.file < m->nfiles && strcmp(m->files[e->loc.file], path)) {
    where = m->files[e->loc.file];
    src = NULL;
  }
  diag_print(stderr, where, src, e->loc.line, e->loc.col, "error", e->msg);
}

static void emit(const Module *m, const Options *o, FILE *out) {
  if (o->emit && strcmp(o->emit, "dot") == 0) ir_print_dot(m, out);
  else ir_print(m, out);
}

/* Writes the emitted text to path via a temporary file and rename. 1 on success. */
static int write_atomic(const Module *m, const Options *o, const char *path) {
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) return 0;
  snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  int ok = f != NULL;
  if (f) {
    emit(m, o, f);
    ok = !ferror(f) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
  } else if (fd >= 0) {
    close(fd);
  }
  if (ok && rename(tmp, path) != 0) ok = 0;
  if (!ok) {
    fprintf(stderr, "dlmc: cannot write '%s': %s\n", path, strerror(errno));
    if (fd >= 0) unlink(tmp);
  }
  free(tmp);
  return ok;
}

static int symbol_values(const Module *m, const Options *o, int64_t *symval) {
  for (int s = 0; s < DLM_MAX_SYMS; s++) symval[s] = 1;
  for (int i = 0; i < o->ndims; i++) {
    int s = ir_sym_find(m, o->dims[i].name);
    char *end;
    long long v = strtoll(o->dims[i].value, &end, 10);
    if (s < 0) { fprintf(stderr, "dlmc: --dim %s: the module has no symbolic dimension '%s'\n", o->dims[i].name, o->dims[i].name); return 0; }
    if (*end || v <= 0) { fprintf(stderr, "dlmc: --dim %s: '%s' is not a positive integer\n", o->dims[i].name, o->dims[i].value); return 0; }
    symval[s] = v;
  }
  return 1;
}

static void summary(const Module *m, const Options *o, const int64_t *symval) {
  int64_t ops = 0;
  int exported = 0;
  for (int i = 0; i < m->nfuncs; i++) {
    FuncStats s;
    stats_func(m, m->funcs[i], symval, &s);
    ops += s.nops;
    exported += strchr(m->funcs[i]->name, '.') == NULL;
  }
  char b[40];
  printf("%s: %d function%s", o->file, m->nfuncs, m->nfuncs == 1 ? "" : "s");
  for (int i = 0; i < m->nfuncs; i++) printf("%s%s", i ? ", " : " (", m->funcs[i]->name);
  printf("%s, %d schedule%s", m->nfuncs ? ")" : "", m->nscheds, m->nscheds == 1 ? "" : "s");
  for (int i = 0; i < m->nscheds; i++) printf("%s%s", i ? ", " : " (", m->scheds[i]->name);
  int copies = 0;
  for (int i = 0; i < m->nparams; i++) copies += ir_param_copy_source(m, i) >= 0;
  printf("%s, %s parameters in %d tensors, ", m->nscheds ? ")" : "", stats_commas(stats_param_count(m), b, sizeof b),
         m->nparams - copies);
  if (copies) printf("%d frozen cop%s, ", copies, copies == 1 ? "y" : "ies");
  printf("%s ops after the passes", stats_commas(ops, b, sizeof b));
  const char *sep = "; FLOPs per token: ";
  for (int i = 0; i < m->nfuncs; i++) {
    if (exported && strchr(m->funcs[i]->name, '.')) continue;
    FuncStats s;
    stats_func(m, m->funcs[i], symval, &s);
    printf("%s%s %s", sep, m->funcs[i]->name, stats_commas((int64_t)(s.flops / s.tokens + 0.5), b, sizeof b));
    sep = ", ";
  }
  printf(".\n");
}

static int compile(const Options *o) {
  Module *m = NULL;
  char *text = NULL;
  size_t len = 0;
  DlmErr e = {0};
  if (ends_with(o->file, ".ir")) {
    text = read_file(o->file, &len);
    if (!text) { fprintf(stderr, "dlmc: cannot read '%s': %s\n", o->file, strerror(errno)); return 1; }
    if (strlen(text) != len) { fprintf(stderr, "dlmc: '%s' contains a NUL byte\n", o->file); free(text); return 1; }
    m = ir_parse(text, o->file, &e);
    if (!m) { report(NULL, o->file, text, &e); free(text); return 1; }
  } else {
    FILE *f = fopen(o->file, "rb");
    if (!f) { fprintf(stderr, "dlmc: cannot read '%s': %s\n", o->file, strerror(errno)); return 1; }
    fclose(f);
    m = dsl_compile_file(o->file, o->defs, o->ndefs, stderr);
    if (!m) return 1;
  }
  PassOptions po = {o->dump_letters, o->dump_after, o->verify, stderr};
  int status = 0;
  if (!pass_pipeline_run(m, &po, &e)) {
    report(m, o->file, text, &e);
    status = 1;
  } else {
    int64_t symval[DLM_MAX_SYMS];
    if (!symbol_values(m, o, symval)) status = 1;
    else if (o->target_cuda) {
      int emit_cuda = o->emit && strcmp(o->emit, "cuda") == 0;
      if (!cuda_target(m, emit_cuda ? o->out : NULL, emit_cuda && !o->out, o->stats, stdout, &e)) {
        report(m, o->file, text, &e);
        status = 1;
      }
      ir_module_free(m);
      free(text);
      return status;
    } else if (o->out && ends_with(o->out, ".dlmc")) {
      if (!artifact_prepare(m, &e) || !artifact_write(o->out, m, &e)) { report(m, o->file, text, &e); status = 1; }
    } else if (o->out) { if (!write_atomic(m, o, o->out)) status = 1; }
    else if (o->emit) emit(m, o, stdout);
    if (status == 0 && o->stats) stats_print(m, symval, o->emit && !o->out ? stderr : stdout);
    if (status == 0 && !o->emit && !o->stats) summary(m, o, symval);
  }
  ir_module_free(m);
  free(text);
  return status;
}

int main(int argc, char **argv) {
  if (argc < 2) { fputs(usage_text, stderr); return 2; }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    fputs(usage_text, stdout);
    print_passes(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) { printf("dlmc " DLMC_VERSION "\n"); return 0; }
  if (strcmp(argv[1], "compile") != 0) return usage_error("unknown command '%s'", argv[1]);
  Options o;
  memset(&o, 0, sizeof o);
  int st = parse_args(argc - 2, argv + 2, &o);
  if (!st) st = compile(&o);
  for (int i = 0; i < o.ndefs; i++) free((char *)o.defs[i].name);
  for (int i = 0; i < o.ndims; i++) free((char *)o.dims[i].name);
  return st;
}
