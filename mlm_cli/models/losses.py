"""The masked-LM loss: cross-entropy over the vocabulary at each masked position."""

from __future__ import annotations

import keras
from keras import ops


class MaskedTokenCrossEntropy(keras.losses.Loss):
    """Sparse categorical cross-entropy from logits [B, P, V], computed along the last axis.

    Same values as `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`, but as
    logsumexp minus the target logit on contiguous rows: Keras' version on the torch backend
    moves the vocabulary axis to dimension 1 and runs log-softmax over a strided
    [B, V, P] view, which costs about a third of a bert_small CPU training step.
    """

    def __init__(self, reduction="mean_with_sample_weight", name="masked_token_cross_entropy", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        labels = ops.expand_dims(ops.cast(y_true, "int32"), -1)
        target = ops.squeeze(ops.take_along_axis(logits, labels, axis=-1), -1)
        return ops.logsumexp(logits, axis=-1) - target
