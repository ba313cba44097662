// bd3lm.dsl — BD3-LM, block discrete denoising diffusion (Arriola et al. 2025; bd3lm-esolm.md §2):
// autoregressive over blocks of `block` tokens, masked diffusion inside a block. The network is the
// MDLM DDiT (time-agnostic, sigma = 0) with block-causal attention at inference; the training loss
// runs every block in one pass over the 2L tokens [x_t ; x0] with the three-part mask of §2.3; t is
// drawn per block from the clipped window U[clip_lo, clip_hi] (§2.2); the sampler decodes block by
// block with the diffusion steps of the current block inside (§2.4).
// The released OWT checkpoints `kuleshov-group/bd3lm-owt-block_size{4,8,16}` are
//   -D vocab=50257 -D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128 -D block=4|8|16
// The defaults below are a small model for tests.

const vocab = 256                 // tokenizer size; the mask token is appended after it
const seq_len = 128               // training length L
const block = 4                   // block size L' (divides seq_len and gen_len)
const layers = 2
const dim = 128
const heads = 4
const cond_dim = 64

const V = vocab + 1
const mask_id = vocab
const head_dim = dim / heads
const n_blocks = seq_len / block

import "std/dit.dsl"
import "std/subs.dsl"
import "std/sampling.dsl"

sym B

param net: DiT @ "backbone"

// ---------------------------------------------------------------------------------------------
// Inference network

// Raw logits of the block-causal network on N tokens: query block i sees key blocks
// i - ctx_blocks + 1 .. i (ctx_blocks = seq_len / block), bidirectionally inside its own block,
// RoPE at the absolute positions. For N <= seq_len this is plain block-causal attention; beyond
// seq_len it is the reference's sliding-window cache of seq_len tokens (RoPE is relative, so the
// reference's re-based positions give the same attention).
fn block_window_mask(x: i32[B, N]) -> bool[N, N] {
  qb = iota([N, N], 0, i32) / block
  kb = iota([N, N], 1, i32) / block
  return kb <= qb && qb - kb < n_blocks
}

fn block_logits(x: i32[B, N]) -> f32[B, N, V] {
  return dit_trunk_masked(gather(net.embed, x), zeros([B], f32), iota([N], 0, f32), block_window_mask(x), net)
}

export fn logits(x: i32[B, seq_len]) -> f32[B, seq_len, V] {
  return block_logits(x)
}

// SUBS log-probabilities (§1 "SUBS"): no mass on [MASK], decoded tokens carried over.
export fn denoise(x: i32[B, seq_len]) -> f32[B, seq_len, V] {
  return subs(block_logits(x), x)
}

// ---------------------------------------------------------------------------------------------
// Training and evaluation (§2.1-§2.3)

const clip_lo = 1e-3              // the window U[clip_lo, clip_hi] of t for `loss`; the defaults
const clip_hi = 1.0               // are the evaluation window (the NELBO); train with e.g. 0.45/0.95

// The vectorized training mask over the 2L rows [x_t ; x0] (§2.3), with half(i) = i / L and
// blk(i) = (i mod L) / block:
//   M_BD : same half and same block              (bidirectional inside a block, in each half)
//   M_OBC: noisy query, clean key, blk(k) < blk(q) (a noisy block sees the clean blocks before it)
//   M_BC : clean query, clean key, blk(k) <= blk(q) (the clean half is block-causal)
fn train_mask() -> bool[2*seq_len, 2*seq_len] {
  q = iota([2*seq_len, 2*seq_len], 0, i32)
  k = iota([2*seq_len, 2*seq_len], 1, i32)
  hq = q / seq_len
  hk = k / seq_len
  bq = (q % seq_len) / block
  bk = (k % seq_len) / block
  return (hq == hk && bq == bk) || (hq == 0 && hk == 1 && bk < bq) || (hq == 1 && hk == 1 && bk <= bq)
}

// SUBS log-probabilities of the noisy half given the clean half: one pass over [x_t ; x0] with
// both halves at RoPE positions 0..L-1, the rows of x_t kept.
fn train_denoise(xt: i32[B, seq_len], x0: i32[B, seq_len]) -> f32[B, seq_len, V] {
  h = gather(net.embed, concat(xt, x0, axis = 1))
  pos = iota([seq_len], 0, f32)
  out = dit_trunk_masked(h, zeros([B], f32), concat(pos, pos, axis = 0), train_mask(), net)
  return subs(out[:, 0:seq_len, :], xt)
}

