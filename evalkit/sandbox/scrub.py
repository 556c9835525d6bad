"""Defence in depth for the result files: a sample's ``detail`` never carries a secret of the harness.

Samples get a filtered environment (see ``pool._PASS_ENV``) and a minimal file system, so they should never
read the harness's tokens. Should one leak anyway (the same token in a file the sample can read), the pool
replaces every token-shaped value of a variable that was kept from the sample, whole or cut at the end of the
detail, with ``[redacted]`` before the detail reaches any file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|PASSPHRASE|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH|COOKIE|SESSION",
                          re.IGNORECASE)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-.+/=:~@]+")
_MIN_CUT = 8  # a secret cut at the end of a detail is redacted down to this many characters
_CUT_AT = 200  # the worker cuts a message at 200 characters: only a detail that long can end in a cut secret


def _token_shaped(name: str, value: str) -> bool:
    if not _TOKEN_CHARS.fullmatch(value):  # no spaces, no shell or list syntax
        return False
    if _SECRET_NAME.search(name):
        return len(value) >= 8
    # unnamed: long, mixed letters and digits, and not a path or a list of paths
    return (len(value) >= 16 and not value.startswith(("/", "~", ".")) and ":/" not in value
            and any(c.isdigit() for c in value) and any(c.isalpha() for c in value))


def secrets_of(environ: Mapping[str, str], kept: Iterable[str]) -> tuple[str, ...]:
    """Token-shaped values of the variables of ``environ`` that are not in ``kept``, longest first."""
    keep = set(kept)
    found = {v.strip() for k, v in environ.items() if k not in keep and _token_shaped(k, v.strip())}
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


def scrub(text: str, secrets: Iterable[str]) -> str:
    if not text:
        return text
    for s in secrets:
        if s in text:
            text = text.replace(s, REDACTED)
        if len(text) < _CUT_AT:
            continue
        for cut in range(len(s) - 1, _MIN_CUT - 1, -1):  # the detail was cut in the middle of the secret
            if text.endswith(s[:cut]):
                text = text[: len(text) - cut] + REDACTED
                break
    return text
