"""Embedding layers: a token embedding that doubles as the output projection, and learned positions."""

from __future__ import annotations

import keras
from keras import ops


class TokenEmbedding(keras.layers.Layer):
    """Token embedding whose matrix is also used, transposed, to project hidden states to logits."""

    def __init__(self, vocabulary_size: int, hidden_dim: int, initializer="uniform", **kwargs):
        # No variable autocasting in `call`: under mixed precision, gather the float32 rows and
        # cast only those, instead of casting the whole [V, H] table (and its gradient) every step.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.hidden_dim = int(hidden_dim)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.vocabulary_size, self.hidden_dim),
            initializer=self.initializer,
        )
        if keras.backend.backend() == "torch":
            # Lookups give sparse gradients (see `call`); whatever reaches the optimizer is dense.
            self.embeddings.value.register_post_accumulate_grad_hook(self._complete_gradient)
        self.built = True

    def call(self, token_ids):
        if keras.backend.backend() == "torch":
            # A sparse gradient touches only the looked-up rows; a dense one zero-fills the whole
            # [V, H] table and adds it to the projection's gradient every step (about 4% of a
            # bert_small step on CPU). The projection's dense gradient absorbs it in place.
            import torch

            rows = torch.nn.functional.embedding(ops.convert_to_tensor(token_ids).long(), self.embeddings.value,
                                                 sparse=True)
            return ops.cast(rows, self.compute_dtype)
        return ops.cast(ops.take(self.embeddings, token_ids, axis=0), self.compute_dtype)

    def project(self, hidden):
        """Logits over the vocabulary: hidden [..., H] times the transposed embedding."""
        if keras.backend.backend() == "torch":
            return self._torch_project(hidden)
        table = ops.cast(self.embeddings, hidden.dtype)
        return ops.matmul(hidden, ops.transpose(table))

    def _torch_project(self, hidden):
        """The projection through a detached copy of the table, whose gradient the lookup's completes.

        Autograd would sum the projection's dense [V, H] gradient (cast back to float32) and the
        lookup's sparse one into a third table before accumulating it; here the projection's
        copy is a leaf of its own, and `_complete_gradient` adds it to the lookup's gradient
        in place (the lookup runs first in the forward pass, so its gradient arrives last).
        """
        import torch

        parameter = self.embeddings.value
        table = parameter.detach().to(hidden.dtype)
        if torch.is_grad_enabled() and parameter.requires_grad:
            table.requires_grad_(True)
            object.__setattr__(self, "_projection_table", table)  # a step's scratch, not a tracked weight
        return torch.matmul(hidden, table.T)

    def _complete_gradient(self, parameter) -> None:
        """Make the accumulated table gradient dense and add the projection's part (torch)."""
        table = self.__dict__.pop("_projection_table", None)
        projection = None if table is None else table.grad
        gradient = parameter.grad
        if gradient.is_sparse:
            parameter.grad = gradient.to_dense() if projection is None else projection.to(gradient.dtype).add_(gradient)
        elif projection is not None:
            gradient.add_(projection)


class PositionEmbedding(keras.layers.Layer):
    """Learned absolute position embeddings for the first `sequence_length` positions."""

    def __init__(self, sequence_length: int, hidden_dim: int, initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.hidden_dim = int(hidden_dim)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, self.hidden_dim),
            initializer=self.initializer,
        )
        self.built = True

    def call(self, inputs):
        """Position embeddings [1, S, H] for inputs shaped [B, S, ...]."""
        length = ops.shape(inputs)[1]
        table = ops.cast(self.embeddings, self.compute_dtype)
        return ops.expand_dims(table[:length], 0)
