"""Keras distributions for mlm's models: data parallel, and model-parallel layouts for every family.

Every family names its weights the same way (`token_embedding/embeddings`,
`self_attention/qkv`, `attention_output`, `intermediate`, `feedforward_output`), so one
table of Megatron-style layouts serves all nine: the embedding table, the fused
query/key/value projection and the first feed-forward projection are split along their
output features, the attention output and second feed-forward projection along their
input features. XLA inserts the collectives; numerics are those of one device.
"""

from __future__ import annotations

import keras

from mlm_cli.distributed.cluster import Cluster

BATCH_AXIS = "batch"
MODEL_AXIS = "model"

# Variable path pattern (matched in full) -> the mesh axis of each dimension.
MODEL_PARALLEL_LAYOUTS: dict[str, tuple[str | None, ...]] = {
    r".*token_embedding/embeddings": (None, MODEL_AXIS),
    r".*self_attention/qkv/kernel": (None, MODEL_AXIS),
    r".*self_attention/qkv/bias": (MODEL_AXIS,),
    r".*self_attention/attention_output/kernel": (MODEL_AXIS, None),
    r".*intermediate/kernel": (None, MODEL_AXIS),
    r".*intermediate/bias": (MODEL_AXIS,),
    r".*feedforward_output/kernel": (MODEL_AXIS, None),
    r".*masked_lm_head/output_kernel": (None, MODEL_AXIS),  # ESM's untied output projection
}


class DivisibleModelParallel(keras.distribution.ModelParallel):
    """`ModelParallel` that replicates a dimension the mesh axis does not divide evenly.

    JAX shards only evenly divisible dimensions; a 30,522-token vocabulary or an odd
    head count would otherwise fail deep inside XLA. Those dimensions stay whole.
    """

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        mesh = self.device_mesh
        axes = list(layout.axes)
        for index, axis in enumerate(axes):
            if axis is not None and variable.shape[index] % mesh.shape[mesh.axis_names.index(axis)]:
                axes[index] = None
        if axes == list(layout.axes):
            return layout
        return keras.distribution.TensorLayout(axes, mesh)


def make_distribution(cluster: Cluster) -> keras.distribution.Distribution:
    """Keras's distribution for `cluster` over every device of every process."""
    devices = keras.distribution.list_devices()
    if cluster.kind == "data":
        mesh = keras.distribution.DeviceMesh((len(devices),), [BATCH_AXIS], devices)
        return keras.distribution.DataParallel(device_mesh=mesh, auto_shard_dataset=False)
    mesh = keras.distribution.DeviceMesh((cluster.replicas, cluster.model_shards), [BATCH_AXIS, MODEL_AXIS], devices)
    layout_map = keras.distribution.LayoutMap(mesh)
    for pattern, axes in MODEL_PARALLEL_LAYOUTS.items():
        layout_map[pattern] = axes
    return DivisibleModelParallel(layout_map=layout_map, batch_dim_name=BATCH_AXIS, auto_shard_dataset=False)
