"""azure-functions-logging's redaction, run only on records that can hold a secret.

`afl.RedactionFilter` (0.15.3, `_filters.py`) visits every attribute of every record: it
normalizes each key with a regex to look it up among sensitive names, tries `json.loads` on
the message (an exception for every plain sentence), and runs each secret pattern over the
message and every string value. On an activity's one log line that was a fifth of the
telemetry's cost, for records that almost never hold a secret.

The screen below asks the same questions more cheaply, and hands the record to the package's
filter, unchanged, whenever any answer is "maybe". It never decides what to mask itself:
- a key's sensitivity is the package's own verdict, asked once per key name (a probe record);
- the values' patterns are the same patterns, joined into one regex searched once per value;
- JSON-looking messages, containers and exceptions always go to the package.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import azure_functions_logging as afl

# The attributes every LogRecord has (CPython logging.LogRecord.__init__), which the package
# does not redact either; anything else on a record came from `extra` or a filter. Built
# from LogRecord itself, not through the record factory (which an instrumentation may have
# replaced to add fields the package would still scan), as the package builds its own list
# (azure_functions_logging/_constants.py).
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime"}
# A named group's opening, not preceded by a backslash (an escaped "\(" is a literal).
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
# What refers to a group by number or name, whose numbers move in the joined regex:
# back-references, and conditionals `(?(1)...)`.
_GROUP_REFERENCE = re.compile(r"\\[1-9]|\\g<|\(\?P=|\(\?\(")
_MAX_KEYS = 4096  # verdicts kept; key names are the app's field names, a small set


def screen_of(patterns: Iterable[re.Pattern[str]]) -> re.Pattern[str] | None:
    """One regex that matches wherever any of `patterns` does: the alternation of their
    sources with named groups made plain (names may repeat across patterns, which one regex
    cannot hold). None when a pattern uses what this cannot join (global flags; references
    to groups by number or name, in back-references or conditionals, whose groups move in
    the joined regex; anything the joined source does not compile with): the caller then
    screens nothing."""
    sources = []
    for pattern in patterns:
        if pattern.flags & ~re.UNICODE or _GROUP_REFERENCE.search(pattern.pattern):
            return None
        sources.append(f"(?:{_NAMED_GROUP.sub('(?:', pattern.pattern)})")
    if not sources:
        return None
    try:  # e.g. an inline global flag such as "(?u)", legal only at the very start
        return re.compile("|".join(sources))
    except re.error:
        return None


class ScreenedRedactionFilter(logging.Filter):
    """The package's filter with the same patterns, skipped for records it would not change.
    It holds the package's filter rather than extending it, so neither can shadow the
    other's attributes."""

    def __init__(self, patterns: Iterable[re.Pattern[str]]) -> None:
        super().__init__()
        patterns = tuple(patterns)
        self._redaction = afl.RedactionFilter(patterns=patterns)
        self._screen = screen_of(patterns)
        self._key_verdicts: dict[str, bool] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self._screen is None or self._may_hold_secret(record, self._screen):
            self._redaction.filter(record)
        return True

    def _may_hold_secret(self, record: logging.LogRecord, screen: re.Pattern[str]) -> bool:
        if record.exc_info is not None or record.exc_text is not None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: the package renders (and survives) it its own way
            return True
        if message.lstrip()[:1] in ("{", "[") or screen.search(message):
            return True
        for key, value in record.__dict__.items():
            if key in _STANDARD:
                continue
            if self._is_sensitive(key):
                return True
            if isinstance(value, str):
                if screen.search(value):
                    return True
            elif isinstance(value, (dict, list, tuple)):
                return True
        return False

    def _is_sensitive(self, key: str) -> bool:
        """Whether the package masks `key` whatever its value: asked of the package itself,
        with a probe record, so its key list and normalization stay the only rule."""
        verdict = self._key_verdicts.get(key)
        if verdict is None:
            probe = object()
            record = logging.makeLogRecord({key: probe})
            self._redaction.filter(record)
            verdict = record.__dict__.get(key) is not probe
            if len(self._key_verdicts) < _MAX_KEYS:
                self._key_verdicts[key] = verdict
        return verdict
