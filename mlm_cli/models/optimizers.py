"""AdamW as the BERT recipes use it, fused on torch, with global-norm clipping and a logged gradient norm.

Keras' AdamW on the torch backend updates parameters with about ten separate
`torch._foreach_*` passes over every weight and moment. For a BERT with a 30k-token
embedding that is most of a CPU training step (about 330 ms of 820 ms for bert_small on
2 cores). `FusedAdamW` runs PyTorch's single fused AdamW kernel there (about 15 ms)
while keeping Keras' variables, so checkpoints, schedules and `exclude_from_weight_decay`
work unchanged. On jax it is the same arithmetic in Keras ops, so both backends train alike.
"""

from __future__ import annotations

import keras
from keras import ops

# Names of weights that get no weight decay: biases, LayerNorm scales and offsets (as transformers' Trainer).
NO_WEIGHT_DECAY = ("bias", "gamma", "beta", "output_bias")
DEFAULT_MAX_GRAD_NORM = 1.0  # run_mlm.py's (TrainingArguments.max_grad_norm)
DEFAULT_WEIGHT_DECAY = 0.01

# transformers' clip_grad_norm_ divides by (norm + 1e-6): a norm just at the limit still scales by ~1.
CLIP_NORM_GUARD = 1e-6


class FusedAdamW(keras.optimizers.AdamW):
    """AdamW with PyTorch's epsilon convention, global-norm clipping in float32, fused on torch.

    Differences from `keras.optimizers.AdamW`, all to match PyTorch and transformers (the
    recipe run_mlm.py users know):
    - epsilon is added after the second moment's bias correction (Keras adds it before),
      so `epsilon=1e-8` means what it means in `torch.optim.AdamW`;
    - `global_clipnorm` clips the global L2 norm of all gradients, computed in float32
      after loss-scale unscaling, by max_norm / (norm + 1e-6) when the norm is larger;
    - `gradient_norm` (an optimizer variable, so it lives in checkpoints and works in
      compiled jax steps) holds the global norm of the last step's gradients, before clipping.
    Decoupled weight decay follows `exclude_from_weight_decay` as in Keras. On torch the
    clipping factor and the decay are folded into the fused kernel (it divides each gradient
    as it reads it and decays each weight as it updates it), so neither costs a pass of its own.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, **kwargs)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.gradient_norm = self.add_variable(shape=(), dtype="float32", initializer="zeros", name="gradient_norm")

    def _get_current_learning_rate(self):
        """A schedule's rate at the optimizer step: Keras evaluates it at the count of accumulation calls."""
        if isinstance(self._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            return self._learning_rate(self.iterations)
        return super()._get_current_learning_rate()

    # --- clipping ----------------------------------------------------------------

    def _clip_gradients(self, grads):
        if self.clipnorm or self.clipvalue:
            return super()._clip_gradients(grads)
        norm = global_norm_float32(grads)
        self.gradient_norm.assign(norm)
        scale = self._clip_scale(norm)
        if scale is None or self._fuses_on_torch():  # the fused kernel divides each gradient by 1 / scale
            return grads
        return [g if g is None else g * ops.cast(scale, g.dtype) for g in grads]

    def _clip_scale(self, norm):
        """The factor global-norm clipping multiplies every gradient by, for the norm `norm`; None without clipping."""
        limit = self.global_clipnorm
        if self.clipnorm or self.clipvalue or not limit or limit <= 0:
            return None
        scale = ops.minimum(1.0, limit / (norm + CLIP_NORM_GUARD))
        # A non-finite norm makes every gradient non-finite, so divergence is caught, never hidden.
        return scale + (norm - norm)

    def _apply_weight_decay(self, variables):
        """Keras' decoupled decay, except on the fused torch path, whose kernel decays as it updates."""
        if not self._fuses_on_torch():
            super()._apply_weight_decay(variables)

    def _fuses_on_torch(self) -> bool:
        """Whether the update runs as PyTorch's fused AdamW kernel (clipping and decay folded into it)."""
        if keras.backend.backend() != "torch" or self.amsgrad:
            return False
        import torch

        # inductor refuses the fused kernel's in-place update; it fuses Keras' own
        return not torch.compiler.is_compiling()

    # --- update --------------------------------------------------------------------

    def update_step(self, gradient, variable, learning_rate):
        """One variable's Adam step (jax, and torch when not fused): Keras' form with PyTorch's epsilon."""
        dtype = variable.dtype
        rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        correction_1 = 1 - ops.power(ops.cast(self.beta_1, dtype), step)
        root_correction_2 = ops.sqrt(1 - ops.power(ops.cast(self.beta_2, dtype), step))
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        # rate/c1 * m / (sqrt(v)/sqrt(c2) + eps) == rate*sqrt(c2)/c1 * m / (sqrt(v) + eps*sqrt(c2))
        alpha = rate * root_correction_2 / correction_1
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha),
                                             ops.add(ops.sqrt(v), self.epsilon * root_correction_2)))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not self._fuses_on_torch():
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        if not trainable_variables:
            return
        import torch

        decay = float(self.weight_decay or 0.0)
        params = [variable.value for variable in trainable_variables]
        groups: dict[tuple, list[int]] = {}
        for index, (variable, param) in enumerate(zip(trainable_variables, params)):
            # the fused kernel wants one dtype, device and decay per call
            decays = bool(decay) and self._use_weight_decay(variable)
            groups.setdefault((param.dtype, param.device, decays), []).append(index)
        # Step count and rate stay tensors on the weights' device: on a GPU, reading them as
        # Python floats would wait for the device in the middle of every step.
        # optimizer steps, not accumulation calls (with accumulation, `iterations` is a tensor, not a variable)
        step = torch.as_tensor(ops.convert_to_tensor(self.iterations)).to(torch.float32) + 1
        rate = torch.as_tensor(ops.convert_to_tensor(learning_rate), dtype=torch.float32)
        scale = self._clip_scale(self.gradient_norm.value)  # this step's norm, recorded by _clip_gradients
        divisor = None if scale is None else torch.as_tensor(1.0 / scale, dtype=torch.float32)
        with torch.no_grad():
            for (dtype, device, decays), indices in groups.items():
                variables = [trainable_variables[i] for i in indices]
                steps = [step.to(device)] * len(indices)
                # Decoupled decay (param *= 1 - rate * decay) comes first, as in Keras' AdamW and torch's.
                torch._fused_adamw_(
                    [params[i] for i in indices],
                    [grads[i].to(dtype) for i in indices],
                    [self._momentums[self._get_variable_index(v)].value for v in variables],
                    [self._velocities[self._get_variable_index(v)].value for v in variables],
                    [],
                    steps,
                    lr=rate.to(device),
                    beta1=float(self.beta_1),
                    beta2=float(self.beta_2),
                    weight_decay=decay if decays else 0.0,
                    eps=float(self.epsilon),
                    amsgrad=False,
                    maximize=False,
                    grad_scale=None if divisor is None else divisor.to(device),
                )


