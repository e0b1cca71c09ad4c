"""User-supplied regular expressions, compiled with RE2 so they run in linear time."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


class RegexError(ValueError):
    pass


@lru_cache(maxsize=1024)
def compile_user_regex(pattern: str) -> Pattern:
    """Compile `pattern` with RE2 (no backtracking); RegexError names what is wrong."""
    import re2  # on first use: most runs configure no regular expression

    options = re2.Options()
    options.log_errors = False  # the error goes into our message, not to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        raise RegexError(f"invalid regular expression {pattern!r}: {reason}") from None
