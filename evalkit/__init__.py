"""evalkit: evaluation harness for code models (HumanEval, MBPP, HumanEval-infilling)."""

__version__ = "0.1.0"
