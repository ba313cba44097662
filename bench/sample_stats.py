#!/usr/bin/env python3
"""sample_stats.py OUT < samples.json — for `dlmrun ... sample --json` output of a byte-tokenizer
model: writes every sample's token ids as bytes, back to back, to OUT (so that
`dlmrun ar.dlmc eval --all --data OUT` scores each sample as exactly one seq_len window) and prints
the samples' mean unigram entropy in nats (duo-udlm.md §7.2: per sample, the Shannon entropy of the
histogram of its ids, averaged over samples)."""
import collections
import json
import math
import sys


def entropy(ids):
    n = len(ids)
    return -sum(c / n * math.log(c / n) for c in collections.Counter(ids).values())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sample_stats.py OUT < samples.json")
    samples = json.load(sys.stdin)["samples"]
    if not samples:
        sys.exit("sample_stats.py: no samples")
    with open(sys.argv[1], "wb") as f:
        for s in samples:
            ids = s["ids"]
            if any(i < 0 or i > 255 for i in ids):
                sys.exit("sample_stats.py: an id is not a byte (byte tokenizer expected)")
            f.write(bytes(ids))
    print("%.4f" % (sum(entropy(s["ids"]) for s in samples) / len(samples)))


main()
