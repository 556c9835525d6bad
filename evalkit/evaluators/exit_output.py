"""The rule of MultiPL-E (and of programs judged by how they end): exit status and output decide.

The sandbox runs a language's steps (``evalkit.langs``): build steps (a compiler), then one ``run`` step. The
verdict, in order (MultiPL-E's ``eval_<lang>.py``, its statuses as outcomes):

* a build step that did not succeed -> ``compile_error`` (MultiPL-E's "SyntaxError"; a compiler that ran out of
  time too, as MultiPL-E's exit code -1 is one);
* the run step hit its CPU or wall-clock limit -> ``timeout`` ("Timeout"; MultiPL-E's PHP rule has no timeout
  and says "Exception", its C# rule on a mono that exits non-zero without a marker says "OK");
* a run that exited 0 -> ``passed`` ("OK"), unless its output carries a failure the runtime does not report by
  its exit status (mono exits 0 after a failed ``Debug.Assert``);
* an interpreter's refusal of the source in its output (PHP "PHP Parse error", Bash "syntax error", Python
  "SyntaxError") -> ``compile_error``;
* a test's assertion (an abort of C's ``assert``, ``java.lang.AssertionError``, node's ``ERR_ASSERTION``,
  PHP's "Test failed!", Bash's ``set -e`` exit 1) -> ``failed``; anything else -> ``error`` (MultiPL-E's
  "Exception": a crash, an uncaught exception, a non-zero exit).

Exit codes and signals are measured by the sandbox's supervisor; output markers come from the program's own
streams, so a hostile program can print them -- as under MultiPL-E, whose verdicts this reproduces.
"""

from __future__ import annotations

from evalkit.evaluators import Verdict
from evalkit.sandbox.spec import Facts, StepFacts

DETAIL_CHARS = 300


def _has(st: StepFacts, markers: tuple[tuple[str, str], ...]) -> str | None:
    for stream, text in markers:
        hay = st.stdout + "\n" + st.stderr if stream == "output" else getattr(st, stream)
        if text in hay:
            return text
    return None


def _tail(st: StepFacts) -> str:
    text = (st.stderr.strip() or st.stdout.strip())
    return text[-DETAIL_CHARS:]


def verdict(facts: Facts | None, rules) -> Verdict:  # rules: evalkit.langs.Rules
    """The verdict of a language's steps, with ``scores = {"pass": 0 or 1}``."""
    v = _verdict(facts, rules)
    v.scores = {"pass": 1.0 if v.outcome == "passed" else 0.0}
    return v


def _verdict(facts: Facts | None, rules) -> Verdict:  # noqa: C901
    if facts is None:
        return Verdict("sandbox_error", "no facts: the program never ran")
    if facts.sandbox_error:
        return Verdict("sandbox_error", facts.sandbox_error)
    if not facts.steps:
        return Verdict("sandbox_error", "the spec had no steps")
    for st in facts.steps:
        if st.name == "run":
            break
        if not st.ran:
            return Verdict("sandbox_error", f"the {st.name} step never started")
        if not st.ok:
            why = f"{st.name} step: " + (f"{st.limit} limit reached" if st.limit else
                                         f"signal {st.signal}" if st.signal else f"exit code {st.exit_code}")
            return Verdict("compile_error", (why + "\n" + _tail(st))[:DETAIL_CHARS])
    run = facts.step("run")
    if run is None or not run.ran:
        return Verdict("sandbox_error", "the run step never started")
    if run.limit in ("cpu", "wall"):
        what = f"CPU time limit of {run.cpu_s:.0f}s reached" if run.limit == "cpu" else "wall-clock limit reached"
        return Verdict("timeout", what)
    if run.exit_code == 0:
        bad = _has(run, rules.failing_output)
        if bad is None:
            return Verdict("passed")
        return Verdict("failed" if _has(run, rules.fail_markers) else "error", _tail(run))
    if _has(run, rules.compile_markers):
        return Verdict("compile_error", _tail(run))
    how = f"signal {run.signal}" if run.signal else f"exit code {run.exit_code}"
    if _has(run, rules.fail_markers) or (run.exit_code is not None and run.exit_code in rules.fail_exit_codes):
        return Verdict("failed", (how + ": " + _tail(run))[:DETAIL_CHARS])
    return Verdict("error", (how + ": " + _tail(run))[:DETAIL_CHARS])
