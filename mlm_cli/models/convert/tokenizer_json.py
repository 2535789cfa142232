"""Facts read from a transformers tokenizer.json that more than one family needs."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from mlm_cli.errors import PresetError


def precompiled_charsmap(data: dict[str, Any], source: str) -> bytes:
    """The SentencePiece normalisation table of a tokenizer.json's `Precompiled` normalizer; b"" when it has none."""
    steps = data.get("normalizer") or {}
    steps = steps.get("normalizers", [steps]) if isinstance(steps, dict) else []
    charsmap = next((step.get("precompiled_charsmap") for step in steps if isinstance(step, dict) and step.get(
        "type") == "Precompiled"), None) or ""
    try:
        return base64.b64decode(charsmap, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise PresetError(f"{source}: malformed precompiled_charsmap") from None