// t for each of the N = B * n_blocks blocks: antithetic over the flattened grid,
// u_i = (U_i / N + i / N) mod 1, then t = lo + (hi - lo) u (§2.2).
fn clipped_t(u: f32[N], lo: f32, hi: f32) -> f32[N] {
  n = sum(ones([N], f32), axis = 0)
  strat = (u / n + iota([N], 0, f32) / n) % 1.0
  return lo + (hi - lo) * strat
}

// log C(block, k) for k = 0..block.
fn log_binomial() -> f32[block + 1] {
  j = iota([block], 0, f32) + 1.0
  return concat(zeros([1], f32), cumsum(log(block + 1.0 - j) - log(j), axis = 0), axis = 0)
}

// Which tokens of each block are masked, given its t [B, n_blocks]: each token independently with
// probability t, re-drawn until the realized fraction k / block lies in [lo, hi] (the reference's
// `resample`; the lower check is off when lo <= 1e-3, the upper when hi >= 1). Drawn exactly, without
// a rejection loop: the count k from the binomial(block, t) restricted to the allowed counts (by
// inversion with the uniform v; all counts when none is allowed), then the k positions of the
// smallest keys r (a uniformly random k-subset).
fn block_mask(t: f32[B, n_blocks], lo: f32, hi: f32, v: f32[B, n_blocks], r: f32[B, n_blocks, block]) -> bool[B, n_blocks, block] {
  k = iota([block + 1], 0, f32)
  frac = k / block
  allowed = (frac >= lo || lo <= 1e-3) && (frac <= hi || hi >= 1.0)
  tt = reshape(t, [B, n_blocks, 1])
  logpmf = log_binomial() + k * log(maximum(tt, 1e-30)) + (block - k) * log(maximum(1.0 - tt, 1e-30))
  pmf = exp(logpmf - max(logpmf, axis = -1, keepdim = true))
  kept = where(allowed, pmf, 0.0)
  w = where(sum(kept, axis = -1, keepdim = true) > 0.0, kept, pmf)
  target = reshape(v, [B, n_blocks, 1]) * sum(w, axis = -1, keepdim = true)
  count = sum(cast(cumsum(w, axis = -1) <= target, f32), axis = -1)
  ri = reshape(r, [B, n_blocks, block, 1])
  rj = reshape(r, [B, n_blocks, 1, block])
  before = rj < ri || (rj == ri && iota([block, block], 1, i32) < iota([block, block], 0, i32))
  rank = sum(cast(before, f32), axis = -1)
  return rank < reshape(count, [B, n_blocks, 1])
}

// The weighted token losses of every (sequence, block) given the noisy x_t and the t of each block,
// summed over the block: f32[B, n_blocks]. A masked token of block b costs
// -log p(x0 | x_t^b, x0^<b) / t_b (weight 1 when lo > 0.5, the reference's quirk); decoded tokens
// cost 0 (SUBS).
fn block_nll_given(x0: i32[B, seq_len], xt: i32[B, seq_len], t: f32[B, n_blocks], lo: f32) -> f32[B, n_blocks] {
  logp = take_along(train_denoise(xt, x0), reshape(x0, [B, seq_len, 1]))
  w = where(lo > 0.5, ones([B, n_blocks], f32), 1.0 / t)
  return sum(-reshape(logp, [B, n_blocks, block]) * reshape(w, [B, n_blocks, 1]), axis = -1)
}

// The forward process for training: t per block in [lo, hi], then the masked x_t.
// Streams: t, the counts, the keys.
fn block_noise(x0: i32[B, seq_len], seed: i64, step: i64, lo: f32, hi: f32) -> (i32[B, seq_len], f32[B, n_blocks]) {
  t = reshape(clipped_t(rand_uniform(seed, step, [B * n_blocks], f32), lo, hi), [B, n_blocks])
  masked = block_mask(t, lo, hi, rand_uniform(seed, step, [B, n_blocks], f32), rand_uniform(seed, step, [B, n_blocks, block], f32))
  return where(reshape(masked, [B, seq_len]), mask_id, x0), t
}

