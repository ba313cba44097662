#!/usr/bin/python3
"""compare.py — compares output .npy files of dlmc with the PyTorch reference .npy files
(make_golden.py).
  compare.py LABEL REF.npy OUT.npy [LABEL REF.npy OUT.npy ...]
Same shape required. Entries whose reference is > -1e5 (real logits / log-probabilities) pass when
max |out - ref| <= 1e-4 * max |ref| over them (fp32 tolerance); entries <= -1e5 (SUBS's -1e6
fill and the -1e6-shifted mask column) pass when their relative error is <= 1e-6. Prints one line
per pair with the errors; exit status 0 when every pair passes, 1 otherwise."""
import sys

import numpy as np


def compare(name, ref_path, out_path):
    ref, out = np.load(ref_path), np.load(out_path)
    if ref.shape != out.shape:
        print(f"FAIL {name}: shape {out.shape}, reference {ref.shape}")
        return False
    ref, out = ref.astype(np.float64), out.astype(np.float64)
    real = ref > -1e5
    scale = max(np.abs(ref[real]).max(), 1e-30) if real.any() else 1.0
    rel_real = np.abs(out - ref)[real].max() / scale if real.any() else 0.0
    big = ~real
    rel_big = (np.abs(out - ref)[big] / np.abs(ref[big])).max() if big.any() else 0.0
    ok = bool(np.isfinite(out).all()) and rel_real <= 1e-4 and rel_big <= 1e-6
    print(f"{'ok' if ok else 'FAIL'} {name}: shape {ref.shape}, max|ref| {scale:.4g}, "
          f"max abs err / max|ref| {rel_real:.3g} (tol 1e-4), fill entries rel err {rel_big:.3g} (tol 1e-6)")
    return ok


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        print("usage: compare.py LABEL REF.npy OUT.npy [LABEL REF.npy OUT.npy ...]", file=sys.stderr)
        return 2
    results = [compare(*args[i:i + 3]) for i in range(0, len(args), 3)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
