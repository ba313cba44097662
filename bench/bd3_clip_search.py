#!/usr/bin/env python3
"""bd3_clip_search.py — BD3-LM's data-driven clipped noise schedule (bd3lm-esolm.md §2.2): for every
candidate window [lo, hi] of t, the variance over the held-out data of the per-(sequence, block)
loss (the reference's proxy for the gradient variance) is summed over batches; the argmin is the
window to train with (`dlmc compile models/bd3lm.dsl -D clip_lo=LO -D clip_hi=HI`).

  bench/bd3_clip_search.py ARTIFACT CKPT DATA [--dlmrun build-rel/dlmrun] [--batch 32]
                           [--batches 2] [--widths 0.5,0.6,0.7,0.8,0.9] [--delta 0.05]

ARTIFACT is a compiled models/bd3lm.dsl (its exported block_loss_variance is called through
`dlmrun call` for each batch and candidate), CKPT a run directory or checkpoint, DATA a text file
read with the byte tokenizer and split as dlmrun does (the held-out windows are the whole seq_len
windows of the last 10%). Candidates: (1e-3, 1) and (max(s, 1e-3), s + w) for every width w and
start s = 0, delta, ... <= 1 - w; the reference tries these with the widths above and delta 0.05.
Prints every candidate's score and the best window. Standard library only (writes/reads .npy)."""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile


def write_npy(path, descr, shape, values, fmt):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d," % d for d in shape) if len(shape) == 1 else ", ".join(str(d) for d in shape))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


def read_scalar_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode("latin1")
    if "'<f4'" not in header:
        sys.exit("bd3_clip_search: unexpected output %s" % header.strip())
    return struct.unpack("<f", data[10 + hlen:10 + hlen + 4])[0]


def seq_len_of(artifact):
    """seq_len from the artifact's metadata (`dlmrun ART info` is not assumed: dlmc's consts are
    stored in the JSON section, which appears verbatim in the file)."""
    with open(artifact, "rb") as f:
        blob = f.read()
    m = re.search(rb'"seq_len": *"?([0-9]+)', blob)
    if not m:
        sys.exit("bd3_clip_search: no seq_len in %s" % artifact)
    return int(m.group(1))


def candidates(widths, delta):
    out = [(1e-3, 1.0)]
    for w in widths:
        k = 0
        while k * delta <= 1 - w + 1e-9:
            s = round(k * delta, 6)
            out.append((max(s, 1e-3), round(s + w, 6)))
            k += 1
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifact")
    ap.add_argument("ckpt")
    ap.add_argument("data")
    ap.add_argument("--dlmrun", default="build-rel/dlmrun")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--widths", default="0.5,0.6,0.7,0.8,0.9")
    ap.add_argument("--delta", type=float, default=0.05)
    a = ap.parse_args()
    L = seq_len_of(a.artifact)
    with open(a.data, "rb") as f:
        tokens = f.read()
    held = tokens[(len(tokens) * 9) // 10:]
    windows = len(held) // L
    need = a.batch * a.batches
    if windows < need:
        sys.exit("bd3_clip_search: %d held-out windows of %d bytes, %d needed" % (windows, L, need))
    tmp = tempfile.mkdtemp()
    files = []
    for k in range(a.batches):
        path = os.path.join(tmp, "x%d.npy" % k)
        chunk = held[k * a.batch * L:(k + 1) * a.batch * L]
        write_npy(path, "<i4", (a.batch, L), list(chunk), "i")
        files.append(path)
    write_npy(os.path.join(tmp, "seed.npy"), "<i8", (), [0x636c6970], "q")
    results = []
    for lo, hi in candidates([float(w) for w in a.widths.split(",")], a.delta):
        write_npy(os.path.join(tmp, "lo.npy"), "<f4", (), [lo], "f")
        write_npy(os.path.join(tmp, "hi.npy"), "<f4", (), [hi], "f")
        score = 0.0
        for k, path in enumerate(files):
            write_npy(os.path.join(tmp, "step.npy"), "<i8", (), [k], "q")
            out = os.path.join(tmp, "out.npy")
            cmd = [a.dlmrun, a.artifact, "call", "block_loss_variance", "--ckpt", a.ckpt,
                   "--in", "x0=" + path, "--in", "seed=" + os.path.join(tmp, "seed.npy"),
                   "--in", "step=" + os.path.join(tmp, "step.npy"), "--in", "lo=" + os.path.join(tmp, "lo.npy"),
                   "--in", "hi=" + os.path.join(tmp, "hi.npy"), "--out", "0=" + out]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit("bd3_clip_search: %s\n%s" % (" ".join(cmd), r.stderr))
            score += read_scalar_f32(out)
        results.append((score, lo, hi))
        print("U[%.3f, %.3f]  variance %.4f" % (lo, hi, score), flush=True)
    best = min(results)
    print(json.dumps({"best_lo": best[1], "best_hi": best[2], "score": best[0],
                      "linear_score": results[0][0], "candidates": len(results)}))


if __name__ == "__main__":
    main()