def global_norm_float32(grads):
    """L2 norm over every gradient, accumulated in float32 (one fused pass per dtype on torch)."""
    present = [g for g in grads if g is not None]
    if keras.backend.backend() == "torch":
        import torch

        norms = torch._foreach_norm([g if g.dtype == torch.float32 else g.float() for g in present])
        return torch.linalg.vector_norm(torch.stack(norms))
    squares = [ops.sum(ops.square(ops.cast(g, "float32"))) for g in present]
    return ops.sqrt(ops.sum(ops.stack(squares)))


def recipe_optimizer(learning_rate, weight_decay: float = DEFAULT_WEIGHT_DECAY,
                     max_grad_norm: float | None = DEFAULT_MAX_GRAD_NORM, accumulation_steps: int = 1) -> FusedAdamW:
    """The optimizer of mlm's training recipe: AdamW (betas 0.9/0.999, epsilon 1e-8), no decay on biases
    and norms, global-norm clipping. `mlm train` and `MaskedLM.compile()` both use it.

    With `accumulation_steps` N > 1 it is Keras' gradient accumulation: N calls add their
    gradients up, the N-th applies their mean (clipped by its global norm) and counts one step
    in `iterations`, which the learning-rate schedule reads.
    """
    optimizer = FusedAdamW(learning_rate=learning_rate, weight_decay=weight_decay,
                           global_clipnorm=max_grad_norm or None,
                           gradient_accumulation_steps=accumulation_steps if accumulation_steps > 1 else None)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
