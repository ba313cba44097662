// esolm.dsl — Eso-LM (B) (Sahoo, Yang et al. 2025; bd3lm-esolm.md §3): one time-agnostic DDiT that
// is both a masked diffusion model and an any-order autoregressive model. Attention is causal in a
// per-sequence decoding order sigma (the permutation is data, the mask a lower triangle over the
// sigma-sorted rows), and every token keeps the RoPE phase of its original position. The hybrid
// NELBO (§3.1) adds an AR term for the tokens left masked by the diffusion posterior
// q0 (each token masked with probability 1 - alpha0) and an MDM term with alpha_t = alpha0 (1 - t).
// The sampler (§3.4) decodes a random fraction alpha0 of the tokens by diffusion in random order,
// then the rest left to right, one network call per decoding event; both phases are one loop
// over events declared cache(exact): a decoded row only ever sees decoded rows before it.
// The released `sahoo-diffusion/Eso-LM-B-alpha-*` sizes are
//   -D vocab=50257 -D seq_len=1024 -D layers=12 -D dim=768 -D heads=12 -D cond_dim=128 -D alpha0=...

const vocab = 256
const seq_len = 128
const layers = 2
const dim = 128
const heads = 4
const cond_dim = 64
const alpha0 = 0.25               // training alpha0: 1 = pure MDM, 0 = pure AR

const V = vocab + 1
const mask_id = vocab
const head_dim = dim / heads
const time_eps = 1e-3             // t is scaled by 1 - time_eps (§3.1)

import "std/dit_perm.dsl"
import "std/subs.dsl"
import "std/schedules.dsl"
import "std/sampling.dsl"
import "std/nucleus.dsl"
import "std/permute.dsl"

sym B

param net: DiT @ "backbone"

// Causal attention over rows in decoding order: row q sees rows k <= q.
fn causal_mask(z: i32[B, L]) -> bool[L, L] {
  return iota([L, L], 1, i32) <= iota([L, L], 0, i32)
}

// The AR term's mask over the 2L rows [z0 ; x] in decoding order: BD3-LM's §2.3 mask with blocks
// of one token (a noisy row sees itself and the clean rows strictly before it; the clean half is
// causal; clean rows never see noisy ones).
fn ar_mask(z: i32[B, L2]) -> bool[L2, L2] {
  q = iota([L2, L2], 0, i32)
  k = iota([L2, L2], 1, i32)
  hq = q / seq_len
  hk = k / seq_len
  return (hq == hk && q == k) || (hq == 0 && hk == 1 && k - seq_len < q) || (hq == 1 && hk == 1 && k <= q)
}

// Raw logits for tokens z [B, seq_len] given in decoding order, where order[b, r] is the original
// position of row r (its RoPE phase); attention is causal in that order.
export fn logits(z: i32[B, seq_len], order: i32[B, seq_len]) -> f32[B, seq_len, V] {
  return dit_logits_at(z, cast(order, f32), causal_mask(z), net)
}

// SUBS log-probabilities of the rows of z (decoding order).
export fn denoise(z: i32[B, seq_len], order: i32[B, seq_len]) -> f32[B, seq_len, V] {
  return subs(logits(z, order), z)
}

// ---------------------------------------------------------------------------------------------
// The hybrid NELBO (§3.1-§3.2)

// The MDM term of each sequence given its noise: masked tokens (probability 1 - alpha_t), sort keys
// in [0, 1) and alpha_t. Order: the clean tokens first, then the masked ones, each group by
// decreasing key; causal attention in that order; a masked token costs
// -log p * alpha0 (1 - eps) / (1 - alpha_t). f32[B].
fn mdm_term_given(x0: i32[B, seq_len], masked: bool[B, seq_len], key: f32[B, seq_len], alpha_t: f32[B]) -> f32[B] {
  order = slot_order(descending_slots(key + where(masked, 0.0, 1.0)))
  zs = take_along(where(masked, mask_id, x0), order)
  xs = take_along(x0, order)
  logp = take_along(denoise(zs, order), reshape(xs, [B, seq_len, 1]))
  weight = alpha0 * (1.0 - time_eps) / (1.0 - alpha_t)
  return -sum(reshape(logp, [B, seq_len]), axis = 1) * weight
}

