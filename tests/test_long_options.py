"""The CLI seam of the long-context tasks: options parsed and applied to the right tasks, the model's tokenizer
given to the tasks that count tokens."""

from __future__ import annotations

import argparse

from evalkit.longctx import options
from evalkit.registry import get_task


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    options.add_arguments(p)
    return p.parse_args(list(argv))


def test_options_reach_their_tasks_only() -> None:
    args = parse("--context-lengths", "4k,100k", "--key-positions", "0,1", "--examples-per-cell", "2",
                 "--max-prompt-tokens", "4000", "--lcc-balanced-n", "10")
    kr, lcc, he = get_task("key-retrieval"), get_task("lcc-java"), get_task("humaneval")
    for t in (kr, lcc, he):
        options.configure(t, args)
    assert kr.lengths == (4000, 100000) and kr.positions == (0.0, 1.0) and kr.per_cell == 2
    assert lcc.max_prompt_tokens == 4000 and lcc.rule.n == 10
    assert options.used_without_task(args, ["key-retrieval", "lcc-java"]) is None
    assert "key-retrieval" in options.used_without_task(args, ["humaneval", "lcc-java"])
    assert "lcc" in options.used_without_task(parse("--max-prompt-tokens", "4000"), ["key-retrieval"])


def test_model_tokenizer_given_to_the_tasks() -> None:
    import tiny

    from evalkit.backends.reference import ReferenceBackend

    kr = get_task("key-retrieval")
    options.give_tokenizer([kr, get_task("humaneval")], ReferenceBackend())
    assert "code tokens" in kr.counter.name  # the reference backend has no tokenizer

    class Loaded:  # what a loaded HF backend exposes: its tokenizer as .tok, its id as .model_id
        tok = tiny.train_tokenizer("metaspace")
        model_id = "tiny-llama"

    options.give_tokenizer([kr], Loaded())
    assert kr.counter.name == "tiny-llama" and kr.tokenizer_sha256 != get_task("key-retrieval").tokenizer_sha256
