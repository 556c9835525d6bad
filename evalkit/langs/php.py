"""PHP: ``php prog.php`` (MultiPL-E ``eval_php.py``). The tests throw ``Exception("Test failed!")``.

MultiPL-E looks for "PHP Parse error" on stdout; Debian's ``php`` (``display_errors`` off, ``log_errors`` on)
writes it to stderr and exits 255, so evalkit looks at both streams. MultiPL-E's PHP rule has no timeout (a
program it kills says "Exception"); evalkit says ``timeout``. The interpreter reads its configuration (which
extensions to load) from ``/etc/php``.
"""

from __future__ import annotations

import os
import subprocess

from evalkit.langs import Language, Rules, alternatives
from evalkit.sandbox.spec import Step


def php_config() -> tuple[str, ...]:
    """The folder of php's php.ini and conf.d (``php --ini``), e.g. /etc/php/8.2."""
    try:
        out = subprocess.run(["php", "--ini"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    for line in out.splitlines():
        if line.startswith("Configuration File (php.ini) Path:"):
            path = line.split(":", 1)[1].strip()
            top = os.path.dirname(path)  # /etc/php/8.2/cli -> /etc/php/8.2 (mods-available: conf.d's links)
            return (top,) if os.path.isdir(top) else ()
    return ()


class Php(Language):
    def steps(self, run_cpu_s: float) -> tuple[Step, ...]:
        return (Step(argv=("php", "main.php"), name="run", cpu_s=run_cpu_s, memory_mb=1024, max_processes=16),)

    def sandbox_paths(self) -> tuple[str, ...]:
        return (*alternatives("php"), *php_config())


LANGUAGE = Php(
    key="php", title="PHP", file="main.php",
    programs=(("php", "php-cli"),),
    rules=Rules(compile_markers=(("output", "PHP Parse error"),), fail_markers=(("output", "Test failed!"),)),
    multiple_command="php prog.php",
    differences="'PHP Parse error' looked for on stdout and stderr (Debian's php writes it to stderr); a program "
                "killed at its time limit is a timeout (MultiPL-E: Exception)",
    run_timeout=10.0,
)
