"""A Hugging Face ``evaluate`` metric that scores code with evalkit's sandbox, offline.

    import evaluate
    metric = evaluate.load(PATH)   # PATH: what `evalkit metric-path` prints (this file)
    pass_at_k, results = metric.compute(predictions=[["def f(): return 1"]], references=["assert f() == 1"], k=[1])

The interface of the hub's ``code_eval`` (predictions: a list of candidate programs per problem; references: the
test code of each problem; program = candidate + "\\n" + reference), but: no network (the hub's metric is a
script fetched from the hub), no ``HF_ALLOW_CODE_EVAL`` switch and no monkey-patched ``os`` as the only guard:
each program runs in evalkit's sandbox (pid/net/mount namespaces, read-only file system, an unprivileged uid,
rlimits). ``results`` maps each problem index to a list of (candidate index, {"passed", "outcome", "detail"}).
"""

from __future__ import annotations

import datasets
import evaluate

from evalkit.metrics import summarize

_CITATION = """@article{chen2021codex, title={Evaluating Large Language Models Trained on Code},
author={Mark Chen and others}, year={2021}, eprint={2107.03374}, archivePrefix={arXiv}}"""

_KWARGS = """
Args:
    predictions: a list of candidates per problem (each a whole program, without its tests).
    references: the test code of each problem, appended to each of its candidates.
    k: the k values of pass@k (default [1, 10, 100]; those above the number of candidates are left out).
    num_workers: sandbox workers (default: all cores).
    timeout: CPU seconds per program (default 3.0).
    memory_mb: address-space limit per program in MiB (default 4096; 0: none).
Returns:
    pass_at_k: {"pass@1": ..., "pass@1_ci": [lo, hi], ...}, fractions in [0, 1] (Chen et al.'s estimator,
    95% bootstrap CI over problems), and results (per problem: (candidate index, verdict) pairs).
"""


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS)
class EvalkitCodeEval(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("string")),
                                        "references": datasets.Value("string")}),
            homepage="https://github.com/openai/human-eval",
            codebase_urls=["https://github.com/openai/human-eval"],
            license="Apache-2.0",
        )

    def _compute(self, predictions, references, k=(1, 10, 100), num_workers=None, timeout=3.0,  # noqa: ANN001
                 memory_mb=4096):  # noqa: ANN202
        from evalkit.evaluators.runs_to_end import program_spec, verdict
        from evalkit.sandbox import SandboxConfig
        from evalkit.sandbox.pool import Job, SandboxPool

        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        jobs = [Job((i, j), program_spec(cand + "\n" + test, float(timeout)))
                for i, (cands, test) in enumerate(zip(predictions, references)) for j, cand in enumerate(cands)]
        verdicts: dict[tuple[int, int], dict] = {}

        def on_result(job: Job, facts) -> None:  # noqa: ANN001
            res = verdict(facts)
            verdicts[job.key] = {"passed": res.outcome == "passed", "outcome": res.outcome, "detail": res.detail}

        with SandboxPool(SandboxConfig(timeout=float(timeout), memory_mb=int(memory_mb)), num_workers) as pool:
            pool.run(jobs, on_result)
        results = {i: [(j, verdicts[(i, j)]) for j in range(len(cands))] for i, cands in enumerate(predictions)}
        counts = {str(i): (len(r), sum(v["passed"] for _, v in r)) for i, r in results.items() if r}
        ks = [k] if isinstance(k, int) else list(k)
        n_min = min((n for n, _ in counts.values()), default=0)
        dropped = [x for x in ks if x > n_min]
        if dropped:  # pass@k needs k <= the candidates of every problem: say which k are left out
            import sys

            print(f"evalkit: warning: pass@{', pass@'.join(map(str, dropped))} left out: a problem has only "
                  f"{n_min} candidate(s)", file=sys.stderr)
        return summarize(counts, ks), results
