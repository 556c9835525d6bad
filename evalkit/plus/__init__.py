"""HumanEval+ and MBPP+ (EvalPlus, Liu et al. 2023) with evalplus's own scoring semantics, reimplemented.

Modules (none imports the ``evalplus`` package; each cites the evalplus 0.3.1 file it mirrors):
  data      the release files, their hashes (sha256 and evalplus's md5), MBPP+ input deserialisation
  oracle    expected outputs and reference times of the canonical solutions, cached per dataset hash
  spec      the sandbox spec of a sample (its solution, serving calls) and its verdict from the driver's facts
  driver_source  the trusted driver: base inputs, then plus inputs, values compared on evalkit's side
  sanitize  evalplus.sanitize's equivalent for whole-program answers, on the standard ``ast`` module
  verdicts  base/plus verdicts of a sample, the ``base`` score block, evalplus-style eval_results.json
  task      the shared Task class of ``humaneval-plus`` and ``mbpp-plus``
"""
