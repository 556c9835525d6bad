"""LCC-balanced: the Code Llama paper resamples LCC's validation and test sets "with an equalized distribution over
file size" (appendix G.2, p.32; 548 Python, 412 Java, 512 C# examples). Meta did not publish the set or the
rule; evalkit's rule, recorded with its seed in every result:

    file size = code tokens of the completion context (``evalkit.evaluators.match.code_tokens``; the paper
    measures code tokens with tree-sitter, Table 16); bins of ``bin_width`` code tokens from 0 to
    ``bins * bin_width`` (longer files fall in the last bin); the same number of examples from each bin
    (``n // bins``, the first ``n % bins`` bins one more), drawn without replacement by a seeded shuffle of each
    bin (examples ordered by split and row first); a bin with too few examples gives all it has and the rest is
    drawn from the other bins in turn, longest bins first.

The defaults (14 bins of 1,000 code tokens) give a near-uniform distribution on 0-14k code tokens, whose mean and
quartiles (7.0k; 3.5k, 7.0k, 10.5k) are those of the paper's Table 16 for LCC-balanced (Python 6,955; 3,249,
6,532, 10,371; Java and C# alike).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

PAPER_SIZES = {"python": 548, "java": 412, "csharp": 512}
BINS = 14
BIN_WIDTH = 1000
SEED = 0


@dataclass(frozen=True)
class Rule:
    n: int
    bins: int = BINS
    bin_width: int = BIN_WIDTH
    seed: int = SEED

    def describe(self) -> str:
        return (f"{self.n} examples, equal counts from {self.bins} bins of {self.bin_width} code tokens of the "
                f"context (0 to {self.bins * self.bin_width}, longer in the last bin), seeded shuffle per bin "
                f"(seed {self.seed}); a short bin's deficit drawn from the other bins, longest first")

    def to_dict(self) -> dict[str, object]:
        return {"n": self.n, "bins": self.bins, "bin_width": self.bin_width, "seed": self.seed,
                "size": "code tokens of the context (evalkit's code tokenizer)", "rule": self.describe()}


def bin_of(size: int, rule: Rule) -> int:
    return min(size // rule.bin_width, rule.bins - 1)


def balanced(sizes: Sequence[int], rule: Rule) -> list[int]:
    """Indices into ``sizes`` (one per example, in the data's order) of the balanced sample, in that order."""
    members: list[list[int]] = [[] for _ in range(rule.bins)]
    for i, s in enumerate(sizes):
        members[bin_of(s, rule)].append(i)
    for b, idx in enumerate(members):
        random.Random(f"lcc-balanced/{rule.seed}/{b}").shuffle(idx)
    want = [rule.n // rule.bins + (1 if b < rule.n % rule.bins else 0) for b in range(rule.bins)]
    take = [min(w, len(m)) for w, m in zip(want, members)]
    deficit = sum(want) - sum(take)
    while deficit > 0:
        moved = False
        for b in reversed(range(rule.bins)):  # longest bins first: the point of the set is long files
            if deficit and take[b] < len(members[b]):
                take[b] += 1
                deficit -= 1
                moved = True
        if not moved:
            break  # fewer examples than asked: all of them
    return sorted(i for b in range(rule.bins) for i in members[b][:take[b]])


BUCKETS = ((0, 4000, "<4k"), (4000, 8000, "4-8k"), (8000, 12000, "8-12k"), (12000, 16000, "12-16k"),
           (16000, 24000, "16-24k"), (24000, 32000, "24-32k"), (32000, None, ">32k"))  # Fig. 9b, file tokens


def bucket(tokens: int) -> str:
    """The Fig. 9b bucket of a file of ``tokens`` tokens (the model's tokens of the whole context)."""
    for lo, hi, name in BUCKETS:
        if tokens >= lo and (hi is None or tokens < hi):
            return name
    return BUCKETS[-1][2]
