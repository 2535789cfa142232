"""The MaskedLM task engine, mirroring `keras_hub.models`.

Names load lazily, so importing this package (or a tokenizer) does not import keras;
the first model class pulled in sets the Keras backend (see mlm_cli.backend).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from mlm_cli.backend import prepare_xla_flags, requested_backend
from mlm_cli.models.preset.registry import FAMILIES, ROLES

if "keras" not in sys.modules:
    # Submodules import keras directly; make sure it starts on the backend mlm picks for
    # this machine rather than keras's own default (TensorFlow) when the user chose none.
    os.environ["KERAS_BACKEND"] = requested_backend()
prepare_xla_flags()  # in time unless jax has already compiled or run something

_EXPORTS = {
    "MaskedLM": "mlm_cli.models.masked_lm",
    "MaskedLMPreprocessor": "mlm_cli.models.masked_lm_preprocessor",
    "Backbone": "mlm_cli.models.backbone",
    "Tokenizer": "mlm_cli.models.tokenizers.base",
}
_KERAS_FREE = {"MaskedLMPreprocessor", "Tokenizer"}
for _family in FAMILIES.values():
    for _role in ROLES:
        _class_name = getattr(_family, _role)
        _EXPORTS[_class_name] = _family.mlm_module(_class_name)
        if _role in ("preprocessor", "tokenizer"):
            _KERAS_FREE.add(_class_name)

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlm_cli.models' has no attribute {name!r}")
    if name not in _KERAS_FREE:
        from mlm_cli.backend import configure_backend

        configure_backend()
    return getattr(importlib.import_module(_EXPORTS[name]), name)
