"""evalkit as a Hugging Face ``evaluate`` metric: ``evaluate.load(str(PATH))`` (``evalkit metric-path`` prints it)."""

from pathlib import Path

PATH = Path(__file__).resolve().with_name("evalkit_code_eval.py")
