#!/usr/bin/python3
"""make_golden.py — writes a golden case for models/mdlm.dsl from the PyTorch peer model
(bench/pytorch_mdlm.py), llm.c style: the weights as safetensors, fixed inputs as .npy, and the
PyTorch results as .npy references: `logits` (raw backbone logits) and `denoise` (SUBS
log-probabilities) of a token batch, and the §5 `loss` of a clean batch with its gradient for
every parameter (what `loss.grad` computes for one training step). The loss's randomness is the
DSL's rand_uniform, reproduced here: Philox4x32-10 (key = seed, counter = (j lo, j hi, stream,
offset)), f32 uniform = (word0 >> 8) 2^-24, with offset = step and one stream per call site in
source order (0: the draw for t, 1: the mask draws).
  make_golden.py OUTDIR --layers N --dim N --heads N --seq-len N --cond-dim N --batch N [--seed S]
The freshly initialized model has zero adaLN and output layers (its logits are all 0), so every
parameter is redrawn from a seeded generator first: matrices U(+-1/sqrt(fan_in)), biases U(+-0.1),
LayerNorm weights 1 + U(+-0.2). About half of the input tokens are the mask id, so both SUBS
branches are exercised. The safetensors file is written by hand (u64 header length, JSON header,
raw little-endian data), so the `safetensors` package is not needed.
Files: weights.safetensors, z.npy (i32 [B, L]), sigma.npy (f32 [B]), logits.npy, denoise.npy
(f32 [B, L, vocab+1]); x0.npy (i32 [B, L]), seed.npy, step.npy (i64 scalars), loss.npy (f32
scalar), grad.<parameter name>.npy, and params.txt (the parameter names, one a line)."""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import pytorch_mdlm  # noqa: E402


PHILOX_MASK = 0xFFFFFFFF


def philox_uniform_f32(seed, offset, stream, n):
    """The first n f32 uniforms of rand_uniform(seed, offset) at call site `stream` (ir/philox.c)."""
    j = np.arange(n, dtype=np.uint64)
    c0, c1 = j & np.uint64(PHILOX_MASK), j >> np.uint64(32)
    c2, c3 = np.full(n, stream, np.uint64), np.full(n, offset & PHILOX_MASK, np.uint64)
    k0, k1 = seed & PHILOX_MASK, (seed >> 32) & PHILOX_MASK
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & np.uint64(PHILOX_MASK)
        hi1, lo1 = p1 >> np.uint64(32), p1 & np.uint64(PHILOX_MASK)
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint64(k0), lo1, hi0 ^ c3 ^ np.uint64(k1), lo0
        k0, k1 = (k0 + 0x9E3779B9) & PHILOX_MASK, (k1 + 0xBB67AE85) & PHILOX_MASK
    return ((c0 >> np.uint64(8)).astype(np.float64) * 2.0 ** -24).astype(np.float32)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    for name in ("layers", "dim", "heads", "seq-len", "cond-dim", "batch"):
        ap.add_argument("--" + name, type=int, required=True)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = pytorch_mdlm.build_model(a.seed, vocab=256, seq_len=a.seq_len, layers=a.layers, dim=a.dim, heads=a.heads,
                                     cond_dim=a.cond_dim)
    g = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            u = torch.rand(p.shape, generator=g) * 2 - 1
            if p.dim() == 2:
                p.copy_(u / p.shape[1] ** 0.5)
            elif "norm" in name:
                p.copy_(1 + 0.2 * u)
            else:
                p.copy_(0.1 * u)
    z = torch.randint(0, 256, (a.batch, a.seq_len), generator=g)
    z = torch.where(torch.rand(a.batch, a.seq_len, generator=g) < 0.5, model.mask_id, z)
    sigma = torch.rand(a.batch, generator=g) * 5
    with torch.no_grad():
        logits = model.logits(z, sigma)
        denoise = model.denoise(z, sigma)
    x0 = torch.randint(0, 256, (a.batch, a.seq_len), generator=g)
    seed, step = 77, 5
    u = torch.from_numpy(philox_uniform_f32(seed, step, 0, a.batch))
    r = torch.from_numpy(philox_uniform_f32(seed, step, 1, a.batch * a.seq_len)).reshape(a.batch, a.seq_len)
    loss = pytorch_mdlm.mdlm_loss(model, x0, u, r)
    loss.backward()
    os.makedirs(a.outdir, exist_ok=True)
    save = lambda name, arr: np.save(os.path.join(a.outdir, name), arr)  # noqa: E731
    save("x0.npy", x0.numpy().astype(np.int32))
    save("seed.npy", np.array(seed, dtype=np.int64))
    save("step.npy", np.array(step, dtype=np.int64))
    save("loss.npy", np.array(loss.item(), dtype=np.float32))
    with open(os.path.join(a.outdir, "params.txt"), "w") as f:
        for name, p in model.named_parameters():
            f.write(name + "\n")
            save(f"grad.{name}.npy", p.grad.numpy().astype(np.float32))
    write_safetensors(os.path.join(a.outdir, "weights.safetensors"), dict(model.named_parameters()))
    np.save(os.path.join(a.outdir, "z.npy"), z.numpy().astype(np.int32))
    np.save(os.path.join(a.outdir, "sigma.npy"), sigma.numpy().astype(np.float32))
    np.save(os.path.join(a.outdir, "logits.npy"), logits.numpy().astype(np.float32))
    np.save(os.path.join(a.outdir, "denoise.npy"), denoise.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
