"""A Dense layer whose output columns can carry low-rank adapters (LoRA), block by block.

mlm fuses the query, key and value projections into one [H, 3H] kernel, so "LoRA on query
and value" adapts two column blocks of one layer. Each adapter is a pair of float32 weights
`A` and `B` whose product, scaled by alpha / rank, is added to its block of the kernel:
`A` is [inputs, rank] and `B` [rank, width], or, per attention head as keras_hub's
EinsumDense projections have them, `A` [inputs, heads, rank] and `B` [rank, head width].
`B` starts at zero, so an adapter changes nothing until it trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import ops


@dataclass
class LowRankAdapter:
    """One adapted column block [start, stop) of an AdaptableDense kernel."""

    target: str
    start: int
    stop: int
    rank: int
    alpha: float
    lora_kernel_a: Any  # keras Variable
    lora_kernel_b: Any

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    @property
    def heads(self) -> int | None:
        """Attention heads of a per-head adapter (A is [inputs, heads, rank]); None for a plain one."""
        shape = tuple(self.lora_kernel_a.shape)
        return shape[1] if len(shape) == 3 else None

    def delta(self):
        """scale x A.B as a [inputs, stop - start] tensor."""
        product = ops.matmul(self.lora_kernel_a, self.lora_kernel_b)  # [in, r] @ [r, w] or [in, n, r] @ [r, d]
        return self.scale * ops.reshape(product, (self.lora_kernel_a.shape[0], self.stop - self.start))

    def side_output(self, inputs):
        """scale x (inputs . A) . B for [..., inputs] `inputs`: the adapter's share of the block's output."""
        a, b = self.lora_kernel_a, self.lora_kernel_b
        lead = tuple(ops.shape(inputs)[:-1])
        if self.heads is None:
            low = ops.matmul(inputs, ops.cast(a, inputs.dtype))
            return self.scale * ops.matmul(low, ops.cast(b, inputs.dtype))
        rank = b.shape[0]
        low = ops.matmul(inputs, ops.cast(ops.reshape(a, (a.shape[0], self.heads * rank)), inputs.dtype))
        low = ops.reshape(low, lead + (self.heads, rank))
        out = ops.matmul(low, ops.cast(b, inputs.dtype))  # [..., heads, head width]
        return self.scale * ops.reshape(out, lead + (self.stop - self.start,))


class AdaptableDense(keras.layers.Dense):
    """`keras.layers.Dense` that can add LoRA adapters to blocks of its output columns (`add_adapter`).

    Without adapters it is a plain Dense layer (same variables, same output). With them, the
    kernel and bias stay as they are, and `call` adds each adapter's low-rank side path to its
    columns, so training reaches only the adapters; `effective_kernel` is the kernel the layer
    computes with, and `merge_adapters` folds the adapters into the kernel.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.adapters: list[LowRankAdapter] = []

    def add_adapter(self, target: str, start: int, stop: int, rank: int, alpha: float,
                    heads: int | None = None) -> LowRankAdapter:
        """A new adapter on columns [start, stop) (per head when `heads` is given); returns it."""
        if not self.built:
            raise ValueError(f"{self.name}: build the layer before adding adapters")
        if any(start < other.stop and other.start < stop for other in self.adapters):
            raise ValueError(f"{self.name}: columns {start}-{stop} already carry an adapter")
        inputs, width = self.kernel.shape[0], stop - start
        a_shape = (inputs, rank) if heads is None else (inputs, heads, rank)
        b_shape = (rank, width) if heads is None else (rank, width // heads)
        self._tracker.unlock()
        try:
            # float32 whatever the compute dtype, as Keras' own LoRA weights: small updates must not underflow.
            a = self.add_weight(name=f"{target}_lora_kernel_a", shape=a_shape, initializer="he_uniform",
                                dtype="float32")
            b = self.add_weight(name=f"{target}_lora_kernel_b", shape=b_shape, initializer="zeros", dtype="float32")
        finally:
            self._tracker.lock()
        adapter = LowRankAdapter(target, start, stop, int(rank), float(alpha), a, b)
        self.adapters = sorted([*self.adapters, adapter], key=lambda item: item.start)
        return adapter

    def _column_blocks(self, pieces: dict[int, Any], rows: tuple, dtype) -> Any:
        """The adapters' pieces laid side by side over every column, zeros between them."""
        parts, column = [], 0
        for adapter in self.adapters:
            if adapter.start > column:
                parts.append(ops.zeros(rows + (adapter.start - column,), dtype=dtype))
            parts.append(pieces[id(adapter)])
            column = adapter.stop
        if column < self.units:
            parts.append(ops.zeros(rows + (self.units - column,), dtype=dtype))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def adapter_delta(self):
        """The adapters' total change to the kernel, a float32 [inputs, units] tensor."""
        pieces = {id(adapter): ops.cast(adapter.delta(), "float32") for adapter in self.adapters}
        return self._column_blocks(pieces, (self.kernel.shape[0],), "float32")

    def effective_kernel(self):
        """The kernel this layer computes with: its own plus the adapters' change."""
        if not self.adapters:
            return self.kernel
        kernel = self.kernel
        return kernel + ops.cast(self.adapter_delta(), kernel.dtype)

    def call(self, inputs, training=None):
        if not self.adapters:
            return super().call(inputs, training=training)
        x = ops.matmul(inputs, self.kernel)
        pieces = {id(adapter): adapter.side_output(inputs) for adapter in self.adapters}
        x = x + self._column_blocks(pieces, tuple(ops.shape(inputs)[:-1]), x.dtype)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def merge_adapters(self) -> None:
        """Fold every adapter into the kernel and zero its `B`: same outputs, the change now in the kernel."""
        if not self.adapters:
            return
        merged = ops.convert_to_numpy(self.kernel) + ops.convert_to_numpy(self.adapter_delta())
        self.kernel.assign(merged.astype(ops.convert_to_numpy(self.kernel).dtype))
        for adapter in self.adapters:
            adapter.lora_kernel_b.assign(ops.zeros(adapter.lora_kernel_b.shape, "float32"))
