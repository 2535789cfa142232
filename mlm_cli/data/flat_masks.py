"""One batch's masked positions as a single flat list, so the masked-LM head sees no empty slots.

The per-row layout gives every row room for far more masks than it draws (38 slots for
about 19 masks at 15% of 128 tokens), and the head's vocabulary projection, the costliest
matmul of a small model's step, runs over every slot. Flattened, a batch of B rows keeps
room for the masks the whole batch expects plus a margin: about 40% fewer slots at
batch 16 x 128. The loss and accuracy are means over the real masks, so they are unchanged.
"""

from __future__ import annotations

import numpy as np

MARGIN_STANDARD_DEVIATIONS = 4


def flat_capacity(batch_size: int, sequence_length: int, selection_rate: float, slots_per_row: int) -> int | None:
    """Slots for one batch's masks (expected count + 4 standard deviations + 2), or None when that saves nothing."""
    expected = selection_rate * batch_size * sequence_length
    capacity = int(expected + MARGIN_STANDARD_DEVIATIONS * expected**0.5 + 2)
    return capacity if capacity < batch_size * slots_per_row else None


def flatten_masks(
    mask_positions: np.ndarray,
    mask_ids: np.ndarray,
    mask_weights: np.ndarray,
    sequence_length: int,
    capacity: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[B, P] per-row masks as [1, capacity] arrays: positions index the batch's B * S tokens (row * S + position).

    Real masks keep their order (row by row); empty slots point at token 0 with weight 0. In
    the rare batch with more masks than `capacity` (beyond 4 standard deviations), the last
    ones are left out of this step's loss.
    """
    rows, slots = np.nonzero(mask_weights > 0)
    kept = min(len(rows), capacity)
    rows, slots = rows[:kept], slots[:kept]
    positions = np.zeros((1, capacity), dtype=np.int32)
    ids = np.zeros((1, capacity), dtype=mask_ids.dtype)
    weights = np.zeros((1, capacity), dtype=mask_weights.dtype)
    positions[0, :kept] = rows * sequence_length + mask_positions[rows, slots]
    ids[0, :kept] = mask_ids[rows, slots]
    weights[0, :kept] = mask_weights[rows, slots]
    return positions, ids, weights
