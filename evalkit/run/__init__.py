"""One sample from prompt to verdict: requests -> backend -> post-process -> journal -> sandbox -> verdict.

``generate`` (``run/generate.py``) fills a run's generations journal, ``execute`` (``run/judge.py``) turns every
generation into a verdict in the executions journal (the sandbox reports facts, the task's evaluator decides),
``finalize`` (``run/finalize.py``) writes samples.jsonl and results.json; ``overlap.py`` runs generation and
judging side by side. Each stage skips what the journals already hold, so a killed run continues with
``--resume`` and loses nothing. ``config.py`` holds the run's settings and manifest.
"""
