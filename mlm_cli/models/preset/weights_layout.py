"""What a family's weights module (`mlm_cli/models/<family>/<family>_weights.py`) provides.

The preset loader and saver, and the transformers converters, reach a family's h5 layout
only through these functions; `Family.weights()` hands the module out typed as this Protocol.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

Shapes = dict[str, tuple[int, ...]]
Arrays = dict[str, np.ndarray]


@runtime_checkable
class WeightsLayout(Protocol):
    """Where one family's weights live in keras_hub's `.weights.h5` files, and how they map onto mlm's layers."""

    def backbone_shapes(self, config: dict) -> Shapes:
        """Every backbone dataset keras_hub writes for this backbone config, with its shape."""

    def head_shapes(self, config: dict) -> Shapes:
        """The masked-LM head datasets in keras_hub's task.weights.h5 (none for a weight-free head)."""

    def export_backbone(self, backbone: Any) -> Arrays:
        """The backbone's weights as keras_hub's model.weights.h5 datasets."""

    def import_backbone(self, backbone: Any, arrays: Arrays) -> None:
        """Assign keras_hub-layout arrays (already shape-checked) to the backbone's variables."""

    def export_head(self, head: Any) -> Arrays:
        """The masked-LM head's weights as keras_hub's task.weights.h5 datasets."""

    def import_head(self, head: Any, arrays: Arrays) -> None:
        """Assign keras_hub-layout head arrays to the head's variables."""

    def backbone_group_names(self, config: dict) -> dict[str, str]:
        """keras_hub's `vars` groups (with their layer names) in model.weights.h5, empty ones included."""

    def task_group_names(self) -> dict[str, str]:
        """keras_hub's `vars` groups in task.weights.h5 (head and stateless preprocessor layers)."""
