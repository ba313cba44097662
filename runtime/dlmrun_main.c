/* dlmrun_main.c — the `dlmrun` command: dispatches `dlmrun ART.dlmc SUBCOMMAND ...` to the
 * subcommands in runtime/ (train.c, eval.c, sample.c, distill.c, call.c). Exit status: 0 ok, 1 failure,
 * 2 usage. */
#include "dlmrun.h"
#include <string.h>

#define DLMRUN_VERSION "0.1.0"

static const char usage_text[] =
  "usage: dlmrun MODEL.dlmc COMMAND [options]      (MODEL.dlmc from `dlmc compile M.dsl -o MODEL.dlmc`)\n"
  "       dlmrun --help | --version\n"
  "\n"
  "commands:\n"
  "  train  --data FILE --batch B --steps N --lr X --out DIR [--tokenizer byte|gpt2] [--tokenizer-dir DIR]\n"
  "         [--warmup W] [--schedule constant|cosine] [--clip 1.0] [--ema 0.9999] [--weight-decay 0]\n"
  "         [--seed 0] [--resume] [--device cpu|cuda] [--backend B] [--ckpt-every K] [--log-every K] [--stop-after K]\n"
  "         [--loss NAME[:STEP],...,NAME] (objectives by step, e.g. curriculum_loss:5000,loss; default loss)\n"
  "      Trains the model's `loss` on the first 90% of FILE's tokens (seq_len windows drawn from the\n"
  "      seed) with AdamW (0.9, 0.999, 1e-8, decoupled weight decay), linear warmup, clipping by\n"
  "      global norm and an EMA (decay min(ema, (1+n)/(10+n))). Writes DIR/metrics.jsonl and\n"
  "      DIR/checkpoint.safetensors (every K steps and at the end). --resume continues DIR's run\n"
  "      exactly; its other options default to the checkpoint's and must agree with it. --stop-after K\n"
  "      ends the run after step K with a checkpoint, as an interruption would (the schedule still\n"
  "      spans --steps).\n"
  "  eval   --ckpt CKPT --data FILE [--tokenizer ...] [--batch B] [--batches N] [--all] [--json] [--allow-extra]\n"
  "         [--device ...] [--backend ...]\n"
  "      NELBO (nats/token) of `loss` over the held-out last 10% of FILE with fixed seeds, EMA weights,\n"
  "      and the perplexity bound exp(NELBO). --all scores every whole seq_len window of FILE instead\n"
  "      (e.g. samples under an autoregressive model: its perplexity).\n"
  "  sample --ckpt CKPT [--steps T] [--n N] [--seed S] [--top-p P] [--len L] [--set KNOB=VALUE]\n"
  "         [--sampler NAME] [--no-memo] [--no-cache] [--tokenizer ...] [--json] [--allow-extra]\n"
  "         [--device ...] [--backend ...]\n"
  "      Runs the sampler (default `ancestral`) with EMA weights and prints the decoded text (--json adds\n"
  "      token ids and nfe). --steps, --seed and --top-p set the knobs steps, seed and top_p,\n"
  "      --set any knob; --n is the batch B. Lengths are fixed at compile time (dlmc -D seq_len=...):\n"
  "      --len L prints the first L tokens and, beyond `ancestral`'s length, picks the sampler with the\n"
  "      shortest long enough output (MDLM: semi_ar). Memo calls (the network when no token changed)\n"
  "      are reused unless --no-memo; the network evaluations (nfe) and steps/s go to stderr.\n"
  "      Loops with a KV-cache plan (cache(exact) in the DSL) use it unless --no-cache.\n"
  "  distill --ckpt CKPT --rounds R --steps-per-round N --out DIR [--loss distill_loss] [--data FILE]\n"
  "         [--batch B] [--lr 6e-5] [--warmup W] [--clip 1.0] [--ema 0.999] [--weight-decay 0] [--seed 0]\n"
  "         [--log-every 10] [--tokenizer ...] [--allow-extra] [--device ...] [--backend ...]\n"
  "      Self-distillation (Duo's DCD, MDLM's SDTT): the student starts from CKPT's raw weights; each round\n"
  "      first refreshes the model's frozen parameter copies (the teacher) from the student, then runs N\n"
  "      AdamW steps of distill_loss(x0, seed, step, round). Data, tokenizer and batch default to CKPT's.\n"
  "      Writes DIR/checkpoint.safetensors after every round (sample/eval read it) and DIR/metrics.jsonl.\n"
  "  call FUNCTION --ckpt CKPT --in NAME=FILE.npy ... --out NAME=FILE.npy ... [--allow-extra]\n"
  "         [--device ...] [--backend ...]\n"
  "      Runs any function of the artifact; outputs are named by name or position (0, 1, ...).\n"
  "\n"
  "CKPT is a dlmrun run directory (or its checkpoint.safetensors; EMA weights are used) or a\n"
  "safetensors file with the model's parameter names. Missing, mis-shaped and unknown tensors are\n"
  "errors naming the tensor (rotary inv_freq buffers are ignored; --allow-extra ignores others).\n"
  "--device cpu|cuda picks the processor: cpu runs the compiled CPU backend, cuda the CUDA backend (train\n"
  "also runs the optimizer on the device); without a GPU --device cuda exits 1 with \"no CUDA device: ...\".\n"
  "Without --device: $DLM_DEVICE (cpu or cuda) if set, else cuda when a CUDA device opens, else cpu\n"
  "(stderr says which and why).\n"
  "--backend interp|cpu|cuda picks the executor instead (interp: the reference interpreter, on the cpu;\n"
  "train --backend cuda keeps the optimizer on the host); with --device it must be on that device.\n";

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "--version")) { printf("dlmrun " DLMRUN_VERSION "\n"); return 0; }
  if (argc < 3) { fputs(usage_text, stderr); return 2; }
  const char *cmd = argv[2];
  if (!strcmp(cmd, "train")) return dlmrun_train(argv[1], argc - 3, argv + 3);
  if (!strcmp(cmd, "eval")) return dlmrun_eval(argv[1], argc - 3, argv + 3);
  if (!strcmp(cmd, "sample")) return dlmrun_sample(argv[1], argc - 3, argv + 3);
  if (!strcmp(cmd, "call")) return dlmrun_call(argv[1], argc - 3, argv + 3);
  if (!strcmp(cmd, "distill")) return dlmrun_distill(argv[1], argc - 3, argv + 3);
  fprintf(stderr, "dlmrun: unknown command '%s' (train, eval, sample, distill, call; try dlmrun --help)\n", cmd);
  return 2;
}
