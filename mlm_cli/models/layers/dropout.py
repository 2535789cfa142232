"""Dropout whose random mask is cheap on the torch backend.

`torch.bernoulli_` draws a float per element; on CPU that is about 5 ms for a
16 x 128 x 512 activation, and a bert_small step drops out a dozen such tensors (about
80 ms of a 550 ms step). Here each 64-bit random draw (torch's full-range `random_`)
is split into four uniform 16-bit lanes, and each lane compared with a threshold gives
the Bernoulli(1 - rate) mask (rate resolved to 1/65536): measured 3.7x cheaper than one
16-bit draw per element, and 10x cheaper than bernoulli. Other backends use Keras' dropout.
"""

from __future__ import annotations

import keras

MASK_RESOLUTION = 65536  # each int16 lane is uniform over [-32768, 32767]
INT64_MIN = -(2**63)
INT16_MIN = -(2**15)


def dropout(x, rate: float, seed_generator=None):
    """Training-time inverted dropout of `x` at `rate`."""
    if rate <= 0:
        return x
    if keras.backend.backend() != "torch":
        return keras.random.dropout(x, rate, seed=seed_generator)
    import torch

    count = x.numel()
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=x.device).random_(INT64_MIN,
                                                                                      None)  # all 64 bits random
    lanes = words.view(torch.int16)[:count].view(x.shape)
    keep = lanes >= INT16_MIN + round(rate * MASK_RESOLUTION)
    return torch.where(keep, x * (1.0 / (1.0 - rate)), torch.zeros((), dtype=x.dtype, device=x.device))


class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with the fast torch mask."""

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            return dropout(inputs, self.rate, self.seed_generator)
        return inputs
