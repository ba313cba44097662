// bd3_blocks.dsl — BD3-LM style test program: the vectorized 2L training mask allowed(q, kv) of
// specs/bd3lm-esolm.md §2.3, and a sampler that denoises block by block with cache(exact).
import "tiny_dit.dsl"

const NB = seq_len / block_size
const T = 4

// q, k index the 2L sequence [x_t ; x0]; half = index / L, block = (index % L) / BS
mask bd3_train(q, k; L, BS) =
     (q / L == k / L && (q % L) / BS == (k % L) / BS)
  || (q / L == 0 && k / L == 1 && (k % L) / BS < (q % L) / BS)
  || (q / L == 1 && k / L == 1 && (k % L) / BS <= (q % L) / BS)

export fn train_attn(q: f32[B, 2, 2*seq_len, 8], k: f32[B, 2, 2*seq_len, 8], v: f32[B, 2, 2*seq_len, 8]) -> f32[B, 2, 2*seq_len, 8] {
  return attention(q, k, v, mask = bd3_train(seq_len, block_size), scale = 0.125)
}

sampler blocks(steps: i64 = 4, seed: i64 = 1) -> i32[B, seq_len] {
  state x: i32[B, seq_len] = full([B, seq_len], mask_id, i32)
  loop b in 0..NB cache(exact) {
    loop i in 0..T {
      logits = denoise(x, zeros([B], f32))
      u = rand_uniform(seed, i, [B, seq_len], f32)
      cand = argmax(logits, axis = -1)
      inblk = iota([B, seq_len], 1, i32) / block_size == cast(b, i32)
      x = where(inblk && x == mask_id && u < 0.5, cand, x)
      break if sum(sum(cast(inblk && x == mask_id, i32), axis = 1), axis = 0) == 0
    }
  }
  return x
}
