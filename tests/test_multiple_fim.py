"""MultiPL-E single-line infilling (Table 6): the notebook's tasks, exact match, FIM layouts, a tiny model end to end."""

from __future__ import annotations

import json

import pytest
from conftest import TOKENIZERS, data_dir, evalkit, expected

TASKS = {"multiple-fim-py": (1043, 11), "multiple-fim-java": (1780, 24), "multiple-fim-js": (1969, 18)}


@pytest.fixture(autouse=True)
def _data():
    data_dir()


def _task(name: str):
    from evalkit.registry import get_task

    return get_task(name)


def test_counts_are_the_benchmarks():
    counts = {n: len(_task(n).problems()) for n in TASKS}
    assert counts == {n: expected(full, fix) for n, (full, fix) in TASKS.items()}
    assert sum(counts.values()) == expected(4792, 53)


def test_the_notebooks_rules_on_one_body():
    """Whole-line comments go before anything else; blank lines stay in prefix/suffix but are no task."""
    from tasks.multiple_fim import build_tasks

    prompt = "def f(x):\n"
    body = ["    # a comment", "    y = x  # kept", "", "  #indented comment", "    return y", "", ""]
    got = build_tasks("HumanEval_9_f", prompt, body, "py")
    assert got == [
        {"name": "HumanEval_9_f-L2", "prompt": prompt, "suffix": "\n    return y\n\n",
         "canonical_solution": "    y = x  # kept"},
        {"name": "HumanEval_9_f-L4", "prompt": prompt + "    y = x  # kept\n", "suffix": "\n",
         "canonical_solution": "    return y"},
    ]
    assert [t["canonical_solution"] for t in build_tasks("p", "f(){\n", ["  // c", "  a();", "}"], "js")] == \
        ["  a();", "}"]


def test_records_rebuild_the_file():
    """Every record of a problem is the same text (prompt + comment-free body) with another line hidden."""
    from tasks.multiple_fim import is_comment

    for name in TASKS:
        t = _task(name)
        wholes: dict[str, set[str]] = {}
        for p in t.problems()[:300]:
            assert p.reference.strip() and not is_comment(p.reference, t.lang)
            # the notebook's joins drop the newline on each side of the hidden line
            mine = {p.prompt + sep + p.reference + tail for sep in ("", "\n") for tail in ("\n" + p.suffix, "")}
            key = t.cluster_of(p.task_id)
            assert key == p.task_id.rsplit("-L", 1)[0]
            wholes[key] = wholes.get(key, mine) & mine
        assert wholes and all(wholes.values()), [k for k, w in wholes.items() if not w]
    first = _task("multiple-fim-py").problems()[0]
    assert first.task_id == "HumanEval_0_has_close_elements-L11"
    assert first.reference == "    for i in range(len(numbers)):"


def test_problem_names_follow_humaneval_when_names_repeat():
    """HumanEval has two `add`s (53, 85): the file order (sorted names) tells them apart."""
    from tasks.multiple_fim import problem_names

    recs = [{"prompt": "def add(x: int, y: int):\n"}, {"prompt": "def add(lst):\n"}, {"prompt": "def nope():\n"}]
    assert problem_names(recs, "py") == ["HumanEval_53_add", "HumanEval_85_add", "py_2_nope"]
    assert problem_names([{"prompt": "class P {\n    public static long addElements(long x) {\n"}], "java") == \
        ["HumanEval_122_add_elements"]


def test_first_line_and_exact_match():
    from tasks.multiple_fim import first_line

    assert first_line("\n    return y\n    }\n") == "\n    return y"
    assert first_line("\n\n  x = 1") == "\n\n  x = 1"
    assert first_line("a\nb") == "a" and first_line("") == ""
    t = _task("multiple-fim-py")
    p = t.problems()[0]
    assert t.execution(p, {"completion": p.reference}) is None
    ok = t.judge(p, {"completion": "\n  " + p.reference.strip() + "  "}, None)
    assert ok.outcome == "passed" and ok.scores == {"exact_match": 1.0}
    bad = t.judge(p, {"completion": p.reference + ";"}, None)
    assert bad.outcome == "failed" and bad.scores == {"exact_match": 0.0}
    assert t.postprocess(p, "\n" + p.reference + "\n        for j in x:\n") == "\n" + p.reference


def test_reference_scores_one(tmp_path):
    out = tmp_path / "o"
    r = evalkit("run", "--tasks", ",".join(TASKS), "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())["tasks"]
    for name, (full, fix) in TASKS.items():
        m = res[name]["metrics"]["exact_match"]
        assert res[name]["n_problems"] == expected(full, fix) and m["mean"] == 1.0, res[name]["outcomes"]


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_codellama_prompts_are_metas_layout(mode):
    """The requests the runner builds, encoded by the HF backend with the real Code Llama tokenizer, equal Meta's
    reference layout computed with sentencepiece on tokenizer.model."""
    import sentencepiece as spm

    from evalkit.backends.hf import HFBackend
    from evalkit.runner import RunConfig, build_requests

    d = TOKENIZERS / "codellama-7b"
    if not d.is_dir():
        pytest.skip(f"{d} not present (set EVALKIT_TOKENIZERS_DIR)")
    sp = spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
    pre, suf, mid = (sp.piece_to_id(p) for p in ("▁<PRE>", "▁<SUF>", "▁<MID>"))
    backend = HFBackend(str(d), load_weights=False, fim=mode)
    checked = 0
    for name in TASKS:
        task = _task(name)
        for req in build_requests(task, RunConfig(limit=12), set()):
            p = req.prompt
            nospace = sp.encode("☺" + p.suffix)[2:]  # Meta's encode_infilling
            ref = ([sp.bos_id(), pre] + sp.encode(p.prefix) + [suf] + nospace + [mid] if mode == "psm" else
                   [sp.bos_id(), pre, suf] + nospace + [mid] + sp.encode(p.prefix))
            assert backend.render(req)["ids"] == ref, req.key
            checked += 1
    assert checked == expected(36, 35)


@pytest.mark.parametrize("mode", ["psm", "spm"])
def test_tiny_fim_model_end_to_end(mode, tiny_models, tmp_path):
    from tasks.multiple_fim import first_line

    model = tiny_models("gpt_bigcode", fim=True)
    out = tmp_path / "o"
    r = evalkit("run", "--model", str(model), "--tasks", ",".join(TASKS), "--limit", "3", "--fim", mode, "--max-new-tokens", "24",
                "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert res["model"]["fim"]["mode"] == mode
    for name in TASKS:
        m = res["tasks"][name]["metrics"]["exact_match"]
        assert res["tasks"][name]["n_problems"] == 3 and 0.0 <= m["mean"] <= 1.0
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 9
    for row in rows:
        assert row["model_input"].startswith("<fim_prefix>" if mode == "psm" else "<fim_prefix><fim_suffix>")
        assert row["completion"] == first_line(row["raw_generation"])
        assert row["scores"]["exact_match"] in (0.0, 1.0)
