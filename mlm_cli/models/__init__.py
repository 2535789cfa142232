"""The MaskedLM task engine, mirroring `keras_hub.models`.

Names load lazily, so importing this package (or a tokenizer) does not import keras;
the first model class pulled in sets the Keras backend (see mlm_cli.backend).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from mlm_cli.backend import DEFAULT_BACKEND

if "keras" not in sys.modules:
    # Submodules import keras directly; make sure it starts on mlm's default backend
    # rather than keras's own (TensorFlow) when the user has not chosen one.
    os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)

_EXPORTS = {
    "MaskedLM": "mlm_cli.models.masked_lm",
    "MaskedLMPreprocessor": "mlm_cli.models.masked_lm_preprocessor",
    "Backbone": "mlm_cli.models.backbone",
    "BertBackbone": "mlm_cli.models.bert.bert_backbone",
    "BertTokenizer": "mlm_cli.models.bert.bert_tokenizer",
    "BertMaskedLMPreprocessor": "mlm_cli.models.bert.bert_masked_lm_preprocessor",
    "BertMaskedLM": "mlm_cli.models.bert.bert_masked_lm",
}
_KERAS_FREE = {"MaskedLMPreprocessor", "BertTokenizer", "BertMaskedLMPreprocessor"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlm_cli.models' has no attribute {name!r}")
    if name not in _KERAS_FREE:
        from mlm_cli.backend import configure_backend

        configure_backend()
    return getattr(importlib.import_module(_EXPORTS[name]), name)
