"""The one exception type for failures a user can act on."""

from __future__ import annotations

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def one_line(text: str) -> str:
    """`text` with control characters escaped: names and values from untrusted files cannot break the line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class MlmError(Exception):
    """A failure with a one-line message, a hint on how to fix it, and an exit code.

    The CLI prints `message` (and `hint`) as one line and exits with `exit_code`;
    library users can catch it like any exception.
    """

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return one_line(f"{self.message} ({self.hint})" if self.hint else self.message)


class BadInputError(MlmError, ValueError):
    """The user gave something unusable: a missing file, a bad flag, a corrupt preset."""

    exit_code = EXIT_USAGE


class PresetError(BadInputError):
    """A preset directory is missing, malformed or hostile."""
