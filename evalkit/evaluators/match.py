"""The ``match`` evaluator: a sample is judged by comparing its text with the reference, with no execution.

Line completion (LCC, the Code Llama paper's Table 7) follows the reference implementation of the LCC benchmark,
microsoft/CodeBERT ``LongCoder/run.py`` (``evaluate``): the prediction is cut at its first newline; prediction
and ground truth are split into code tokens and re-joined with single spaces; **exact match** is equality of the
token lists and **edit similarity** is ``fuzz.ratio`` of the two joined strings (fuzzywuzzy with
python-Levenshtein, = rapidfuzz's ``fuzz.ratio``): ``2 * LCS / (len(a) + len(b))`` over characters, where LCS
counts the characters kept by the shortest insert/delete edit (Levenshtein distance with substitutions costing 2).
The reference reports it in percent, rounded per example to an integer; evalkit keeps the unrounded fraction.

**BLEU** (Table 7's second column; the paper does not say which implementation): the smoothed sentence BLEU-4 of
CodeXGLUE/CodeBERT's ``bleu.py`` (Lin and Och 2004: add one to the matched and total n-gram counts for n >= 2,
brevity penalty ``min(0, 1 - (r + 1) / (t + 1))``) over the same code tokens, averaged over examples.

Code tokens: the reference parses with tree-sitter and takes the leaves (a string literal or a comment is one
token); evalkit's :func:`code_tokens` is a lexer per language (Python; Java and C#) with the same rule
(identifiers, numbers, string and character literals, comments, operators, punctuation), so that no parser is
needed for a single, often incomplete, line. (The reference's ``evaluate`` passes its module-level ``parser``,
which its language loop leaves at the C# grammar, for every language; evalkit lexes each language as itself.)
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter

from evalkit.evaluators import Verdict

_NUMBER = r"(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?\w*"  # 12, 0x1F, 1.5e-3, 10L, 2.0f, 1j
_IDENT = r"[A-Za-z_\u00c0-\uffff][\w\u00c0-\uffff]*"
_PY = re.compile(
    r'[rRbBuUfF]{0,2}"""[\s\S]*?(?:"""|$)'      # triple-quoted strings (to the end of the text if open)
    r"|[rRbBuUfF]{0,2}\'\'\'[\s\S]*?(?:\'\'\'|$)"
    r'|[rRbBuUfF]{0,2}"(?:\\.|[^"\\\n])*(?:"|$)'     # string literals, one token each
    r"|[rRbBuUfF]{0,2}'(?:\\.|[^'\\\n])*(?:'|$)"
    r"|#[^\n]*"                                   # a comment is one token
    rf"|{_IDENT}|{_NUMBER}"
    r"|\.\.\.|\*\*=|//=|>>=|<<=|->|:=|\*\*|//|<<|>>|[-+*/%&|^<>=!@]="
    r"|\S"
)
_C_LIKE = re.compile(  # Java, C#
    r'@"(?:""|[^"])*(?:"|$)|\$@?"(?:\\.|[^"\\\n])*(?:"|$)'  # C# verbatim and interpolated strings
    r'|"""[\s\S]*?(?:"""|$)'                     # Java text blocks
    r'|"(?:\\.|[^"\\\n])*(?:"|$)'
    r"|'(?:\\.|[^'\\\n])*(?:'|$)"
    r"|//[^\n]*|/\*[\s\S]*?(?:\*/|$)"             # comments, one token each
    r"|^[ \t]*#[^\n]*"                            # C# preprocessor directives
    rf"|{_IDENT}|{_NUMBER}"
    r"|>>>=|<<=|>>=|\?\?=|>>>|->|=>|::|\+\+|--|&&|\|\||\?\?|\?\.|<<|>>|[-+*/%&|^<>=!]="
    r"|\S",
    re.MULTILINE,
)
LEXERS = {"python": _PY, "java": _C_LIKE, "csharp": _C_LIKE}

def _lexer(language: str) -> re.Pattern[str]:
    try:
        return LEXERS[language]
    except KeyError:
        raise ValueError(f"no code tokenizer for {language!r} (known: {', '.join(LEXERS)})") from None


def code_tokens(text: str, language: str = "python") -> list[str]:
    """The code tokens of ``text`` (whitespace separates, never belongs to a token)."""
    return _lexer(language).findall(text)


def code_token_spans(text: str, language: str = "python") -> list[tuple[int, int]]:
    """(start, end) character offsets of the code tokens of ``text``."""
    return [m.span() for m in _lexer(language).finditer(text)]


def first_line(text: str) -> str:
    """The prediction up to its first newline, as the reference cuts it."""
    i = text.find("\n")
    return text if i == -1 else text[:i]


def exact_match(prediction: str, reference: str, language: str = "python") -> float:
    """1.0 iff the code tokens are equal (whitespace and layout do not count)."""
    return 1.0 if code_tokens(prediction, language) == code_tokens(reference, language) else 0.0


def _lcs_len(a: str, b: str) -> int:
    """Length of the longest common subsequence (the characters an insert/delete edit keeps)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def indel_ratio(a: str, b: str) -> float:
    """python-Levenshtein's ``ratio`` (rapidfuzz ``fuzz.ratio / 100``): 1 - indel distance / (len a + len b)."""
    total = len(a) + len(b)
    if total == 0:
        return 1.0
    return 2.0 * _lcs_len(a, b) / total


def edit_similarity(prediction: str, reference: str, language: str = "python") -> float:
    """The reference's edit similarity, as a fraction: ``indel_ratio`` of the space-joined code tokens."""
    return indel_ratio(" ".join(code_tokens(prediction, language)), " ".join(code_tokens(reference, language)))


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def smoothed_bleu(candidate: list[str], reference: list[str], max_n: int = 4) -> float:
    """Sentence BLEU of CodeXGLUE's ``bleu.py`` (``score_cooked`` with smooth=1, one reference), in [0, 1]."""
    tiny = sys.float_info.min
    log_bleu = 0.0
    for n in range(1, max_n + 1):
        cand, ref = _ngrams(candidate, n), _ngrams(reference, n)
        correct = sum(min(c, ref.get(g, 0)) for g, c in cand.items())
        guess = max(len(candidate) - n + 1, 0)
        add = 1 if n > 1 else 0
        log_bleu += math.log(correct + add + tiny) - math.log(guess + add + tiny)
    log_bleu /= max_n
    log_bleu += min(0.0, 1.0 - (len(reference) + 1) / (len(candidate) + 1))
    return math.exp(log_bleu)


def bleu(prediction: str, reference: str, language: str = "python") -> float:
    return smoothed_bleu(code_tokens(prediction, language), code_tokens(reference, language))


LINE_METRICS = ("exact_match", "edit_similarity", "bleu")


def judge_line(prediction: str, reference: str, language: str = "python") -> Verdict:
    """A single-line completion: cut at the first newline, then the three scores; passed iff exact match."""
    line = first_line(prediction)
    em = exact_match(line, reference, language)
    scores = {"exact_match": em, "edit_similarity": edit_similarity(line, reference, language),
              "bleu": bleu(line, reference, language)}
    return Verdict("passed" if em else "failed", "" if em else f"predicted {line.strip()[:80]!r}", scores)


_VALUE = re.compile(r"\s*\(?\s*(-?\d+)")


def answered_value(generation: str) -> str | None:
    """The integer a completion of ``assert f() == `` starts with (None if it does not start with one)."""
    m = _VALUE.match(first_line(generation))
    return m.group(1) if m else None


def judge_value(generation: str, expected: str) -> Verdict:
    """Key retrieval: correct iff the completion's leading integer equals the expected value."""
    got = answered_value(generation)
    ok = got is not None and int(got) == int(expected)
    detail = "" if ok else (f"answered {got}" if got is not None else f"no number: {first_line(generation)[:60]!r}")
    return Verdict("passed" if ok else "failed", detail, {"accuracy": 1.0 if ok else 0.0})
