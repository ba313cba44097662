#!/usr/bin/env python3
"""gpt2_ref.py — an independent reference for GPT-2's tokenizer: the algorithm of OpenAI's
GPT-2 encoder.py (bytes_to_unicode, the pre-tokenization pattern with the `regex` module, BPE by
merge rank), used to derive the expected ids hard-coded in tests/unit/test_tok_gpt2.c.
Usage: python3 tests/tools/gpt2_ref.py DIR 'text' ...   (DIR holds encoder.json and vocab.bpe;
texts are ASCII with Python escapes such as \\n, \\u00e9). Prints one line of ids per text.
       python3 tests/tools/gpt2_ref.py DIR --file PATH   prints the ids of a UTF-8 file's text."""
import json
import sys
import regex

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))

def get_pairs(word):
    return set(zip(word, word[1:]))

class Encoder:
    def __init__(self, encoder, merges):
        self.encoder = encoder
        self.byte_encoder = bytes_to_unicode()
        self.ranks = dict(zip(merges, range(len(merges))))
        self.pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def bpe(self, token):
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return [token]
        while True:
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        return list(word)

    def encode(self, text):
        ids = []
        for tok in regex.findall(self.pat, text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok))
        return ids

def main():
    d = sys.argv[1]
    with open(d + "/encoder.json", encoding="utf-8") as f:
        encoder = json.load(f)
    with open(d + "/vocab.bpe", encoding="utf-8") as f:
        merges = [tuple(l.split()) for l in f.read().split("\n")[1:-1]]
    enc = Encoder(encoder, merges)
    if sys.argv[2] == "--file":
        with open(sys.argv[3], "rb") as f:
            print(" ".join(map(str, enc.encode(f.read().decode("utf-8")))))
        return
    for text in sys.argv[2:]:
        text = text.encode("ascii").decode("unicode_escape")
        print(" ".join(map(str, enc.encode(text))))

if __name__ == "__main__":
    main()
