"""Feed raw strings through a preprocessor to Keras's fit/evaluate/predict, batch by batch."""

from __future__ import annotations

import math

import keras
import numpy as np


class TextBatches(keras.utils.PyDataset):
    """A Keras PyDataset of preprocessed batches made from a list of strings (or segment tuples)."""

    def __init__(self, texts, preprocessor, batch_size: int, shuffle: bool = True, features_only: bool = False,
                 seed: int | None = None, flat_masks: bool = False):
        """`flat_masks`: each batch's masks as one flat list (mlm_cli/data/flat_masks.py), for training steps."""
        super().__init__()
        if isinstance(texts, tuple):
            self.segments = [np.asarray(part, dtype=object) for part in texts]
        else:
            self.segments = [np.asarray(texts, dtype=object).reshape(-1)]
        self.preprocessor = preprocessor
        self.batch_size = int(batch_size)
        self.features_only = features_only
        self.flat_masks = flat_masks and not features_only
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed if seed is not None else preprocessor.seed)
        self._order = np.arange(len(self.segments[0]))
        if shuffle:
            self._rng.shuffle(self._order)

    def __len__(self) -> int:
        return math.ceil(len(self._order) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        parts = [segment[rows].tolist() for segment in self.segments]
        batch = self.preprocessor(tuple(parts) if len(parts) > 1 else parts[0])
        if self.features_only:
            return (batch[0],)
        return self._flattened(batch) if self.flat_masks else batch

    def _flattened(self, batch):
        from mlm_cli.data.flat_masks import flat_capacity, flatten_masks

        x, mask_ids, mask_weights = batch
        positions = np.asarray(x["mask_positions"])
        rows, length = np.shape(x["token_ids"])
        capacity = flat_capacity(rows, length, self.preprocessor.mask_selection_rate, positions.shape[1])
        if capacity is None:
            return batch
        x = dict(x)
        x["mask_positions"], mask_ids, mask_weights = flatten_masks(
            positions, np.asarray(mask_ids), np.asarray(mask_weights), length, capacity
        )
        return x, mask_ids, mask_weights

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._rng.shuffle(self._order)