// The MDM term's noise: t stratified over the batch in [eps, 1), alpha_t = alpha0 (1 - (1 - eps) t),
// each token masked with probability 1 - alpha_t, uniform sort keys (a random order in each group).
fn mdm_term(x0: i32[B, seq_len], seed: i64, step: i64) -> f32[B] {
  t = stratified_t(rand_uniform(seed, step, [B], f32))
  alpha_t = alpha0 * (1.0 - (1.0 - time_eps) * t)
  masked = rand_uniform(seed, step, [B, seq_len], f32) < reshape(1.0 - alpha_t, [B, 1])
  return mdm_term_given(x0, masked, rand_uniform(seed, step, [B, seq_len], f32), alpha_t)
}

// log p(x[order[r]] | x[order[0..r-1]]) for every row r of the order (the any-order AR factors):
// one pass over [MASK ... ; x] in that order (both halves at the tokens' original RoPE positions)
// with ar_mask: noisy row r sees only itself and the clean rows before it. f32[B, seq_len].
fn order_logp(x0: i32[B, seq_len], order: i32[B, seq_len]) -> f32[B, seq_len] {
  xs = take_along(x0, order)
  zs = full([B, seq_len], mask_id, i32)
  pos2 = cast(concat(order, order, axis = 1), f32)
  both = concat(zs, xs, axis = 1)
  out = dit_logits_at(both, pos2, ar_mask(both), net)
  return reshape(take_along(subs(out[:, 0:seq_len, :], zs), reshape(xs, [B, seq_len, 1])), [B, seq_len])
}

// The AR term of each sequence given z0's masked tokens and sort keys in [0, 1) for the clean
// ones. Order: the clean tokens first by decreasing key, then the masked ones left to right; a
// masked token costs -log p(x | z0 and the true tokens before it in the order), which is its
// order_logp factor (a noisy row sees no other noisy row, so z0's clean tokens need not be
// shown in the noisy half). f32[B].
fn ar_term_given(x0: i32[B, seq_len], masked: bool[B, seq_len], key: f32[B, seq_len]) -> f32[B] {
  pos = iota([B, seq_len], 1, f32)
  order = slot_order(descending_slots(where(masked, 1.0 - pos / seq_len, 2.0 + key)))
  logp = order_logp(x0, order)
  return -sum(where(take_along(masked, order), logp, 0.0), axis = 1)
}

// The AR term's noise: z0 masks each token with probability 1 - alpha0.
fn ar_term(x0: i32[B, seq_len], seed: i64, step: i64) -> f32[B] {
  masked = rand_uniform(seed, step, [B, seq_len], f32) < 1.0 - alpha0
  return ar_term_given(x0, masked, rand_uniform(seed, step, [B, seq_len], f32))
}

