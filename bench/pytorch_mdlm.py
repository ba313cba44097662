#!/usr/bin/python3
"""pytorch_mdlm.py — the peer benchmark: MDLM written directly in plain PyTorch (CPU, float32),
the same model, loss and optimizer that models/mdlm.dsl + `dlmrun train` run, timed per full
training step (batch draw, forward, backward, clipping, AdamW, EMA).

The model follows /work/shared/specs/mdlm-remdm.md §4-§6 and models/std/dit.dsl:
  * DDiT backbone with the released checkpoints' parameter names (backbone.vocab_embed.embedding,
    backbone.sigma_map.mlp.{0,2}, backbone.blocks.k.{norm1,attn_qkv,attn_out,norm2,mlp.0,mlp.2,
    adaLN_modulation}, backbone.output_layer.{norm_final,linear,adaLN_modulation});
  * the same init (PyTorch default Linear init, kaiming-uniform(a=sqrt 5) embedding, adaLN-Zero,
    zero output layer, LayerNorm weights 1); no dropout (the DSL network is the eval-mode one);
  * time_conditioning = 0: the backbone sees sigma * 0, as `logits` in models/mdlm.dsl;
  * SUBS (-1e6 on the mask logit, log-softmax, carry-over rows) and the §5 loss: stratified
    t in [1e-3, 1), loglinear sigma, masks with probability 1 - exp(-sigma), weight
    dsigma / expm1(sigma), summed over every token and divided by B * L;
  * AdamW with dlmrun's defaults (betas 0.9/0.999, eps 1e-8, weight decay 0, constant lr, no
    warmup), global-norm clipping at 1.0 and dlmrun's EMA (decay min(ema, (1+n)/(10+n))).

Usage (benchmark):
  /usr/bin/python3 bench/pytorch_mdlm.py --data FILE [--layers 2] [--dim 128] [--heads 4]
      [--seq-len 128] [--batch 32] [--vocab 256] [--cond-dim 64] [--lr 3e-4] [--warmup 3]
      [--steps 10] [--threads 2] [--seed 0] [--times FILE] [--autocast-bf16]
--autocast-bf16 runs the loss under torch.autocast("cpu", bfloat16) (oneDNN bf16 products with
fp32 master weights): PyTorch's mixed-precision mode, for reference only; dlmc's CPU backend is fp32.
The byte tokenizer: token ids are the bytes of FILE (vocab 256, mask id 256); windows of seq_len
bytes are drawn at random from the first 90% of the file, as dlmrun does. The last line printed is
  RESULT median_ms=<ms> tokens_per_s=<tok/s> min_ms=<ms> max_ms=<ms> steps=<n>
Importable: tests/golden/make_golden.py uses build_model() and mdlm_loss().
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

LOGLINEAR_EPS = 1e-3
TIME_FREQS = 128          # half the width of the sinusoidal sigma features (256 in all)
ROPE_BASE = 10000.0


class LayerNormW(nn.Module):
    """LayerNorm over the last axis with a weight and no bias, eps 1e-5, computed in fp32."""

    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.layer_norm(x.float(), (x.shape[-1],), eps=1e-5) * self.weight


class VocabEmbed(nn.Module):
    """The input embedding: a raw Parameter `embedding` [V, D], kaiming-uniform with a = sqrt(5)."""

    def __init__(self, vocab, dim):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(vocab, dim))
        nn.init.kaiming_uniform_(self.embedding, a=math.sqrt(5))

    def forward(self, ids):
        return self.embedding[ids]


class TimestepEmbedder(nn.Module):
    """sigma -> Linear(256, C) SiLU Linear(C, C) of [cos(sigma w), sin(sigma w)]."""

    def __init__(self, cond_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * TIME_FREQS, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))
        freqs = torch.exp(-math.log(10000.0) * torch.arange(TIME_FREQS, dtype=torch.float32) / TIME_FREQS)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, sigma):
        args = sigma[:, None].float() * self.freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


def rotary_tables(seq_len, head_dim):
    """cos, sin [L, Dh] for rotate-half RoPE: inv_freq_j = base^(-2j/Dh), both halves alike."""
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    ang = torch.arange(seq_len, dtype=torch.float32)[:, None] * inv_freq[None]
    ang = torch.cat([ang, ang], dim=-1)
    return torch.cos(ang), torch.sin(ang)


def rotate(x, cos, sin):
    """Rotate-half RoPE on x [B, H, L, Dh]: [x1 cos - x2 sin, x2 cos + x1 sin]."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class DDiTBlock(nn.Module):
    def __init__(self, dim, heads, cond_dim):
        super().__init__()
        self.heads = heads
        self.norm1 = LayerNormW(dim)
        self.attn_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.attn_out = nn.Linear(dim, dim, bias=False)
        self.norm2 = LayerNormW(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.adaLN_modulation = nn.Linear(cond_dim, 6 * dim)
        nn.init.zeros_(self.adaLN_modulation.weight)
        nn.init.zeros_(self.adaLN_modulation.bias)

    def forward(self, x, c, cos, sin):
        b, l, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_modulation(c)[:, None].chunk(6, dim=2)
        h = modulate(self.norm1(x), sh1, sc1)
        q, k, v = self.attn_qkv(h).view(b, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        scores = rotate(q, cos, sin) @ rotate(k, cos, sin).transpose(-1, -2) * (1.0 / math.sqrt(d // self.heads))
        o = torch.softmax(scores, dim=-1) @ v        # bidirectional, no mask
        x = x + g1 * self.attn_out(o.transpose(1, 2).reshape(b, l, d))
        h = modulate(self.norm2(x), sh2, sc2)
        return x + g2 * self.mlp(h)


class FinalLayer(nn.Module):
    def __init__(self, dim, vocab, cond_dim):
        super().__init__()
        self.norm_final = LayerNormW(dim)
        self.linear = nn.Linear(dim, vocab)
        self.adaLN_modulation = nn.Linear(cond_dim, 2 * dim)
        for p in (self.linear.weight, self.linear.bias, self.adaLN_modulation.weight, self.adaLN_modulation.bias):
            nn.init.zeros_(p)

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c)[:, None].chunk(2, dim=2)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """The DDiT backbone: (token ids [B, L], sigma [B]) -> raw logits [B, L, V]."""

    def __init__(self, vocab, seq_len, layers, dim, heads, cond_dim):
        super().__init__()
        self.vocab_embed = VocabEmbed(vocab, dim)
        self.sigma_map = TimestepEmbedder(cond_dim)
        self.blocks = nn.ModuleList([DDiTBlock(dim, heads, cond_dim) for _ in range(layers)])
        self.output_layer = FinalLayer(dim, vocab, cond_dim)
        cos, sin = rotary_tables(seq_len, dim // heads)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, ids, sigma):
        x = self.vocab_embed(ids)
        c = F.silu(self.sigma_map(sigma))
        for block in self.blocks:
            x = block(x, c, self.rope_cos, self.rope_sin)
        return self.output_layer(x, c)


class MDLM(nn.Module):
    """The model of models/mdlm.dsl: vocab tokens plus one mask row (V = vocab + 1, mask id = vocab)."""

    def __init__(self, vocab=256, seq_len=128, layers=2, dim=128, heads=4, cond_dim=64):
        super().__init__()
        self.mask_id = vocab
        self.backbone = DiT(vocab + 1, seq_len, layers, dim, heads, cond_dim)

    def logits(self, z, sigma):
        return self.backbone(z, sigma * 0.0)          # time_conditioning = 0

    def denoise(self, z, sigma):
        return subs(self.logits(z, sigma), z, self.mask_id)


def build_model(seed, **cfg):
    torch.manual_seed(seed)
    return MDLM(**cfg)


def subs(logits, z, mask_id):
    """SUBS (§4): -1e6 on the mask logit, log-softmax, then carried rows = 0 at z and -1e6 elsewhere."""
    v = logits.shape[-1]
    col = torch.arange(v, device=logits.device)
    logp = torch.log_softmax(torch.where(col == mask_id, logits - 1e6, logits), dim=-1)
    carried = (z[..., None] != col).to(logp.dtype) * -1e6
    return torch.where((z != mask_id)[..., None], carried, logp)


def mdlm_loss(model, x0, u, r):
    """The §5 NELBO estimator for clean tokens x0 [B, L], given the uniforms u [B] (for t) and
    r [B, L] (for the masks)."""
    b, l = x0.shape
    t = (1 - LOGLINEAR_EPS) * ((u / b + torch.arange(b, dtype=torch.float32) / b) % 1.0) + LOGLINEAR_EPS
    sigma = -torch.log1p(-(1 - LOGLINEAR_EPS) * t)
    dsigma = (1 - LOGLINEAR_EPS) / (1 - (1 - LOGLINEAR_EPS) * t)
    move_chance = -torch.expm1(-sigma)
    z = torch.where(r < move_chance[:, None], model.mask_id, x0)
    logp = model.denoise(z, sigma).gather(-1, x0[..., None]).squeeze(-1)
    nll = -logp * (dsigma / torch.expm1(sigma))[:, None]
    return nll.sum() / (b * l)


class Trainer:
    """AdamW + clipping + EMA, configured as dlmrun's defaults."""

    def __init__(self, model, lr, clip=1.0, ema=0.9999, bf16=False):
        self.model, self.clip, self.ema_max, self.n, self.bf16 = model, clip, ema, 0, bf16
        self.params = list(model.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        self.ema = [p.detach().clone() for p in self.params]

    def step(self, x0, gen):
        self.opt.zero_grad(set_to_none=True)
        u, r = torch.rand(x0.shape[0], generator=gen), torch.rand(x0.shape, generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = mdlm_loss(self.model, x0, u, r)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        self.n += 1
        d = min(self.ema_max, (1 + self.n) / (10 + self.n))
        with torch.no_grad():
            for e, p in zip(self.ema, self.params):
                e.lerp_(p, 1 - d)
        return loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    for name, default in (("layers", 2), ("dim", 128), ("heads", 4), ("seq-len", 128), ("batch", 32), ("vocab", 256),
                          ("cond-dim", 64), ("warmup", 3), ("steps", 10), ("threads", 2), ("seed", 0)):
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--autocast-bf16", action="store_true",
                    help="mixed precision: torch.autocast('cpu', bfloat16) around the loss (not the dlmc config)")
    ap.add_argument("--times", help="append each timed step's milliseconds to this file, one a line")
    a = ap.parse_args()
    if min(a.layers, a.dim, a.heads, a.seq_len, a.batch, a.cond_dim, a.steps, a.threads) < 1 or a.warmup < 0:
        ap.error("sizes, --steps and --threads must be positive")
    if a.vocab != 256:
        ap.error("the byte tokenizer has vocab 256")
    torch.set_num_threads(a.threads)
    with open(a.data, "rb") as f:
        data = f.read()
    train = torch.frombuffer(bytearray(data[: len(data) * 9 // 10]), dtype=torch.uint8).long()
    if train.numel() < a.seq_len + 1:
        sys.exit(f"pytorch_mdlm: {a.data} is too short for seq_len {a.seq_len}")
    model = build_model(a.seed, vocab=a.vocab, seq_len=a.seq_len, layers=a.layers, dim=a.dim, heads=a.heads,
                        cond_dim=a.cond_dim)
    trainer = Trainer(model, a.lr, bf16=a.autocast_bf16)
    gen = torch.Generator().manual_seed(a.seed)
    span = torch.arange(a.seq_len)
    times, losses = [], []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        starts = torch.randint(0, train.numel() - a.seq_len + 1, (a.batch,), generator=gen)
        x0 = train[starts[:, None] + span]
        losses.append(trainer.step(x0, gen))
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    if a.times:
        with open(a.times, "a") as f:
            f.writelines(f"{ms:.3f}\n" for ms in times)
    nparams = sum(p.numel() for p in model.parameters())
    med = statistics.median(times)
    print(f"pytorch {torch.__version__}: threads={torch.get_num_threads()} layers={a.layers} dim={a.dim} heads={a.heads} "
          f"seq_len={a.seq_len} batch={a.batch} vocab={a.vocab} cond_dim={a.cond_dim} params={nparams} lr={a.lr} "
          f"warmup={a.warmup} steps={a.steps}" + (" autocast=bf16" if a.autocast_bf16 else ""))
    print(f"loss first {losses[0]:.4f} last {losses[-1]:.4f}")
    print(f"RESULT median_ms={med:.2f} tokens_per_s={a.batch * a.seq_len / (med / 1e3):.0f} "
          f"min_ms={min(times):.2f} max_ms={max(times):.2f} steps={len(times)}")


if __name__ == "__main__":
    main()
