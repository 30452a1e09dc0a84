"""Baseline for the BabyLM task: a word bigram model with add-one smoothing, in plain Python.

Trains on data/train.txt, then scores both sentences of every pair in data/blimp_pairs.csv
and writes their log-probabilities to submission.csv.
"""
import csv
import math
import re
from collections import Counter

TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")
MAX_VOCAB = 50_000


def tokenize(text):
    return TOKEN.findall(text.lower())


unigrams, bigrams = Counter(), Counter()
with open("data/train.txt", encoding="utf-8") as f:
    for line in f:
        tokens = ["<s>", *tokenize(line), "</s>"]
        unigrams.update(tokens)
        bigrams.update(zip(tokens, tokens[1:]))
vocab = {w for w, _ in unigrams.most_common(MAX_VOCAB)}
print(f"Trained on {sum(unigrams.values())} tokens; vocabulary {len(vocab)} words")


def logprob(sentence):
    """Log-probability of the sentence under the add-one smoothed bigram model."""
    tokens = ["<s>", *(t if t in vocab else "<unk>" for t in tokenize(sentence)), "</s>"]
    size = len(vocab) + 1
    return sum(math.log((bigrams[(prev, word)] + 1) / (unigrams[prev] + size))
               for prev, word in zip(tokens, tokens[1:]))


with open("data/blimp_pairs.csv", encoding="utf-8") as f, open("submission.csv", "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["id", "logprob_a", "logprob_b"])
    rows = 0
    for row in csv.DictReader(f):
        writer.writerow([row["id"], logprob(row["sentence_a"]), logprob(row["sentence_b"])])
        rows += 1
print(f"Wrote submission.csv with {rows} rows")
