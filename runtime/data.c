/* data.c — training text as token windows: the file is tokenized once, its first 90% of tokens
 * are the training part and the last 10% the held-out part, each cut into seq_len windows.
 * Training batches pick windows with a counter-based Philox stream, so the batch of any step is a
 * pure function of (seed, step): resuming needs no saved data-loader state beyond the step. */
#include "train.h"
#include "fileio.h"
#include "interp.h"
#include <stdlib.h>
#include <string.h>

#define DATA_MAX_BYTES ((size_t)4 << 30)
#define DATA_STREAM 0x64617461u   /* "data": keeps batch draws apart from the model's own streams */

static const SrcLoc noloc = {0, 0, 0};

int data_load(const char *path, Tokenizer *tok, int64_t seq_len, int64_t vocab, TokData *d, DlmErr *e) {
  memset(d, 0, sizeof *d);
  size_t len;
  char *text = file_read_all(path, DATA_MAX_BYTES, &len, e);
  if (!text) return 0;
  TokIds ids = {0};
  int ok = tok_encode(tok, text, len, &ids, e) == 0;
  free(text);
  if (!ok) { tokids_free(&ids); return 0; }
  for (size_t i = 0; i < ids.n; i++)
    if (ids.ids[i] < 0 || ids.ids[i] >= vocab) {
      err_set(e, noloc, "%s: token %zu has id %d, outside the model's vocabulary of %lld (tokenizer %s)", path, i,
              ids.ids[i], (long long)vocab, tok_name(tok));
      tokids_free(&ids);
      return 0;
    }
  d->ids = ids.ids;
  d->n = (int64_t)ids.n;
  d->ntrain = d->n / 10 * 9 + (d->n % 10) * 9 / 10;
  d->seq_len = seq_len;
  d->train_windows = d->ntrain / seq_len;
  d->heldout_windows = (d->n - d->ntrain) / seq_len;
  if (d->train_windows < 1 || d->heldout_windows < 1) {
    err_set(e, noloc, "%s: %lld tokens are too few: the training part (90%%) and the held-out part (10%%) each need at "
            "least one window of %lld tokens", path, (long long)d->n, (long long)seq_len);
    data_free(d);
    return 0;
  }
  return 1;
}

void data_free(TokData *d) {
  free(d->ids);
  memset(d, 0, sizeof *d);
}

void data_train_batch(const TokData *d, uint64_t seed, int64_t step, int64_t b, int32_t *out) {
  for (int64_t r = 0; r < b; r++) {
    double u = philox_uniform(seed, 0, DATA_STREAM, (uint64_t)(step * b + r), 1);
    int64_t w = (int64_t)(u * (double)d->train_windows);
    if (w >= d->train_windows) w = d->train_windows - 1;
    memcpy(out + r * d->seq_len, d->ids + w * d->seq_len, (size_t)d->seq_len * sizeof *out);
  }
}

void data_heldout_batch(const TokData *d, int64_t first, int64_t count, int32_t *out) {
  memcpy(out, d->ids + d->ntrain + first * d->seq_len, (size_t)(count * d->seq_len) * sizeof *out);
}
