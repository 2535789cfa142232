"""What the upload clients' failures look like: network exception types, and server messages cut to one line.

kagglehub speaks through requests; huggingface_hub through requests (before 1.0), httpx
(1.x) or httpx2 (2.x). HTTP status errors are not among these: the caller handles those first.
"""

from __future__ import annotations

import functools
import importlib

_TRANSPORT_ERRORS = {
    "requests.exceptions": ("ConnectionError", "Timeout"),
    "httpx": ("TransportError",),
    "httpx2": ("TransportError",),
}


@functools.cache
def network_errors() -> tuple[type[BaseException], ...]:
    """The installed HTTP libraries' connection and timeout errors, plus the socket-level ones."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name, names in _TRANSPORT_ERRORS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found.extend(getattr(module, name) for name in names if isinstance(getattr(module, name, None), type))
    return tuple(found)


def first_line(text: str) -> str:
    """The first non-blank line of a server's message (errors are one line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""
