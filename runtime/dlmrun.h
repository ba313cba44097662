/* dlmrun.h — the `dlmrun` subcommands (each in its own file) and the helpers they share
 * (runtime/rt_common.c): opening the artifact, choosing a backend, parsing option values, loading
 * weights from checkpoints. Commands print their own errors to stderr and return the exit status:
 * 0 ok, 1 failure, 2 usage. */
#ifndef DLM_DLMRUN_H
#define DLM_DLMRUN_H
#include <stdint.h>
#include <stdio.h>
#include "backend.h"
#include "tensor.h"

/* argv[0] is the first argument after the subcommand name. */
int dlmrun_call(const char *artifact, int argc, char **argv);    /* runtime/call.c */
int dlmrun_train(const char *artifact, int argc, char **argv);   /* runtime/train.c */
int dlmrun_eval(const char *artifact, int argc, char **argv);    /* runtime/eval.c */
int dlmrun_sample(const char *artifact, int argc, char **argv);  /* runtime/sample.c */
int dlmrun_distill(const char *artifact, int argc, char **argv); /* runtime/distill.c */

/* ================================================================ runtime/rt_common.c */
/* artifact_read, printing "dlmrun: <message>" on failure. */
Module *rt_open_artifact(const char *path);
/* Where a command runs: --device cpu|cuda (the processor) and --backend interp|cpu|cuda (the
 * executor; interp and cpu run on the cpu device, cuda on the cuda device). Neither given: the
 * device $DLM_DEVICE names (cpu or cuda) if set, else cuda when a CUDA device opens, else cpu, and
 * stderr says which was picked and why. */
typedef struct { const char *device, *backend; } RtTarget;
/* Takes --device/--backend VALUE into t: 1 when flag is one of them, else 0. */
int rt_target_opt(const char *flag, const char *value, RtTarget *t);
/* Parse-time check: prints "dlmrun CMD: ..." and returns 2 for a device that is not cpu or cuda,
 * or one that contradicts --backend; else 0. (An unknown --backend name fails at rt_target_open.) */
int rt_target_check(const char *cmd, const RtTarget *t);
/* The backend for t opened on m (*be set), or NULL after printing "dlmrun CMD: ..." (for cuda
 * without a device: "no CUDA device: <reason>"). */
BackendState *rt_target_open(const char *cmd, const RtTarget *t, const Module *m, const Backend **be);
/* Option values: print "dlmrun: FLAG: ..." and return 0 on a bad value. */
int rt_int(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out);
int rt_num(const char *flag, const char *s, double lo, double hi, double *out);
/* The value of option argv[*i] (advancing *i), or NULL after printing that it is missing. */
const char *rt_value(int argc, char **argv, int *i);
int rt_usage(const char *cmd, const char *fmt, const char *arg);   /* prints, returns 2 */

/* ================================================================ runtime/checkpoint.c (weights) */
#define CKPT_FILE "checkpoint.safetensors"
/* path itself if it is a file, else path/checkpoint.safetensors (malloc'd). */
char *ckpt_file(const char *path);
/* The module's parameters from a checkpoint file or run directory, each converted to the declared
 * dtype. A dlmrun training checkpoint provides its EMA weights when use_ema (else the raw ones).
 * Another file must name the parameters exactly: a missing or mis-shaped tensor is an error naming
 * it; an extra tensor is a warning (on warn) if it is a known buffer (rotary inv_freq) or
 * allow_extra, else an error. NULL + *e on failure. */
ParamStore *ckpt_load_weights(const Module *m, const char *path, int use_ema, int allow_extra, FILE *warn, DlmErr *e);

#endif
