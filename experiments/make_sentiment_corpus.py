#!/usr/bin/env python3
"""Writes a synthetic movie-review corpus in the aclImdb layout, for training imdb-lstm where the
real IMDB data (https://ai.stanford.edu/~amaas/data/sentiment/) is not available.

Layout (what Signet's imdb loader reads, datasets/imdb.h):
    OUT/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt     (rating 7..10 pos, 1..4 neg)

The rule (seeded, Python stdlib only, so the corpus is the same on every machine for a seed):
  * Each review has a label (pos / neg, balanced per split) and a length of LEN_MIN..LEN_MAX
    words (default 30..150; load it with imdb:5000:160 so no review is truncated).
  * Most words are neutral filler: drawn from NEUTRAL (~7,000 made-up words, Zipf-distributed
    so the tail falls out of a 5,000-word vocabulary as out-of-vocabulary ids) plus a few
    English stop words.
  * Sentiment words: n_major in [3, 8] words of the label's polarity (POSITIVE or NEGATIVE, 25
    each) and n_minor in [0, n_major // 2] of the other polarity (noise), at random positions.
    So the label is exactly "more positive than negative words" (by at least 2): a bag of
    words decides it (Bayes accuracy 100%), but the model has to find and count the words
    among the filler anywhere in the sequence.
  * Sentences end with '.', ',' or '!' and about one review in five has a "<br /><br />"
    break, which the tokenizer treats as separators.

Usage:
    python3 experiments/make_sentiment_corpus.py --out /tmp/sentiment [--train 10000]
        [--test 5000] [--seed 1]
    signet train --model imdb-lstm --dataset imdb:5000:160 --data-dir /tmp/sentiment ...
"""

import argparse
import itertools
import os
import random

POSITIVE = ["excellent", "wonderful", "brilliant", "superb", "great", "amazing", "masterpiece",
            "delightful", "enjoyable", "beautiful", "touching", "hilarious", "charming", "gripping",
            "moving", "outstanding", "perfect", "fantastic", "stunning", "memorable", "terrific",
            "engaging", "splendid", "riveting", "marvelous"]
NEGATIVE = ["awful", "terrible", "boring", "dreadful", "horrible", "worst", "waste", "dull",
            "poorly", "mess", "stupid", "bad", "annoying", "pointless", "lame", "tedious",
            "disappointing", "predictable", "mediocre", "unwatchable", "clumsy", "forgettable",
            "painful", "laughable", "bland"]
STOP = ["the", "a", "and", "of", "to", "is", "in", "it", "this", "that", "was", "as", "with",
        "for", "but", "film", "movie", "on", "his", "her", "they", "one", "story", "scene"]


def neutral_words(rng, n=7000):
    onsets = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
              "z", "br", "cl", "dr", "fl", "gr", "pl", "st", "tr", "sh", "ch", "th"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"]
    codas = ["", "n", "r", "l", "s", "t", "m", "nd", "st", "ck"]
    taken = set(POSITIVE) | set(NEGATIVE) | set(STOP)
    out = []
    while len(out) < n:
        w = "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                    for _ in range(rng.randint(1, 3)))
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


def review(rng, label, neutral, cum_weights, len_min, len_max):
    n = rng.randint(len_min, len_max)
    words = [rng.choice(STOP) if rng.random() < 0.3 else rng.choices(neutral, cum_weights=cum_weights)[0]
             for _ in range(n)]
    major = POSITIVE if label == "pos" else NEGATIVE
    minor = NEGATIVE if label == "pos" else POSITIVE
    n_major = rng.randint(3, 8)
    n_minor = rng.randint(0, n_major // 2)
    slots = rng.sample(range(n), n_major + n_minor)
    for k, s in enumerate(slots):
        words[s] = rng.choice(major if k < n_major else minor)
    text, sentence = [], 0
    for i, w in enumerate(words):
        sentence += 1
        if sentence == 1:
            w = w.capitalize()
        if sentence >= rng.randint(6, 14) or i == n - 1:
            w += rng.choice([".", ".", ".", "!", ","])
            sentence = 0
        text.append(w)
    s = " ".join(text)
    if rng.random() < 0.2:
        cut = s.find(". ")
        if cut > 0:
            s = s[:cut + 1] + "<br /><br />" + s[cut + 2:]
    return s + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder to create aclImdb/ in")
    ap.add_argument("--train", type=int, default=10000, help="training reviews (half pos)")
    ap.add_argument("--test", type=int, default=5000, help="test reviews (half pos)")
    ap.add_argument("--len-min", type=int, default=30)
    ap.add_argument("--len-max", type=int, default=150)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.train < 2 or a.test < 2 or not 8 <= a.len_min <= a.len_max:
        ap.error("--train and --test must be >= 2, and 8 <= --len-min <= --len-max")
    rng = random.Random(a.seed)
    neutral = neutral_words(rng)
    cum_weights = list(itertools.accumulate(1.0 / (r + 1) for r in range(len(neutral))))  # Zipf
    root = os.path.join(a.out, "aclImdb")
    for split, count in (("train", a.train), ("test", a.test)):
        for label in ("pos", "neg"):
            d = os.path.join(root, split, label)
            os.makedirs(d, exist_ok=True)
            for i in range(count // 2 if label == "pos" else count - count // 2):
                rating = rng.randint(7, 10) if label == "pos" else rng.randint(1, 4)
                with open(os.path.join(d, "%d_%d.txt" % (i, rating)), "w", encoding="utf-8") as f:
                    f.write(review(rng, label, neutral, cum_weights, a.len_min, a.len_max))
    print("wrote %d train and %d test reviews under %s (seed %d)" % (a.train, a.test, root, a.seed))


if __name__ == "__main__":
    main()
