"""The masked-LM loss: cross-entropy over the vocabulary at each masked position."""

from __future__ import annotations

import keras
from keras import ops


class MaskedTokenCrossEntropy(keras.losses.Loss):
    """Sparse categorical cross-entropy from logits [B, P, V], computed along the last axis.

    Same values as `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`, but as
    logsumexp minus the target logit on contiguous rows: Keras' version on the torch backend
    moves the vocabulary axis to dimension 1 and runs log-softmax over a strided
    [B, V, P] view, which costs about a third of a bert_small CPU training step. On torch
    the gradient is fused as well (`_torch_cross_entropy`).
    """

    def __init__(self, reduction="mean_with_sample_weight", name="masked_token_cross_entropy", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        if keras.backend.backend() == "torch":
            return _torch_cross_entropy(logits, ops.convert_to_tensor(y_true))
        labels = ops.expand_dims(ops.cast(y_true, "int32"), -1)
        target = ops.squeeze(ops.take_along_axis(logits, labels, axis=-1), -1)
        return ops.logsumexp(logits, axis=-1) - target


def _torch_cross_entropy(logits, labels):
    """Per-position cross-entropy [B, P] from float32 logits [B, P, V] in three passes over them.

    Autograd through logsumexp and a gather makes about ten passes over the [B, P, V]
    logits (max, subtract, exp, sum forward; exp, multiply, a zero-filled scatter buffer and
    an add backward). Here the forward pass is one fused log-softmax, whose output the
    backward pass turns into softmax * g in place in two more, then corrects the targets in place;
    it needs no host sync, whatever the sign of g.
    """
    import torch

    class CrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, rows, targets):
            log_probs = torch.log_softmax(rows, dim=-1)
            ctx.save_for_backward(log_probs, targets)
            return -log_probs.gather(-1, targets[:, None]).squeeze(-1)

        @staticmethod
        def backward(ctx, grad):
            log_probs, targets = ctx.saved_tensors
            # In place: the saved log-probabilities are not needed again (a second backward pass
            # through this graph fails autograd's version check instead of reading them).
            gradient = log_probs.exp_().mul_(grad[:, None])
            gradient.scatter_add_(-1, targets[:, None], -grad[:, None])
            return gradient, None

    shape = logits.shape
    losses = CrossEntropy.apply(logits.reshape(-1, shape[-1]), labels.reshape(-1).long())
    return losses.reshape(shape[:-1])