fn block_nll(x0: i32[B, seq_len], seed: i64, step: i64, lo: f32, hi: f32) -> f32[B, n_blocks] {
  xt, t = block_noise(x0, seed, step, lo, hi)
  return block_nll_given(x0, xt, t, lo)
}

// The block-wise NELBO estimate L_BD (§2.1) per token: t ~ U[clip_lo, clip_hi] per block, the sum
// over all blocks divided by all B * seq_len tokens (the defaults give the evaluation NELBO).
export fn loss(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 {
  tokens = sum(ones([B], f32), axis = 0) * seq_len
  return sum(sum(block_nll(x0, seed, step, clip_lo, clip_hi), axis = 1), axis = 0) / tokens
}

// The clipping-window search statistic (§2.2): for the window [lo, hi], the per-token loss
// averaged inside each block gives one value per (sequence, block); returns their variance over
// the batch. The reference sums it over validation batches for every candidate window and trains
// with the argmin (bench/bd3_clip_search.py).
export fn block_loss_variance(x0: i32[B, seq_len], seed: i64, step: i64, lo: f32, hi: f32) -> f32 {
  per_block = block_nll(x0, seed, step, lo, hi) / block
  n = sum(ones([B], f32), axis = 0) * n_blocks
  mean = sum(sum(per_block, axis = 1), axis = 0) / n
  return sum(sum((per_block - mean) ** 2.0, axis = 1), axis = 0) / n
}

// ---------------------------------------------------------------------------------------------
// Sampler (§2.4)

const gen_len = seq_len           // tokens per sample; -D gen_len=4*seq_len etc. generates beyond L
const gen_blocks = gen_len / block
const bos_id = -1                 // >= 0: the first token is this BOS (GPT-2: 50256); -1: none
const eos_id = -1                 // >= 0: end-of-text id for the variable-length stop; -1: none
const pad_id = -1                 // what follows a variable-length stop in the output

// exp(SUBS) on the whole sequence, rows of block b only: f32[B, block, V]. The network sees every
// token; block-causal attention makes rows of block b independent of later blocks.
fn block_probs(x: i32[B, gen_len], b: i64) -> f32[B, block, V] {
  p = exp(subs(block_logits(x), x))
  rows = cast(b * block, i32) + iota([block], 0, i32)
  return transpose(gather(transpose(p, [1, 0, 2]), rows), [1, 0, 2])
}

// Rows of block b of x: i32[B, block].
fn block_tokens(x: i32[B, gen_len], b: i64) -> i32[B, block] {
  idx = cast(b * block, i32) + iota([B, block], 1, i32)
  return take_along(x, idx)
}

// x with block b replaced by xb.
fn put_block(x: i32[B, gen_len], xb: i32[B, block], b: i64) -> i32[B, gen_len] {
  rel = iota([B, gen_len], 1, i32) - cast(b * block, i32)
  inside = rel >= 0 && rel < block
  return where(inside, take_along(xb, minimum(maximum(rel, 0), block - 1)), x)
}

// One denoising step of block b from the probabilities p [B, block, V] (nucleus-filtered).
//   first_hitting = 1 (the reference default): one uniformly chosen masked position of the block
//     is drawn from p (with a time-agnostic network this is the first-hitting sampler: `block`
//     network calls per block).
//   first_hitting = 0: the ancestral step from t = 1 - i/steps to s = t - 1/steps (s = 0 on the
//     last step): each masked position stays masked with weight s, else draws v with weight
//     p_v (t - s).
// Draws are exponential races in float64; decoded tokens never change.
fn block_step(x: i32[B, gen_len], p: f32[B, block, V], b: i64, i: i64, steps: i64, first_hitting: i64, seed: i64) -> i32[B, gen_len] {
  xb = block_tokens(x, b)
  masked = xb == mask_id
  offset = b * 1048576 + i
  pick = argmax(where(masked, rand_uniform(seed, offset, [B, block], f32), -1.0), axis = -1)
  chosen = masked && iota([B, block], 1, i32) == reshape(pick, [B, 1])
  t = 1.0 - cast(i, f64) / cast(steps, f64)
  s = maximum(t - 1.0 / cast(steps, f64), 0.0) * cast(i + 1 < steps, f64)
  col = iota([V], 0, i32)
  pd = cast(p, f64)
  fh = cast(first_hitting, f64)
  w = where(col == mask_id, s * (1.0 - fh), pd * (fh + (1.0 - fh) * (t - s)))
  drawn = sample_categorical(w, rand_uniform(seed, offset, [B, block, V], f64))
  update = where(first_hitting == 1, chosen, masked)
  return put_block(x, where(update, drawn, xb), b)
}

// True when block b has no mask left in any sequence.
fn block_done(x: i32[B, gen_len], b: i64) -> bool {
  return sum(sum(cast(block_tokens(x, b) == mask_id, i32), axis = 1), axis = 0) == 0
}

// The initial sequence: all masks, with the BOS first when bos_id >= 0.
fn initial_tokens(n: i32[B]) -> i32[B, gen_len] {
  first = iota([B, gen_len], 1, i32) == 0 && bos_id >= 0
  return where(first, bos_id, mask_id)
}

// The variable-length stop rules (§2.4 `_check_stop_conds`) after block b, for each sequence not
// yet stopped (len == gen_len) when var_len = 1. With end = (b+1) block tokens generated:
//   (1) end > window and the unigram entropy (nats) of tokens [end-window, end) is below
//       min_entropy: the sequence ends at end - window (those tokens are dropped);
//   (2) eos_id >= 0 and some token after the BOS position is eos_id: it ends just after the first.
// Returns the new lengths.
fn stop_lengths(x: i32[B, gen_len], len: i32[B], b: i64, var_len: i64, window: i64, min_entropy: f32) -> i32[B] {
  pos = iota([B, gen_len], 1, i64)
  end = (b + 1) * block
  inwin = pos >= end - window && pos < end
  counts = sum(where(reshape(inwin, [B, gen_len, 1]), one_hot(x, V, f32), 0.0), axis = 1)
  freq = counts / cast(window, f32)
  entropy = -sum(where(counts > 0.0, freq * log(maximum(freq, 1e-30)), 0.0), axis = -1)
  low = entropy < min_entropy && end > window
  first_gen = cast(bos_id >= 0, i64)
  is_eos = x == eos_id && pos >= first_gen && pos < end
  first_eos = -max(where(is_eos, -pos, -gen_len), axis = -1)
  cut = minimum(where(low, end - window, gen_len), minimum(first_eos + 1, gen_len))
  open = len == gen_len && var_len == 1
  return where(open, cast(cut, i32), len)
}

// Positions at or beyond each sequence's length become pad_id.
fn finish(x: i32[B, gen_len], len: i32[B]) -> i32[B, gen_len] {
  return where(iota([B, gen_len], 1, i32) < reshape(len, [B, 1]), x, pad_id)
}

// Block-by-block sampling (§2.4): the outer loop walks over the blocks (`cache(exact)`: committed
// blocks never change and block-causal attention never lets them see later ones), the inner loop
// runs the diffusion steps of the current block, each calling the network on the whole sequence.
// Knobs: steps (ancestral steps per block when first_hitting = 0), top_p (nucleus as the
// reference: the token that crosses top_p is excluded), var_len with window / min_entropy for
// the stop rules (the reference uses 256 tokens and 4 nats with GPT-2 tokens).
sampler blocks(steps: i64 = 16, seed: i64 = 1, top_p: f32 = 1.0, first_hitting: i64 = 1, var_len: i64 = 0, window: i64 = 256, min_entropy: f32 = 4.0) -> i32[B, gen_len] {
  state x: i32[B, gen_len] = initial_tokens(zeros([B], i32))
  state len: i32[B] = full([B], gen_len, i32)
  nucleus = cast(top_p < 1.0, i64)
  inner = first_hitting * block + (1 - first_hitting) * steps
  loop b in 0..gen_blocks cache(exact) {
    loop i in 0..inner {
      p = memo block_probs(x, b)
      loop k in 0..nucleus {
        p = memo top_p_filter(p, top_p)
      }
      x = block_step(x, p, b, i, inner, first_hitting, seed)
      break if block_done(x, b)
    }
    len = stop_lengths(x, len, b, var_len, window, min_entropy)
    break if sum(cast(len < gen_len, i32), axis = 0) == sum(ones([B], i32), axis = 0)
  }
  y = finish(x, len)
  return y
}
