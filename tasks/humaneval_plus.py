"""HumanEval+ (EvalPlus v0.1.10): HumanEval's 164 problems with ~80x more test inputs, scored as evalplus scores.

Two scores per run: ``pass@k`` (plus: the base and the plus inputs all pass) and ``base`` (HumanEval's own inputs).
Data: ``HumanEvalPlus-v0.1.10.jsonl.gz`` in ``--data-dir``/``$EVALKIT_DATA_DIR`` (``DIR/evalplus/``), or evalplus's
own copy; see ``evalkit.plus`` for the semantics and where they differ from evalplus (nowhere in verdicts).
"""

from __future__ import annotations

from evalkit.plus.task import EOS, EXTRA_EOS, EvalPlusTask


class HumanEvalPlus(EvalPlusTask):
    name = "humaneval-plus"
    description = "HumanEval+ (EvalPlus v0.1.10), 164 problems; plus and base scores, evalplus's semantics"
    dataset = "humaneval"
    id_prefix = "HumanEval"
    stop_sequences = EOS + EXTRA_EOS["humaneval"]


TASKS = [HumanEvalPlus]
