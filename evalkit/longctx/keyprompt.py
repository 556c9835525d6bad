"""One key-retrieval prompt (appendix G.2, p.31-32 of the Code Llama paper): filler programs, with the key function
inserted at a relative position, and the closing ``assert my_function() == ``.

Lengths and positions are counted in the tokens of the given :class:`~evalkit.longctx.tokens.TokenCounter` (the
model's tokenizer, without BOS). The prompt has exactly ``length`` tokens and the key function's first token is
token number ``round(position * (length - key - tail))`` (0-based): the filler before the key is exactly that many
tokens, the filler after it fills the rest. Whole filler programs are drawn (a seeded shuffle of the pool, the
pool reshuffled each time it is used up) while they fit; the last few tokens of each side are a comment line
(``# . . .``, or empty comment lines) sized to the exact count. Everything is a function of (filler pool,
tokenizer, length, position, seed): the same inputs give the same bytes on any machine.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from evalkit.longctx.filler import Filler
from evalkit.longctx.tokens import TokenCounter

KEY_TEMPLATE = 'def my_function() -> int:\n    """Note that this function is used at the end\n    """\n    return {value}\n'
TAIL = "assert my_function() == "
MARGIN = 12  # tokens left for the padding comment of each side (whole programs fill the rest)


@dataclass(frozen=True)
class KeyPrompt:
    text: str
    value: str
    key_start: int  # character offset of the key function
    tokens: int  # tokens of the whole prompt
    tokens_before_key: int

    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def draw_value(seed: int, length: int, position: float, index: int) -> str:
    """The two-digit VALUE (10-99) of one example, drawn from the example's own seed (the paper draws it at random
    per prompt length)."""
    return str(random.Random(f"key-value/{seed}/{length}/{position!r}/{index}").randint(10, 99))


def _fill(pool: list[tuple[str, int]], budget: int, rng: random.Random) -> list[tuple[str, int]]:
    """Whole programs of the pool (with their token counts), in seeded random order, as long as they fit in
    ``budget`` tokens; stops when none of the pool fits any more."""
    out: list[tuple[str, int]] = []
    used = 0
    smallest = min(n for _, n in pool)
    while budget - used >= smallest:
        order = list(range(len(pool)))
        rng.shuffle(order)
        for i in order:
            text, n = pool[i]
            if used + n <= budget:
                out.append((text, n))
                used += n
    return out


def _comment_pad(m: int) -> str:
    """A comment line of about ``m`` tokens of a model's tokenizer (empty for 0)."""
    return "" if m <= 0 else "#" + " ." * (m - 1) + "\n"


def _comment_pad_shifted(m: int) -> str:
    """The same with one more character: where a dot costs two tokens, one of the two hits an odd count."""
    return "" if m <= 0 else "#:" + " ." * (m - 1) + "\n"


def _comment_lines_pad(m: int) -> str:
    """``m`` empty comment lines: a step of one token where a comment is a single token (evalkit's code tokens)."""
    return "#\n" * max(m, 0)


PADS = (_comment_pad, _comment_pad_shifted, _comment_lines_pad)
PROBE = "x = 1\n"  # what follows a piece when it is counted (pieces are counted where they will stand)


def _step(err: int, slope: float) -> int:
    """Padding units to add for ``err`` missing tokens (at least one unit toward it)."""
    if err == 0:
        return 0
    n = round(err / slope)
    return n if n != 0 else (1 if err > 0 else -1)


class KeyPromptBuilder:
    def __init__(self, filler: Filler, counter: TokenCounter) -> None:
        self.filler = filler
        self.counter = counter
        base = counter.count(PROBE)
        # each piece is followed by a blank line, and counted in front of more code (boundary merges included)
        self.pool = [(p + "\n", max(counter.count(p + "\n" + PROBE) - base, 1)) for p in filler.pieces]
        self.tail_tokens = counter.count(TAIL)
        # tokens per padding unit (a dot costs two tokens in a small vocabulary)
        self.slopes = [max((counter.count(pad(41) + PROBE) - counter.count(pad(1) + PROBE)) / 40, 0.1) for pad in PADS]

    def key_tokens(self, value: str) -> int:
        return self.counter.count(KEY_TEMPLATE.format(value=value) + "\n" + PROBE) - self.counter.count(PROBE)

    def target_before(self, length: int, position: float, value: str) -> int:
        room = length - self.key_tokens(value) - self.tail_tokens
        return round(position * room)

    def _measure(self, head: str, body: str) -> tuple[str, int, int]:
        text = head + body
        spans = self.counter.spans(text)
        return text, len(spans), sum(1 for s, _ in spans if s < len(head))

    def build(self, length: int, position: float, seed: int, index: int) -> KeyPrompt:
        value = draw_value(seed, length, position, index)
        key = KEY_TEMPLATE.format(value=value) + "\n"
        rng = random.Random(f"key-filler/{seed}/{length}/{position!r}/{index}")
        n_before = self.target_before(length, position, value)
        n_after = length - n_before - self.key_tokens(value) - self.tail_tokens
        if n_after < 0:
            raise ValueError(f"a {length}-token prompt cannot hold the key function and the assert")
        before = _fill(self.pool, n_before - MARGIN, rng) if n_before > MARGIN else []
        after = _fill(self.pool, n_after - MARGIN, rng) if n_after > MARGIN else []
        best: tuple[int, KeyPrompt] | None = None
        for pad, slope in zip(PADS, self.slopes):
            pad_b = round((n_before - sum(n for _, n in before)) / slope)
            pad_a = round((n_after - sum(n for _, n in after)) / slope)
            for _ in range(10):  # converges in a step or two (a count moves by one at a boundary merge)
                head = pad(pad_b) + "".join(t for t, _ in before)
                text, total, got_b = self._measure(head, key + "".join(t for t, _ in after) + pad(pad_a) + TAIL)
                err_b, err_total = n_before - got_b, length - total
                got = KeyPrompt(text, value, len(head), total, got_b)
                if best is None or abs(err_b) + abs(err_total) < best[0]:
                    best = (abs(err_b) + abs(err_total), got)
                if err_b == 0 and err_total == 0:
                    return got
                pad_b, pad_a = pad_b + _step(err_b, slope), pad_a + _step(err_total - err_b, slope)
                if pad_b < 0 and before:  # the programs alone are too long: one fewer, more padding
                    pad_b += round(before.pop()[1] / slope)
                if pad_a < 0 and after:
                    pad_a += round(after.pop()[1] / slope)
                pad_b, pad_a = max(pad_b, 0), max(pad_a, 0)
        assert best is not None
        return best[1]
