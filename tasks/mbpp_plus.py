"""MBPP+ (EvalPlus v0.2.0): 378 MBPP problems with ~35x more test inputs, scored as evalplus scores.

Two scores per run: ``pass@k`` (plus: the base and the plus inputs all pass) and ``base`` (MBPP's own inputs).
Data: ``MbppPlus-v0.2.0.jsonl.gz`` in ``--data-dir``/``$EVALKIT_DATA_DIR`` (``DIR/evalplus/``), or evalplus's own
copy. Inputs are deserialised as evalplus does (tuples, sets, complex numbers for the listed tasks).
"""

from __future__ import annotations

from evalkit.plus.task import EOS, EXTRA_EOS, EvalPlusTask


class MBPPPlus(EvalPlusTask):
    name = "mbpp-plus"
    description = "MBPP+ (EvalPlus v0.2.0), 378 problems; plus and base scores, evalplus's semantics"
    dataset = "mbpp"
    id_prefix = "Mbpp"
    stop_sequences = EOS + EXTRA_EOS["mbpp"]


TASKS = [MBPPPlus]
