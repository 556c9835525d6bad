"""The long-context options are part of a run: ``run --resume`` alone and ``evaluate`` of a --generate-only run
restore them from the run's manifest (lengths, positions, examples per cell, seed, filler, LCC's options), never
the defaults; a different one given with --resume is one line and exit 2. A tiny Llama run killed half-way through
generation continues with its non-default lengths."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import assert_one_line_error, evalkit, kill_when
from test_long_e2e import tiny_long_llama

FIXTURES = Path(__file__).parent / "data"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
OPTIONS = ["--context-lengths", "1k,2k", "--key-positions", "0,0.5", "--examples-per-cell", "2",
           "--prompt-seed", "3", "--filler", "humaneval"]


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def check_grid(kr: dict, lengths: tuple[int, int] = (1000, 2000)) -> None:
    assert kr["recipe"]["context_lengths"] == list(lengths) and kr["recipe"]["key_positions"] == [0.0, 0.5]
    assert kr["recipe"]["examples_per_cell"] == 2 and kr["recipe"]["seed"] == 3 and kr["n_problems"] == 8
    assert set(kr["by_cell"]) == set(map(str, lengths)) and kr["filler"]["deviation"]


def test_resume_and_evaluate_restore_the_options(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    r = evalkit("run", "--model", "reference", "--tasks", "key-retrieval,lcc-python", "--data-dir", str(FIXTURES),
                *OPTIONS, "--lcc-balanced-n", "6", "--max-prompt-tokens", "300", "--lcc-balance-seed", "1",
                "--generate-only", "--output-dir", str(out), env=OFFLINE)
    assert r.returncode == 0, r.stderr
    scored = tmp_path / "scored"
    import shutil

    shutil.copytree(out, scored)
    r = evalkit("evaluate", str(scored), env=OFFLINE)  # the defaults would be 576 other examples: refused
    assert r.returncode == 0, r.stderr
    check_grid(results(scored)["tasks"]["key-retrieval"])
    lcc = results(scored)["tasks"]["lcc-python"]
    assert lcc["n_problems"] == 6 and lcc["max_prompt_tokens"] == 300 and lcc["lcc_balanced"]["seed"] == 1
    # a changed option on --resume: one line naming it, before anything else
    assert_one_line_error(evalkit("run", "--resume", "--output-dir", str(out), "--context-lengths", "1k",
                                  env=OFFLINE), "--context-lengths 1k (the run: 1000,2000)")
    assert_one_line_error(evalkit("run", "--resume", "--output-dir", str(out), "--lcc-balanced-n", "7",
                                  env=OFFLINE), "--lcc-balanced-n 7 (the run: 6)")
    # the same values, spelled otherwise, are the same options; alone is the run's own
    r = evalkit("run", "--resume", "--output-dir", str(out), "--context-lengths", "1000,2k", env=OFFLINE)
    assert r.returncode == 0, r.stderr
    check_grid(results(out)["tasks"]["key-retrieval"])
    assert results(out)["tasks"]["lcc-python"]["n_problems"] == 6


def test_default_lcc_sizes_are_each_languages_own_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "lcc"
    r = evalkit("run", "--model", "reference", "--tasks", "lcc-python,lcc-java", "--data-dir", str(FIXTURES),
                "--limit", "2", "--generate-only", "--output-dir", str(out), env=OFFLINE)
    assert r.returncode == 0, r.stderr
    r = evalkit("run", "--resume", "--output-dir", str(out), env=OFFLINE)
    assert r.returncode == 0, r.stderr
    tasks = results(out)["tasks"]
    assert tasks["lcc-python"]["lcc_balanced"]["n"] == 548 and tasks["lcc-java"]["lcc_balanced"]["n"] == 412


def test_tiny_llama_killed_mid_way_keeps_its_lengths(tmp_path: Path, monkeypatch) -> None:
    model = tiny_long_llama(tmp_path / "tiny")
    out = tmp_path / "run"
    options = ["--context-lengths", "400,600", *OPTIONS[2:]]  # short prompts: a fast test
    argv = ["run", "--model", str(model), "--tasks", "key-retrieval", "--data-dir", str(FIXTURES), *options,
            "--device", "cpu", "--batch-size", "1", "--output-dir", str(out)]
    for k, v in OFFLINE.items():  # kill_when's child inherits them
        monkeypatch.setenv(k, v)
    held = kill_when(argv, out / "generations.jsonl", 3, timeout=600)
    assert 1 <= held < 8, held  # killed half-way through generation
    assert not (out / "results.json").exists()
    r = evalkit("run", "--resume", "--output-dir", str(out), env=OFFLINE, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "resuming:" in r.stderr
    kr = results(out)["tasks"]["key-retrieval"]
    check_grid(kr, (400, 600))
    assert "code tokens" not in kr["length_unit"]  # still the model's own tokens
    rows = (out / "samples.jsonl").read_text().splitlines()
    assert len(rows) == 8
    # scoring a --generate-only run of the same model: its prompts are rebuilt in the model's tokens too
    gen = tmp_path / "gen"
    r = evalkit(*argv[:-1], str(gen), "--generate-only", env=OFFLINE, timeout=900)
    assert r.returncode == 0, r.stderr
    r = evalkit("evaluate", str(gen), env=OFFLINE, timeout=900)
    assert r.returncode == 0, r.stderr
    prompts = {p: [json.loads(x)["prompt"] for x in (d / "samples.jsonl").read_text().splitlines()]
               for p, d in (("resumed", out), ("evaluated", gen))}
    assert prompts["resumed"] == prompts["evaluated"]
