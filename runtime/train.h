/* train.h — the pieces of `dlmrun train` that tests exercise directly: the learning-rate schedule,
 * global-norm clipping, AdamW and EMA (runtime/optim.c), the token data split and batches
 * (runtime/data.c) and the training-state checkpoint (runtime/checkpoint.c). */
#ifndef DLM_TRAIN_H
#define DLM_TRAIN_H
#include <stdint.h>
#include "tensor.h"
#include "tokenizer.h"

/* ================================================================ runtime/optim.c */
typedef enum { LR_CONSTANT, LR_COSINE } LrSchedule;
typedef struct {
  double lr;               /* peak learning rate */
  int64_t warmup;          /* linear warmup steps (0 = none) */
  int64_t steps;           /* total steps (the cosine decays to 0 at the last one) */
  LrSchedule schedule;
  double beta1, beta2, eps, weight_decay;  /* AdamW; weight decay is decoupled (PyTorch AdamW) */
  double clip;             /* max global gradient norm; 0 = no clipping */
  double ema;              /* EMA decay; 0 = the EMA is a copy of the weights */
} OptConfig;

/* The learning rate of update number t (1-based): lr * t / warmup during warmup, then constant, or
 * for cosine lr * (1 + cos(pi * (t - warmup) / (steps - warmup))) / 2. */
double lr_at(const OptConfig *c, int64_t t);
/* sqrt of the sum of squares of every element of the n gradients, read as f32 and accumulated in
 * double in a fixed order: per chunk of 4096 elements of a tensor, 16 interleaved sums added in
 * lane order; the chunks' sums added in tensor and chunk order. */
double grad_global_norm(Tensor *const *g, int n);
/* The factor the gradients are multiplied by: clip / (norm + 1e-6) when clip > 0 and norm > clip
 * (PyTorch clip_grad_norm_), else 1. */
double clip_factor(double norm, double clip);
/* One AdamW update number t (1-based) of parameter p (f32) with gradient g * gscale and moments
 * m, v (f32, same shape): p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). Element math in double, stored in f32
 * (the gradient is read as f32). */
void adamw_update(const OptConfig *c, int64_t t, double lr, double gscale, Tensor *p, const Tensor *g, Tensor *m, Tensor *v);
/* MDLM's EMA decay after n updates (1-based): min(decay, (1 + n) / (10 + n)). */
double ema_decay(double decay, int64_t n);
/* ema -= (1 - d) (ema - p). */
void ema_update(double d, Tensor *ema, const Tensor *p);
/* One parameter for opt_step: p, m, v, ema f32 of one shape; g its gradient (any float dtype, read
 * as f32; NULL: the loss does not read p, which only moves the EMA). */
typedef struct { Tensor *p, *m, *v, *ema; const Tensor *g; } OptTensor;
/* Update number t (1-based) of nt parameters with learning rate lr and EMA decay ema_d: the
 * global norm of the gradients (*gnorm), then for each parameter adamw_update with the clip
 * factor of that norm and ema_update, in two passes over the data split over nthreads threads
 * (0: OpenMP's default, OMP_NUM_THREADS or the online processors; small models use fewer). The
 * results are those of the serial functions above, bit for bit, for any number of threads. 0 when out of memory. */
int opt_step(const OptConfig *c, int64_t t, double lr, double ema_d, const OptTensor *ts, int nt, int nthreads, double *gnorm);

/* ================================================================ runtime/data.c */
typedef struct {
  int32_t *ids; int64_t n;  /* every token of the file */
  int64_t ntrain;           /* the first 90% (rounded down) are for training, the rest held out */
  int64_t seq_len;
  int64_t train_windows, heldout_windows;  /* whole seq_len windows in each part */
} TokData;

/* Tokenize the file; every id must be < vocab. Both parts need at least one window. */
int data_load(const char *path, Tokenizer *tok, int64_t seq_len, int64_t vocab, TokData *d, DlmErr *e);
void data_free(TokData *d);
/* Batch of training step `step` (0-based): b rows, each a training window chosen uniformly by a
 * Philox stream keyed by seed (row r of step s uses counter s * b + r). out is b * seq_len ids. */
void data_train_batch(const TokData *d, uint64_t seed, int64_t step, int64_t b, int32_t *out);
/* count held-out windows starting at window `first`. */
void data_heldout_batch(const TokData *d, int64_t first, int64_t count, int32_t *out);

/* ================================================================ runtime/checkpoint.c */
#define CKPT_FORMAT "dlmrun-checkpoint-1"
/* Training state: the weights, their EMA and the Adam moments (stores with the same names, in
 * module parameter order) and the number of completed updates. */
typedef struct { ParamStore *w, *ema, *m, *v; int64_t step; } TrainState;
void train_state_free(TrainState *s);

/* A checkpoint also records string metadata (config, tokenizer, data position, RNG state). */
#define CKPT_MAX_META 40
typedef struct { int n; const char *keys[CKPT_MAX_META]; char *vals[CKPT_MAX_META]; } CkptMeta;
void ckpt_meta_set(CkptMeta *cm, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *ckpt_meta_get(const CkptMeta *cm, const char *key);
void ckpt_meta_free(CkptMeta *cm);

/* Write dir/checkpoint.safetensors atomically: weights under their names, "ema.<name>",
 * "adam_m.<name>", "adam_v.<name>"; metadata format, step and cm. */
int ckpt_save(const char *dir, const Module *m, const TrainState *s, const CkptMeta *cm, DlmErr *e);
/* Read a checkpoint written by ckpt_save for module m (every tensor checked by name and shape).
 * cm receives all metadata. */
int ckpt_load(const char *path, const Module *m, TrainState *s, CkptMeta *cm, DlmErr *e);

#endif
