"""Optimizers tuned for the backends mlm runs on.

Keras' AdamW on the torch backend updates parameters with about ten separate
`torch._foreach_*` passes over every weight and moment. For a BERT with a 30k-token
embedding that is most of a CPU training step (about 330 ms of 820 ms for bert_small on
2 cores). `FusedAdamW` runs the same update as PyTorch's single fused AdamW kernel
(about 15 ms) while keeping Keras' variables, so checkpoints, schedules and
`exclude_from_weight_decay` work unchanged. On other backends it is Keras' AdamW.
"""

from __future__ import annotations

import keras


class FusedAdamW(keras.optimizers.AdamW):
    """Keras AdamW with a fused update step on the torch backend, numerically Keras' AdamW.

    PyTorch adds epsilon after the bias correction of the second moment, Keras before it;
    passing epsilon / sqrt(1 - beta_2^t) to the kernel gives exactly Keras' update.
    Decoupled weight decay stays Keras' own step, so `exclude_from_weight_decay` works.
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if keras.backend.backend() != "torch" or self.amsgrad or not trainable_variables:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import torch

        params = [variable.value for variable in trainable_variables]
        groups: dict[tuple, list[int]] = {}
        for index, param in enumerate(params):  # the fused kernel wants one dtype and device per call
            groups.setdefault((param.dtype, param.device), []).append(index)
        step = float(self.iterations.numpy()) + 1.0
        rate = float(learning_rate.numpy() if hasattr(learning_rate, "numpy") else learning_rate)
        epsilon = float(self.epsilon) / (1.0 - float(self.beta_2) ** step) ** 0.5
        with torch.no_grad():
            for (dtype, device), indices in groups.items():
                variables = [trainable_variables[i] for i in indices]
                steps = [torch.tensor(step, dtype=torch.float32, device=device)] * len(indices)
                torch._fused_adamw_(
                    [params[i] for i in indices],
                    [grads[i].to(dtype) for i in indices],
                    [self._momentums[self._get_variable_index(v)].value for v in variables],
                    [self._velocities[self._get_variable_index(v)].value for v in variables],
                    [],
                    steps,
                    lr=rate,
                    beta1=float(self.beta_1),
                    beta2=float(self.beta_2),
                    weight_decay=0.0,
                    eps=epsilon,
                    amsgrad=False,
                    maximize=False,
                )