// The hybrid NELBO per token: both terms for every sequence (the reference gives each sequence
// one of them, by splitting the batch), summed over all B * seq_len tokens.
export fn loss(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 {
  tokens = sum(ones([B], f32), axis = 0) * seq_len
  return sum(mdm_term(x0, seed, step) + ar_term(x0, seed, step), axis = 0) / tokens
}

// The exact negative log-likelihood per token under one random decoding order of the sampler's
// kind (§3.5): the first Binomial(seq_len, alpha0) slots hold a random subset of the positions in
// random order, the rest follow left to right; -log p_order(x) = -sum of the order_logp factors.
// Averaged over orders it bounds -log p(x) from above (Jensen), like the NELBO.
export fn exact_nll(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 {
  first = rand_uniform(seed, step, [B, seq_len], f32) < alpha0
  pos = iota([B, seq_len], 1, f32)
  order = slot_order(descending_slots(where(first, 2.0 + rand_uniform(seed, step, [B, seq_len], f32), 1.0 - pos / seq_len)))
  tokens = sum(ones([B], f32), axis = 0) * seq_len
  return -sum(sum(order_logp(x0, order), axis = 1), axis = 0) / tokens
}

// ---------------------------------------------------------------------------------------------
// Sampler (§3.4)

// The decoding schedule, shared by the batch: with T steps and alpha_t = alpha (1 - t), each token
// is decoded by diffusion step i (t = 1 - i/T to s = t - 1/T) with probability alpha / T and left
// to the sequential phase with probability 1 - alpha (the reference's Binomial chunk draws are
// this multinomial, thinned step by step). Returns, for each slot r of the decoding order, the
// event that decodes it: the diffusion step for the first N_diff slots (nondecreasing), then
// T, T+1, ... for the sequential slots (one token per event). f64[seq_len].
fn schedule(steps: i64, alpha: f32, seed: i64) -> f64[seq_len] {
  u = rand_uniform(seed, 0, [seq_len], f64)
  a = cast(alpha, f64)
  T = cast(steps, f64)
  diff = u < a
  step_of = where(diff, minimum(floor(u * T / a), T - 1.0), T)
  sorted = -sort_desc(-step_of)
  n_diff = sum(cast(diff, f64), axis = 0)
  r = iota([seq_len], 0, f64)
  return where(r < n_diff, sorted, T + r - n_diff)
}

// The decoding order of each sequence (order[b, r] = the position decoded in slot r): the n_diff
// diffusion slots take a uniformly random subset of the positions in random order, the rest
// follow in increasing position (the left-to-right sequential phase).
fn decoding_order(events: f64[seq_len], steps: i64, seed: i64, n: i32[B]) -> i32[B, seq_len] {
  n_diff = sum(cast(events < cast(steps, f64), i32), axis = 0)
  rank = descending_slots(rand_uniform(seed, 1, [B, seq_len], f32))
  diff = rank < n_diff
  tail = n_diff + cumsum(cast(!diff, i32), axis = 1) - 1
  return slot_order(where(diff, rank, tail))
}

// The end of the decoding event that starts at slot `done`: #{r : events[r] <= events[done]} (the
// events are nondecreasing, so the event decodes the slots [done, end)); seq_len once every slot is
// decoded.
fn event_end(events: f64[seq_len], done: i64) -> i64 {
  r = iota([seq_len], 0, i64)
  current = sum(where(r == done, events, 0.0), axis = 0)
  return where(done >= seq_len, seq_len, sum(cast(events <= current, i64), axis = 0))
}

// The SUBS probabilities of the rows [done, end) of z (decoding order), the rows the event
// decodes; the other rows hold the uniform distribution (decode_event never reads them), so a
// cached call needs to compute only the active rows.
fn event_probs(z: i32[B, seq_len], order: i32[B, seq_len], done: i64, end: i64) -> f32[B, seq_len, V] {
  r = iota([seq_len, 1], 0, i64)
  return where(r >= done && r < end, exp(denoise(z, order)), 1.0 / V)
}

// One decoding event: the slots [done, end) are drawn from p (exponential race in float64); other
// rows are unchanged. Returns z, the next event's start (end) and its end.
fn decode_event(z: i32[B, seq_len], p: f32[B, seq_len, V], events: f64[seq_len], done: i64, end: i64, seed: i64) -> (i32[B, seq_len], i64, i64) {
  r = iota([seq_len], 0, i64)
  drawn = sample_categorical(cast(p, f64), rand_uniform(seed, 2 + done, [B, seq_len, V], f64))
  return where(r >= done && r < end, drawn, z), end, event_end(events, end)
}

// Tokens back in position order: x[b, order[b, r]] = z[b, r].
fn unpermute(z: i32[B, seq_len], order: i32[B, seq_len]) -> i32[B, seq_len] {
  return take_along(z, slot_order(order))
}

// Eso-LM (B) sampling: steps diffusion steps at the sampling alpha (default the training alpha0),
// then the sequential phase. Each event decodes the slots [done, end) and the next starts at end.
// The loop over decoding events is cache(exact): every row attends only to rows at or before it,
// and an event changes only the rows [done, end) with done = the previous event's end, so the
// keys/values of the rows before `done` are final. The planner (docs/passes.md, "dynamic row
// windows") runs each event's network call on the rows [done, end) against the cached rows and then
// commits those rows' keys/values; uncached (--no-cache), every event runs the network on all
// seq_len rows. `end` is computed by the previous event (or before the loop) so that the window is
// known before the network call.
sampler ancestral(steps: i64 = 128, seed: i64 = 1, top_p: f32 = 1.0, alpha: f32 = alpha0) -> i32[B, seq_len] {
  state events: f64[seq_len] = schedule(steps, alpha, seed)
  state order: i32[B, seq_len] = decoding_order(events, steps, seed, zeros([B], i32))
  state z: i32[B, seq_len] = full([B, seq_len], mask_id, i32)
  state done: i64 = 0
  state end: i64 = event_end(events, 0)
  nucleus = cast(top_p < 1.0, i64)
  loop e in 0..seq_len cache(exact) {
    p = event_probs(z, order, done, end)
    loop k in 0..nucleus {
      p = top_p_inclusive(p, top_p)
    }
    z, done, end = decode_event(z, p, events, done, end, seed)
    break if done == seq_len
  }
  x = unpermute(z, order)
  return x
}
