/* pipeline.c — the pass manager: the one list of passes (in the style of QBE's main.c), dumps after
 * the passes named by -d LETTERS or --dump-after=NAME, and verification after every pass in debug
 * builds (or always, when asked). */
#include "passes.h"
#include <string.h>

/* The pipeline, in order. To add a pass: write passes/<name>.c with `int pass_<name>(Module *,
 * DlmErr *)`, declare it in passes.h and add one line here (docs/passes.md). Letters in use:
 * P (input, not a pass), S K X E D C. Reserved for passes to come: A autodiff, F fusion, M memory
 * planning. */
static const Pass passes[] = {
  {"shape_infer", 'S', pass_shape_infer, 0, "re-derive every type with the op shape rules and check it"},
  {"fold",        'K', pass_fold,        1, "fold ops on constants; drop x*1, x+0, x-0, x/1"},
  {"scale_fold",  'X', pass_scale_fold,  1, "merge mul(mul(x, const a), const b) into mul(x, const a*b)"},
  {"cse",         'E', pass_cse,         1, "reuse identical nodes (common subexpressions)"},
  {"dce",         'D', pass_dce,         1, "remove nodes no output depends on; renumber compactly"},
  {"kvcache",     'C', pass_kvcache,     0, "plan the KV caches of cache(...) sampler loops (buffers, commits, block-row calls)"},
};
enum { NPASSES = sizeof passes / sizeof *passes };

const Pass *pass_table(int *n) { *n = NPASSES; return passes; }

const Pass *pass_find(const char *name) {
  for (int i = 0; i < NPASSES; i++)
    if (strcmp(passes[i].name, name) == 0) return &passes[i];
  return NULL;
}

static int letter_known(char c) {
  if (c == PASS_DUMP_INPUT) return 1;
  for (int i = 0; i < NPASSES; i++)
    if (passes[i].letter == c) return 1;
  return 0;
}

int pass_letters_valid(const char *letters, char *bad) {
  for (const char *p = letters; *p; p++)
    if (!letter_known(*p)) { *bad = *p; return 0; }
  return 1;
}

static int wants_dump(const PassOptions *o, char letter, const char *name) {
  if (o->dump_letters && strchr(o->dump_letters, letter)) return 1;
  return o->dump_after && name && strcmp(o->dump_after, name) == 0;
}

static void dump(const Module *m, const PassOptions *o, const char *title, int round) {
  FILE *out = o->dump_out ? o->dump_out : stderr;
  if (round > 1) fprintf(out, "# ---- after %s (round %d)\n", title, round);
  else fprintf(out, "# ---- after %s\n", title);
  ir_print(m, out);
  fflush(out);
}

static int must_verify(const PassOptions *o) {
#ifdef NDEBUG
  return o->verify;
#else
  (void)o;
  return 1;
#endif
}

/* Runs one pass; returns its change count, or -1 with *e set. */
static int run_one(Module *m, const Pass *p, const PassOptions *o, int round, DlmErr *e) {
  int changes = p->run(m, e);
  if (changes < 0) {
    if (!e->set) err_set(e, (SrcLoc){0, 0, 0}, "pass %s failed", p->name);
    return -1;
  }
  if (must_verify(o)) {
    DlmErr ve = {0};
    if (!ir_verify(m, &ve)) {
      err_set(e, ve.loc, "IR invalid after pass %s: %s", p->name, ve.msg);
      return -1;
    }
  }
  if ((round == 1 || changes > 0) && wants_dump(o, p->letter, p->name)) dump(m, o, p->name, round);
  return changes;
}

int pass_pipeline_run(Module *m, const PassOptions *o, DlmErr *e) {
  PassOptions none = {0};
  if (!o) o = &none;
  if (wants_dump(o, PASS_DUMP_INPUT, NULL)) dump(m, o, "input", 1);
  if (!ir_verify(m, e)) return 0;
  for (int round = 1; round <= PASS_MAX_ROUNDS; round++) {
    int changed = 0;
    for (int i = 0; i < NPASSES; i++) {
      if (round > 1 && !passes[i].repeat) continue;
      int c = run_one(m, &passes[i], o, round, e);
      if (c < 0) return 0;
      changed += c;
    }
    if (!changed) return 1;
  }
  return 1;
}
