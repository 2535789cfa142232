"""The MaskedLM task: a backbone plus a masked-LM head, with keras_hub's public API."""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np

from mlm_cli.models.layers.masked_lm_head import MaskedLMHead
from mlm_cli.models.naming import snake_case
from mlm_cli.models.preset.catalog import PresetCatalog

FRESH_HEAD_STDDEV = 0.02  # transformers' initializer_range for every family mlm converts


class MaskedLM(keras.Model):
    """Base class of masked-language-model tasks.

    `MaskedLM.from_preset(dir)` builds whichever family the preset names;
    `compile()` has task defaults; `fit` / `evaluate` / `predict` take raw strings
    when a preprocessor is attached and preprocessed batches otherwise.

    A task is a backbone plus a masked-LM head whose output projection is tied to the
    backbone's token embedding (ESM's head has its own). Called on a preprocessed batch
    (`token_ids`, `padding_mask`, `mask_positions`, ...) it returns logits at the masked
    positions only: [B, P, vocabulary_size], P being the preprocessor's
    `mask_selection_length`. The backbone's `pooler`, if it has one, is frozen, since the
    masked-LM loss never reaches it. Each family subclasses this class (`BertMaskedLM`,
    `RobertaMaskedLM`, ...) with its backbone, preprocessor and head.

    Args:
        backbone: the family's `Backbone` (e.g. a `BertBackbone` for `BertMaskedLM`). The
            task takes the backbone's dtype policy; its token embedding is shared with
            the head (except in ESM).
        preprocessor: the family's `MaskedLMPreprocessor`, or None (the default). With one,
            `fit`, `evaluate` and `predict` accept strings (or tuples of string lists, one
            per segment), tokenized and masked batch by batch (`batch_size` defaults to 32);
            without one they take `(x, y, sample_weight)` batches as the preprocessor
            returns them.
        name: the Keras model name; default the class name in snake case
            (`bert_masked_lm`, ...), as keras_hub names it.
        compile: whether `fit` and `evaluate` compile the task with `compile()`'s defaults
            when it has not been compiled (default True: keras_hub's tasks are compiled on
            construction, so its examples call `fit` straight away).
        **kwargs: passed to `keras.Model`; `trainable` and `dtype` (keys of keras_hub's
            config) are accepted and ignored: the dtype is always the backbone's.

    Examples:

    Build a tiny BERT from scratch, then train it on raw strings:

    >>> from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> tokenizer = BertTokenizer(vocabulary=vocabulary, lowercase=True)
    >>> preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
    ...                         hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> masked_lm = BertMaskedLM(backbone, preprocessor=preprocessor)
    >>> masked_lm.compile()  # AdamW 5e-5, masked-token cross-entropy, weighted accuracy
    >>> texts = ["The quick brown fox jumps over the lazy dog.", "A cat sat on the mat."]
    >>> history = masked_lm.fit(texts, batch_size=2, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['loss', 'sparse_categorical_accuracy']

    Call the model on a preprocessed batch: logits at the masked positions only.

    >>> x, y, sample_weight = preprocessor(texts)
    >>> tuple(masked_lm(x).shape)  # [batch, mask_selection_length, vocabulary_size]
    (2, 2, 20)

    Save it as a keras_hub-format preset directory and load it back; the base class reads
    the family from the preset. `from_preset` accepts overrides of the backbone's `dropout`
    and `dtype` and of the preprocessor's arguments (`sequence_length`, the masking rates,
    `seed`, ...):

    >>> from mlm_cli.models import MaskedLM
    >>> masked_lm.save_to_preset("my_bert")
    >>> restored = MaskedLM.from_preset("my_bert", sequence_length=8)
    >>> type(restored).__name__, restored.preprocessor.sequence_length
    ('BertMaskedLM', 8)

    A preset by name, or a transformers checkpoint directory, loads the same way (these
    download or read files, so they are not run here):

        masked_lm = MaskedLM.from_preset("bert_tiny_en_uncased")
        masked_lm = BertMaskedLM.from_preset("path/to/bert-base-uncased", dropout=0.0)
    """

    presets = PresetCatalog()

    backbone_cls: type | None = None
    preprocessor_cls: type | None = None
    head_activation: Any = "gelu"
    head_layer_norm_epsilon: float = 1e-5
    default_learning_rate: float = 5e-5

    def __init__(self, backbone, preprocessor=None, name: str | None = None, compile: bool = True, **kwargs):
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        super().__init__(name=name or self.default_name(), dtype=backbone.dtype_policy, **kwargs)
        self.backbone = backbone
        # The masked-LM loss never reaches the [CLS] pooler: freeze it instead of
        # carrying optimizer slots (and a Keras warning) for weights without gradients.
        pooler = getattr(backbone, "pooler", None)
        if pooler is not None:
            pooler.trainable = False
        self.masked_lm_head = self.make_head(backbone)
        self.masked_lm_head.build()
        self.preprocessor = preprocessor
        self.compile_on_first_use = bool(compile)
        self.built = True

    @classmethod
    def default_name(cls) -> str:
        return snake_case(cls.__name__)

    def make_head(self, backbone) -> MaskedLMHead:
        """The head; families override the activation, epsilon or initialiser."""
        return MaskedLMHead(
            backbone.token_embedding,
            activation=self.head_activation,
            layer_norm_epsilon=getattr(backbone, "head_layer_norm_epsilon", self.head_layer_norm_epsilon),
            kernel_initializer=self.head_initializer(),
            dtype=backbone.dtype_policy,
            name="masked_lm_head",
        )

    def head_initializer(self):
        """Kernel initialiser of a fresh head (a checkpoint without one, or a model from scratch).

        normal(0.02), as transformers initialises a missing head: over paired draws it starts
        lower on held-out text than the truncated normal keras_hub uses (README, "Training
        recipe"), and at short fine-tuning horizons the start carries through to the end.
        """
        return keras.initializers.RandomNormal(stddev=FRESH_HEAD_STDDEV)

    def call(self, inputs, training=None):
        outputs = self.backbone(inputs, training=training)
        return self.masked_lm_head(outputs["sequence_output"], inputs["mask_positions"])

    # --- training API -----------------------------------------------------------

    def compile(self, optimizer="auto", loss="auto", *, weighted_metrics="auto", **kwargs):
        """Keras compile with task defaults for every argument left at "auto".

        Defaults, the same as `mlm train`'s (same fused kernels): AdamW at 5e-5 with weight
        decay 0.01 (not on biases and norms) and the global gradient norm clipped at 1.0;
        cross-entropy from logits, averaged over the real masked positions (padded selections
        have weight 0); weighted sparse categorical accuracy.
        """
        from mlm_cli.allocator import keep_freed_memory

        keep_freed_memory()  # reuse freed step buffers instead of page-faulting them back (see allocator.py)
        if optimizer == "auto":
            from mlm_cli.models.optimizers import recipe_optimizer

            optimizer = recipe_optimizer(self.default_learning_rate)
        if loss == "auto":
            from mlm_cli.models.losses import MaskedTokenCrossEntropy

            loss = MaskedTokenCrossEntropy()
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs)

    def _compile_if_needed(self) -> None:
        """Compile with the task defaults before the first fit or evaluation, unless compiled already.

        keras_hub compiles its tasks in the constructor; mlm waits for first use, so that building a model
        (to export or convert it) never sets up training.
        """
        if self.compile_on_first_use and not self.compiled:
            self.compile()

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        self._compile_if_needed()
        if self._is_text(x):
            # One device (no keras.distribution sharding the batch's rows): the flat mask layout of `mlm train`.
            x = self._text_batches(x, batch_size or 32, shuffle=kwargs.pop("shuffle", True),
                                   flat_masks=keras.distribution.distribution() is None)
            batch_size = None
        validation = kwargs.get("validation_data")
        if self._is_text(validation):
            kwargs["validation_data"] = self._text_batches(validation,
                kwargs.get("validation_batch_size") or batch_size or 32, shuffle=False)
            kwargs.pop("validation_batch_size", None)
        return super().fit(x=x, y=_list_as_array(y), batch_size=batch_size, **_weights_as_array(kwargs))

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        self._compile_if_needed()
        if self._is_text(x):
            x = self._text_batches(x, batch_size or 32, shuffle=False)
            batch_size = None
        return super().evaluate(x=x, y=_list_as_array(y), batch_size=batch_size, **_weights_as_array(kwargs))

    def predict(self, x, batch_size=None, **kwargs):
        if self._is_text(x):
            x = self._text_batches(x, batch_size or 32, shuffle=False, features_only=True)
            batch_size = None
        return super().predict(x, batch_size=batch_size, **kwargs)

    def _is_text(self, x) -> bool:
        if self.preprocessor is None or x is None:
            return False
        if isinstance(x, str):
            return True
        if isinstance(x, tuple) and x and all(_is_string_list(part) for part in x):
            return True
        return _is_string_list(x)

    def _text_batches(self, texts, batch_size: int, shuffle: bool, features_only: bool = False,
                      flat_masks: bool = False):
        from mlm_cli.models.text_dataset import TextBatches

        if isinstance(texts, str):
            texts = [texts]
        return TextBatches(texts, self.preprocessor, batch_size, shuffle=shuffle, features_only=features_only,
                           flat_masks=flat_masks)

    # --- presets ----------------------------------------------------------------

    @classmethod
    def from_preset(cls, preset: str | os.PathLike, load_weights: bool = True, **kwargs) -> "MaskedLM":
        """Build the task a preset describes (any family on the base class); kwargs override config values.

        kwargs: the backbone's `dropout` and `dtype`, the preprocessor's settings (`sequence_length`, the masking
        rates, `seed`, ...), or `preprocessor=` to use instead of the preset's (None: a task without one).
        """
        from mlm_cli.models.preset.loader import load_masked_lm

        return load_masked_lm(preset, cls, load_weights=load_weights, **kwargs)

    def save_to_preset(self, preset_dir: str | os.PathLike, overwrite: bool = False) -> None:
        """Write this task as a keras_hub-format preset directory, atomically."""
        from mlm_cli.models.preset.saver import save_masked_lm

        save_masked_lm(self, preset_dir, overwrite=overwrite)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


def _list_as_array(value):
    """Nested lists of numbers (labels or sample weights) as one numpy array, which Keras takes (keras_hub accepts
    lists, through tf.data); anything else as it is."""
    return np.asarray(value) if isinstance(value, list) else value


def _weights_as_array(kwargs: dict) -> dict:
    """`fit` / `evaluate` keyword arguments with a list `sample_weight` made an array."""
    if "sample_weight" in kwargs:
        kwargs["sample_weight"] = _list_as_array(kwargs["sample_weight"])
    return kwargs


def _is_string_list(x) -> bool:
    if isinstance(x, (list, tuple)):
        return bool(x) and all(isinstance(item, (str, bytes)) for item in x)
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "USO" and x.size > 0 and isinstance(x.reshape(-1)[0], (str, bytes, np.str_, np.bytes_))
    return False
