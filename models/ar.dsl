// ar.dsl — an autoregressive transformer language model, the reference that scores the diffusion
// models' samples (duo-udlm.md §7.2: generative perplexity under an AR model trained on the same text).
// The backbone is std/dit.dsl's (same size consts as mdlm.dsl and duo.dsl) with a causal mask and
// no time conditioning (sigma = 0, so the adaLN modulations are learned constants). Position l sees
// a BOS token and x[0..l-1] and predicts x[l], so every one of the seq_len tokens is scored and
// `loss` is the mean next-token NLL in nats/token, comparable with the diffusion models' NELBO.
// The sampler generates left to right (seq_len network evaluations, no key/value cache).

const vocab = 256
const seq_len = 128
const layers = 2
const dim = 128
const heads = 4
const cond_dim = 64

const V = vocab + 1               // input embedding and output rows: the vocabulary plus BOS
const bos_id = vocab
const head_dim = dim / heads

import "std/dit.dsl"
import "std/sampling.dsl"

sym B

param net: DiT @ "backbone"

// Raw logits: row l is the prediction of x[l] from BOS, x[0], ..., x[l-1]; the BOS column is -1e9
// (BOS is never a target: it gets probability 0).
export fn logits(x: i32[B, seq_len]) -> f32[B, seq_len, V] {
  inp = concat(full([B, 1], bos_id, i32), x[:, 0:seq_len - 1], axis = 1)
  causal = iota([seq_len, seq_len], 1, i32) <= iota([seq_len, seq_len], 0, i32)
  h = dit_trunk_masked(gather(net.embed, inp), zeros([B], f32), iota([seq_len], 0, f32), causal, net)
  return where(iota([V], 0, i32) == bos_id, -1e9, h)
}

// The mean next-token negative log-likelihood over all B * seq_len tokens (nats/token). seed and
// step are unused: the loss is deterministic.
export fn loss(x0: i32[B, seq_len], seed: i64, step: i64) -> f32 {
  lp = log_softmax(logits(x0), axis = -1)
  nll = -reshape(take_along(lp, reshape(x0, [B, seq_len, 1])), [B, seq_len])
  tokens = sum(ones([B], f32), axis = 0) * seq_len
  return sum(sum(nll, axis = 1), axis = 0) / tokens
}

// x with position i set to a draw from p's row i (float64 exponential race, uniforms of stream i).
fn ar_place(x: i32[B, seq_len], p: f32[B, seq_len, V], i: i64, seed: i64) -> i32[B, seq_len] {
  drawn = sample_categorical(cast(p, f64), rand_uniform(seed, i, [B, seq_len, V], f64))
  return where(iota([seq_len], 0, i64) == i, drawn, x)
}

// Ancestral sampling from BOS: position i from softmax(logits row i), nucleus-filtered when top_p < 1
// (a 0/1-trip loop). Positions after i hold placeholders the causal mask hides.
sampler ancestral(seed: i64 = 1, top_p: f32 = 1.0) -> i32[B, seq_len] {
  state x: i32[B, seq_len] = full([B, seq_len], 0, i32)
  nucleus = cast(top_p < 1.0, i64)
  loop i in 0..seq_len {
    p = softmax(logits(x), axis = -1)
    loop k in 0..nucleus {
      p = top_p_filter(p, top_p)
    }
    x = ar_place(x, p, i, seed)
  }
  return x
}
