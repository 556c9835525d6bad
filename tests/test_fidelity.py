"""Issue 11: numbers that can stand next to the paper's. One test (or more) per point of the issue: chat prompts
rendered by the template, the checkpoint's BOS, float64 sampling, per-task caps, the infilling stop rule, MBPP's
bytes, cluster bootstrap, protocol-aware compare/check, and recording what really ran."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
from conftest import TOKENIZERS, data_dir, evalkit

from evalkit.registry import get_task

# Code Llama - Instruct's chat template, exactly as codellama/CodeLlama-{7,13,34}b-Instruct-hf's
# tokenizer_config.json has it (the Llama-2 chat format; Meta's chat_completion: "[INST] {user} [/INST] {answer}")
CODELLAMA_INSTRUCT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}{% elif message['role'] "
    "== 'assistant' %}{{ ' '  + content | trim + ' ' + eos_token }}{% endif %}{% endfor %}"
)
FOUR = ["codellama-7b", "deepseek-coder-6.7b-instruct", "qwen2.5-coder-0.5b-instruct", "starcoderbase-1b"]


def tokenizer_dir(name: str):
    d = TOKENIZERS / name
    if not (d / "tokenizer_config.json").is_file():
        pytest.skip(f"real tokenizer {name} not available (set EVALKIT_TOKENIZERS_DIR)")
    return d


def backend(path):
    from evalkit.backends.hf import HFBackend

    return HFBackend(str(path), load_weights=False, device="cpu")


@pytest.fixture(scope="module")
def codellama_instruct(tmp_path_factory):
    """The Code Llama tokenizer with the Code Llama - Instruct chat template, as the instruct checkpoint ships it."""
    src = tokenizer_dir("codellama-7b")
    d = tmp_path_factory.mktemp("codellama-instruct")
    for f in src.iterdir():
        shutil.copy(f, d / f.name)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg["chat_template"] = CODELLAMA_INSTRUCT_TEMPLATE
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    return d


def _chat_prompt(task_name: str):
    from evalkit.backends.base import ChatPrompt

    task = get_task(task_name)
    return ChatPrompt(*task.chat_prompt(task.problems()[0]))


# -- 1. chat: the assistant turn rendered through the template ---------------------------------------------------
def _evalplus_style(tok, prompt) -> str:
    """The reference construction (evalplus): render user + assistant message, cut the answer at a marker."""
    marker = "-[[EVALKIT_SPLIT]]-"
    msgs = [{"role": "user", "content": prompt.user},
            {"role": "assistant", "content": prompt.assistant_prefix + marker + "\nrest"}]
    return tok.apply_chat_template(msgs, tokenize=False).split(marker)[0]


@pytest.mark.parametrize("task_name", ["mbpp-instruct", "humaneval"])
def test_chat_codellama_instruct_separates_inst_from_the_answer(codellama_instruct, task_name):
    data_dir()
    b = backend(codellama_instruct)
    prompt = _chat_prompt(task_name)
    ids = b.encode(prompt)
    pieces = b.tok.convert_ids_to_tokens(ids)
    # Meta's chat_completion: [BOS] + sp.encode("[INST] {user} [/INST]"), then " " + answer: ']' then '▁['
    # ('▁```' for a fence), never ']' glued to the answer; and '▁[' 'INST' at the start, as sp.encode gives it
    meta = b.tok.encode(f"[INST] {prompt.user.strip()} [/INST] {prompt.assistant_prefix}")
    assert ids == meta
    at = max(i for i, p in enumerate(pieces) if p == "INST")
    assert pieces[at + 1] == "]" and pieces[at + 2].startswith("▁") and ids.count(b.tok.bos_token_id) == 1
    assert "][" not in pieces and "]`" not in pieces


@pytest.mark.parametrize("name", ["deepseek-coder-6.7b-instruct", "qwen2.5-coder-0.5b-instruct"])
@pytest.mark.parametrize("task_name", ["mbpp-instruct", "humaneval"])
def test_chat_other_templates_render_the_assistant_turn_like_evalplus(name, task_name):
    data_dir()
    b = backend(tokenizer_dir(name))
    prompt = _chat_prompt(task_name)
    assert b.encode(prompt) == b.tok.encode(_evalplus_style(b.tok, prompt), add_special_tokens=False)


def test_prompt_ids_show_the_boundary(codellama_instruct):
    data_dir()
    r = evalkit("prompt", "--task", "mbpp-instruct", "--model", str(codellama_instruct), "--chat", "--ids")
    assert r.returncode == 0, r.stderr
    pieces = [line.split("\t")[1] for line in r.stdout.split("---")[-1].splitlines()[1:]]
    i = max(i for i, p in enumerate(pieces) if p == "'INST'")
    assert pieces[i + 1: i + 4] == ["']'", "'▁['", "'PY'"]


# -- 2. --chat on a base-model protocol is refused ---------------------------------------------------------------
def test_chat_mbpp_is_refused_with_a_hint(tmp_path):
    data_dir()
    for args in (["run", "--tasks", "mbpp", "--chat", "--limit", "1", "--output-dir", str(tmp_path / "r")],
                 ["prompt", "--task", "mbpp", "--chat"], ["prompt", "--task", "mbpp-0shot", "--chat"]):
        r = evalkit(*args)
        assert r.returncode == 2 and "mbpp-instruct" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "r" / "results.json").exists()
    r = evalkit("prompt", "--task", "mbpp-instruct", "--chat")
    assert r.returncode == 0 and "[PYTHON]" in r.stdout


def test_chat_run_records_the_chat_format(tmp_path):
    out = tmp_path / "chat"
    r = evalkit("run", "--tasks", "humaneval", "--chat", "--limit", "2", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    t = json.loads((out / "results.json").read_text())["tasks"]["humaneval"]
    assert t["protocol"]["chat"] is True and t["protocol"]["prompt_format"].startswith("chat template")
    assert t["protocol"]["chat"] is True


# -- 3. BOS as the checkpoint declares it --------------------------------------------------------------------------
@pytest.mark.parametrize("name,bos", [("codellama-7b", 1), ("deepseek-coder-6.7b-instruct", 32013),
                                      ("qwen2.5-coder-0.5b-instruct", None), ("starcoderbase-1b", None)])
def test_bos_follows_the_checkpoint(name, bos):
    from evalkit.task import FimPrompt

    b = backend(tokenizer_dir(name))
    text = "from typing import List\n"
    ids = b.encode(text)
    plain = b.tok.encode(text, add_special_tokens=False)
    assert ids == ([bos] if bos is not None else []) + plain
    fim = b.encode(FimPrompt("def f():\n", "\n    return 1\n"))
    if bos is None:
        assert fim[0] == b.fim_layout().prefix_id
    else:
        assert fim[:2] == [bos, b.fim_layout().prefix_id]


def test_prompt_ids_of_deepseek_start_with_bos():
    d = tokenizer_dir("deepseek-coder-6.7b-instruct")
    r = evalkit("prompt", "--task", "humaneval", "--model", str(d), "--ids")
    assert r.returncode == 0, r.stderr
    first = r.stdout.split(" tokens (id, piece) ---\n")[1].splitlines()[0]
    assert first.split("\t")[0] == "32013"


# -- 4. sampling: a draw that rounds to 1.0 in float32 --------------------------------------------------------------
class _Draw(random.Random):
    def __init__(self, u: float) -> None:
        super().__init__(0)
        self.u = u

    def random(self) -> float:  # the per-sample stream's next draw
        return self.u


def test_pick_never_returns_a_token_without_mass():
    import torch

    from evalkit.backends.base import GenerationParams
    from evalkit.backends.hf import HFBackend

    b = HFBackend.__new__(HFBackend)
    b.torch = torch
    u = 1 - 2**-30  # float32(u) == 1.0
    assert float(torch.tensor(u, dtype=torch.float32)) == 1.0
    logits = torch.tensor([[0.0, 0.0, 0.0, float("-inf")], [3.0, 1.0, 0.0, -1.0]])
    for top_p in (1.0, 0.5):
        got = b._pick(logits, GenerationParams(temperature=1.0, top_p=top_p), [_Draw(u), _Draw(u)]).tolist()
        assert got[0] in (0, 1, 2)
        assert got[1] == (0 if top_p == 0.5 else 3)  # top-p 0.5 keeps token 0 only; without it the draw is the tail
    got = b._pick(logits, GenerationParams(temperature=1.0), [_Draw(0.0), _Draw(0.0)]).tolist()
    assert got == [0, 0]


def test_fast_engine_pick_never_returns_a_token_without_mass():
    """The fast engine's on-device draw (24 random bits, float32): the largest draw times a total mass that
    rounds up must still land on a token with probability."""
    import torch

    from evalkit.backends.base import GenerationParams
    from evalkit.backends.engine import pick

    u = torch.full((2,), 1 - 2**-24)
    # the first row's total mass rounds above the largest draw's product; its last token has no mass
    logits = torch.tensor([[0.0, 0.0, 0.0, float("-inf")], [3.0, 1.0, 0.0, -1.0]])
    for top_p in (1.0, 0.5):
        got = pick(logits, GenerationParams(temperature=1.0, top_p=top_p), u).tolist()
        assert got[0] in (0, 1, 2)
        assert got[1] == (0 if top_p == 0.5 else 3)
    probs = torch.tensor([[0.5, 0.5, 0.0]])  # cdf [0.5, 1.0, 1.0]: a draw of the whole mass must not reach id 2
    got = pick(torch.log(probs), GenerationParams(temperature=1.0), torch.ones(1)).tolist()
    assert got == [1]


# -- 5. max_new_tokens per task -------------------------------------------------------------------------------
def test_requests_carry_their_task_cap():
    data_dir()
    from evalkit.runner import RunConfig, build_requests

    tasks = [get_task(n) for n in ("humaneval", "humaneval-infill-single", "humaneval-infill-multi")]
    caps = {t.name: {r.max_new_tokens for r in build_requests(t, RunConfig(limit=2), set())} for t in tasks}
    assert caps == {"humaneval": {512}, "humaneval-infill-single": {128}, "humaneval-infill-multi": {512}}
    caps = {t.name: {r.max_new_tokens for r in build_requests(t, RunConfig(limit=2, max_new_tokens=7), set())}
            for t in tasks}
    assert all(c == {7} for c in caps.values())


def test_hf_backend_honours_the_request_cap(tiny_models):
    from evalkit.backends.base import GenerationParams, GenerationRequest
    from evalkit.backends.hf import HFBackend

    b = HFBackend(str(tiny_models("llama")), device="cpu")
    b.eos_ids = set()  # a random model may say EOS at any step; the cap is what is tested here
    got = {}
    reqs = [GenerationRequest(key=("t", str(cap), 0), prompt="def f(x):\n", max_new_tokens=cap) for cap in (3, 9)]
    reqs.append(GenerationRequest(key=("t", "none", 0), prompt="def f(x):\n"))
    b.generate(reqs, GenerationParams(max_new_tokens=12), lambda req, gen: got.__setitem__(req.key[1], gen.n_tokens))
    assert got == {"3": 3, "9": 9, "none": 12}


def test_no_canonical_middle_is_cut():
    data_dir()
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir("codellama-7b")))
    for name in ("humaneval-infill-single", "humaneval-infill-multi", "humaneval-infill-random",
                 "humaneval-infill-random-light"):
        task = get_task(name)
        longest = max(len(x) for x in tok([p.reference for p in task.problems()], add_special_tokens=False)["input_ids"])
        assert longest + 1 <= task.default_max_new_tokens, (name, longest)  # + the end-of-infill token


# -- 6. the single-line stop rule ------------------------------------------------------------------------------
def test_infill_stop_option(tmp_path):
    data_dir()
    from evalkit.runner import RunConfig, build_requests

    task = get_task("humaneval-infill-single")
    assert task.infill_stop == "newline" and all(r.single_line for r in build_requests(task, RunConfig(limit=1), set()))
    assert task.postprocess(task.problems()[0], "a\nb\n") == "a\n"
    task.infill_stop = "eot"
    assert not any(r.single_line for r in build_requests(task, RunConfig(limit=1), set()))
    assert task.postprocess(task.problems()[0], "a\nb\n") == "a\nb\n"
    for stop in ("eot", None):
        out = tmp_path / f"stop-{stop}"
        r = evalkit("run", "--tasks", "humaneval-infill-single,humaneval-infill-random-light", "--limit", "1",
                    "--output-dir", str(out), *(["--infill-stop", stop] if stop else []))
        assert r.returncode == 0, r.stderr
        tasks = json.loads((out / "results.json").read_text())["tasks"]
        assert tasks["humaneval-infill-random-light"]["protocol"]["infill_stop"] == "eot"
        assert tasks["humaneval-infill-single"]["protocol"]["infill_stop"] == (stop or "newline")
    r = evalkit("run", "--tasks", "humaneval", "--infill-stop", "eot", "--output-dir", str(tmp_path / "x"))
    assert r.returncode == 2 and "--infill-stop" in r.stderr and len(r.stderr.splitlines()) == 1


# -- 7. MBPP few-shot bytes ------------------------------------------------------------------------------------
def test_mbpp_11_prompt_is_lm_evaluation_harness_byte_for_byte():
    data_dir()
    import jinja2

    # lm-evaluation-harness lm_eval/tasks/mbpp/mbpp.yaml: doc_to_text, doc_to_target, target_delimiter "",
    # fewshot_delimiter "\n\n" (the TaskConfig default), shots = utils.list_fewshot_samples() (tasks 2, 3, 4, whose
    # code keeps the dataset's "\r\n"; the first shot's code is quoted here as utils.py has it)
    doc_to_text = jinja2.Template("You are an expert Python programmer, and here is your task: {{text}} Your code "
                                  "should pass these tests:\n\n{{test_list[0]}}\n{{test_list[1]}}\n{{test_list[2]}}"
                                  "\n[BEGIN]\n", keep_trailing_newline=True)
    doc_to_target = jinja2.Template("{% if is_fewshot is defined %}{{code}}\n[DONE]{% else %}{{test_list[0]}}\n"
                                    "{{test_list[1]}}\n{{test_list[2]}}{% endif %}", keep_trailing_newline=True)
    rows = {int(json.loads(x)["task_id"]): json.loads(x) for x in (data_dir() / "mbpp" / "mbpp.jsonl").open()}
    assert rows[2]["code"] == ("def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & "
                               "set(test_tup2))\r\n  return (res) ")
    shots = [rows[i] | {"is_fewshot": True} for i in (2, 3, 4)]
    expected = "\n\n".join(doc_to_text.render(**s) + "" + doc_to_target.render(**s) for s in shots)
    expected += "\n\n" + doc_to_text.render(**rows[11])
    got = get_task("mbpp").problems()[0]
    assert got.task_id == "MBPP/11" and got.prompt.encode() == expected.encode()
    if (TOKENIZERS / "codellama-7b").is_dir():
        import transformers

        tok = transformers.AutoTokenizer.from_pretrained(str(TOKENIZERS / "codellama-7b"))
        assert len(tok.encode(got.prompt)) == 738


# -- 8. cluster bootstrap for infilling ---------------------------------------------------------------------------
def test_cluster_bootstrap_is_wider_for_dependent_records():
    from evalkit.metrics import bootstrap_ci, cluster_bootstrap_ci, summarize

    # 40 source problems x 25 records each, all records of a problem share the outcome (half pass)
    counts = {f"S/HumanEval/{p}/L{i}": (1, int(p % 2 == 0)) for p in range(40) for i in range(25)}
    clusters = {tid: tid.split("/L")[0] for tid in counts}
    vals = np.array([c for _, c in counts.values()], dtype=float)
    naive = bootstrap_ci(vals)
    clustered = cluster_bootstrap_ci(vals, np.array(list(clusters.values())))
    assert (clustered[1] - clustered[0]) > 3 * (naive[1] - naive[0])
    # as wide as the bootstrap over the 40 independent problems
    per_problem = bootstrap_ci(np.array([float(p % 2 == 0) for p in range(40)]))
    assert clustered[1] - clustered[0] == pytest.approx(per_problem[1] - per_problem[0], abs=0.05)
    assert summarize(counts, (1,), clusters=clusters)["pass@1_ci"] == list(clustered)


def test_infilling_results_record_clusters(tmp_path):
    data_dir()
    from evalkit.runner import task_summary

    task = get_task("humaneval-infill-single")
    probs = task.problems()[:60]
    rows = [{"task_id": p.task_id, "passed": p.task_id.startswith("SingleLineInfilling/HumanEval/0/"),
             "outcome": "passed" if p.task_id.startswith("SingleLineInfilling/HumanEval/0/") else "failed"}
            for p in probs]
    s = task_summary(task, rows, (1,))
    assert s["cluster_by"] == "source HumanEval problem"
    assert set(s["clusters"].values()) == {task.cluster_of(p.task_id) for p in probs} and len(set(s["clusters"].values())) < 60
    assert s["clusters"]["SingleLineInfilling/HumanEval/0/L0"] == "HumanEval/0"
    naive = get_task("humaneval").cluster_of("HumanEval/0")
    assert naive is None


def _results(path, task: str, outcomes: dict[str, int], clusters: dict[str, str] | None = None, **proto):
    """A results.json as a run writes it (the fields compare and check read)."""
    t = {"n_problems": len(outcomes), "n_samples_per_problem": 1, "pass@1": sum(outcomes.values()) / len(outcomes),
         "pass@1_ci": [0.0, 1.0], "problems": {k: [1, v] for k, v in outcomes.items()},
         "dataset_sha256": "d" * 64, "prompt_format": "fmt", "prompt_sha256": "p" * 64, "max_new_tokens": 128,
         "chat": False, "stop_sequences": [], **proto}
    if clusters:
        t["clusters"] = clusters
    doc = {"model": {"id": str(path)}, "config": {"generation": {"n_samples": 1, "temperature": 0.0, "top_p": 1.0},
                                                   "limit": None}, "tasks": {task: t}}
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(doc))
    return path


def test_paired_tests_resample_source_problems(tmp_path):
    from evalkit.compare import paired_test

    # 10 source problems x 50 records; B loses every record of two source problems
    ids = [f"M/HumanEval/{p}/L{i}" for p in range(10) for i in range(50)]
    clusters = {t: t.rsplit("/", 1)[0].split("/", 1)[1] for t in ids}
    a = {t: 1 for t in ids}
    b = {t: int(not t.startswith(("M/HumanEval/0/", "M/HumanEval/1/"))) for t in ids}
    flat = paired_test({t: (1, v) for t, v in a.items()}, {t: (1, v) for t, v in b.items()})
    clustered = paired_test({t: (1, v) for t, v in a.items()}, {t: (1, v) for t, v in b.items()}, clusters)
    assert flat.method == "mcnemar-exact" and flat.p_value < 1e-20
    assert clustered.method == "cluster-bootstrap" and clustered.p_value > 0.05
    base = _results(tmp_path / "a", "humaneval-infill-multi", a, clusters, fim="psm", single_line=False)
    run = _results(tmp_path / "b", "humaneval-infill-multi", b, clusters, fim="psm", single_line=False)
    r = evalkit("check", str(run), "--baseline", str(base))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cluster-bootstrap" in r.stdout and "not significant at alpha=0.05" in r.stdout
    r = evalkit("compare", str(base), str(run), "--format", "json")
    cell = json.loads(r.stdout)["rows"][0]["cells"][1]
    assert cell["test"] == "cluster-bootstrap" and cell["p_value"] > 0.05


# -- 9. protocol-aware compare and check ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def he_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("he")
    out = {}
    for name, extra in {"ten": [], "sampled": ["--n-samples", "2", "--temperature", "0.8", "--top-p", "0.95"]}.items():
        r = evalkit("run", "--tasks", "humaneval", "--limit", "10", "--output-dir", str(root / name), *extra)
        assert r.returncode == 0, r.stderr
        out[name] = root / name
    return out


def test_check_refuses_edited_dataset_and_prompt_format(he_runs, tmp_path):
    edited = tmp_path / "edited"
    shutil.copytree(he_runs["ten"], edited)
    doc = json.loads((edited / "results.json").read_text())
    doc["tasks"]["humaneval"]["dataset_sha256"] = "0" * 64
    doc["tasks"]["humaneval"]["prompt_format"] = "something else"
    doc["tasks"]["humaneval"].pop("protocol")  # an older results.json: the protocol is rebuilt from the fields
    (edited / "results.json").write_text(json.dumps(doc))
    r = evalkit("check", str(edited), "--baseline", str(he_runs["ten"]))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert "dataset differs" in r.stderr and "prompt format" in r.stderr and "--allow-mismatch" in r.stderr
    doc["tasks"]["humaneval"]["protocol"] = {"dataset_sha256": "0" * 64}
    (edited / "results.json").write_text(json.dumps(doc))
    r = evalkit("check", str(edited), "--baseline", str(he_runs["ten"]))
    assert r.returncode == 2 and "dataset differs" in r.stderr
    r = evalkit("check", str(edited), "--baseline", str(he_runs["ten"]), "--allow-mismatch")
    assert r.returncode == 0 and "protocols differ (allowed)" in r.stdout
    r = evalkit("check", str(he_runs["ten"]), "--baseline", str(he_runs["ten"]))
    assert r.returncode == 0, r.stderr


def test_compare_marks_protocol_differences(he_runs):
    r = evalkit("compare", "paper:codellama-7b", str(he_runs["ten"]), str(he_runs["sampled"]))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    row = next(x for x in lines if x.startswith("humaneval ") and " pass@1 " in x)
    assert "[1]" in row and "[2]" in row
    notes = [x for x in lines if x.startswith("[")]
    assert "10 problems vs 164" in notes[0] and "greedy" not in notes[0]
    assert "pass@1 sampled (T=0.8, top-p 0.95, n=2) vs greedy" in notes[1] and "10 problems vs 164" in notes[1]
    assert any(x.startswith("Values in %") for x in lines)  # the terminal table has the legend too
    assert not any(x.startswith(("mbpp", "humaneval-infill")) for x in lines)  # no rows no run has
    doc = json.loads(evalkit("compare", "paper:codellama-7b", str(he_runs["sampled"]), "--format", "json").stdout)
    p10 = next(x for x in doc["rows"] if x["metric"] == "pass@10")
    assert p10["cells"][1]["value"] is None
    p1 = next(x for x in doc["rows"] if x["metric"] == "pass@1")
    assert "pass@1 sampled (T=0.8, top-p 0.95, n=2) vs greedy" in p1["cells"][1]["protocol_differences"]
    same = evalkit("compare", str(he_runs["ten"]), str(he_runs["ten"])).stdout
    assert "[1]" not in same and "(+0.0" in same and "-0.0" not in same


def test_paper_table_carries_the_paper_protocol():
    from evalkit.results import load_run

    paper = load_run("paper:codellama-7b")
    he, mbpp = paper.protocol("humaneval"), paper.protocol("mbpp")
    assert he["decoding"]["pass@1"] == {"greedy": True}
    assert he["decoding"]["pass@10"] == he["decoding"]["pass@100"] == {"greedy": False, "temperature": 0.8,
                                                                       "top_p": 0.95}
    assert (he["n_problems"], mbpp["n_problems"], mbpp["shots"], he["shots"]) == (164, 500, 3, 0)
    assert load_run("paper:codellama-7b-spm").protocol("humaneval-infill-single")["fim"] == "spm"


# -- 10. record what really ran --------------------------------------------------------------------------------
def test_preset_recorded_only_when_it_ran(tmp_path):
    out = tmp_path / "p"
    r = evalkit("run", "--tasks", "humaneval", "--limit", "1", "--preset", "paper-pass1", "--temperature", "0.8",
                "--n-samples", "3", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    g = json.loads((out / "results.json").read_text())["config"]["generation"]
    assert g["preset"] is None and "fim" not in g
    assert g["preset_overrides"] == {"requested": "paper-pass1", "changed": {"n_samples": 3, "temperature": 0.8}}
    out = tmp_path / "q"
    r = evalkit("run", "--tasks", "humaneval", "--limit", "1", "--preset", "paper-pass1", "--temperature", "0",
                "--output-dir", str(out))
    g = json.loads((out / "results.json").read_text())["config"]["generation"]
    assert r.returncode == 0 and g["preset"] == "paper-pass1" and "preset_overrides" not in g


def test_timeout_recorded_as_enforced(tmp_path):
    f = tmp_path / "spin.jsonl"
    f.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    while True:\n        pass\n"}) + "\n")
    out = tmp_path / "t"
    r = evalkit("evaluate", "--task", "humaneval", str(f), "--timeout", "0.5", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    t = json.loads((out / "results.json").read_text())["tasks"]["humaneval"]
    row = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert row["outcome"] == "timeout"
    if "CPU" in row["detail"]:  # (on a loaded machine the wall-clock backstop, 2 x 0.5 + 2 s, may come first)
        assert f"CPU time limit of {t['timeout_s']}s" in row["detail"]
    assert t["timeout_s"] == 1 and t["timeout_requested_s"] == 0.5
    # completions made elsewhere: how they were decoded is not known, and not claimed
    assert t["protocol"]["decoding"] is None and len(t["protocol"]["dataset_sha256"]) == 64


def test_fim_only_with_infilling_tasks(tmp_path):
    r = evalkit("run", "--tasks", "humaneval", "--fim", "spm", "--output-dir", str(tmp_path / "x"))
    assert r.returncode == 2 and "--fim" in r.stderr and len(r.stderr.splitlines()) == 1
    r = evalkit("prompt", "--task", "humaneval", "--fim", "spm")
    assert r.returncode == 2 and "--fim" in r.stderr
