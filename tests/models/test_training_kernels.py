"""The fast training pieces give the same numbers as the Keras originals they replace."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mlm_cli.models import BertBackbone, BertMaskedLM
from mlm_cli.models.layers.dropout import dropout
from mlm_cli.models.optimizers import FusedAdamW
from mlm_cli.seeding import set_seed

BETA_1, BETA_2 = 0.9, 0.999


def reference_adamw(params, grad_steps, *, rate, decay, epsilon, max_norm, decayed):
    """PyTorch's AdamW with clip_grad_norm_, in numpy float64: the recipe transformers' Trainer runs."""
    params = [p.astype("float64") for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    norms = []
    for t, grads in enumerate(grad_steps, start=1):
        norm = float(np.sqrt(sum(float((g.astype("float64") ** 2).sum()) for g in grads)))
        norms.append(norm)
        coefficient = min(1.0, max_norm / (norm + 1e-6)) if max_norm else 1.0
        for i, g in enumerate(grads):
            g = g.astype("float64") * coefficient
            if decayed[i]:
                params[i] *= 1 - rate * decay
            m[i] = BETA_1 * m[i] + (1 - BETA_1) * g
            v[i] = BETA_2 * v[i] + (1 - BETA_2) * g * g
            denominator = np.sqrt(v[i]) / np.sqrt(1 - BETA_2**t) + epsilon
            params[i] -= rate / (1 - BETA_1**t) * m[i] / denominator
    return params, norms


@pytest.mark.parametrize("max_norm", [0.0, 0.5, 100.0])
def test_fused_adamw_is_pytorch_adamw_with_global_norm_clipping(max_norm):
    """Epsilon after bias correction (1e-3 here, large enough to tell the conventions apart), decay skipping
    biases, clipping of the global norm by max/(norm+1e-6), and the recorded pre-clip norm, on either backend."""
    rng = np.random.default_rng(0)
    shapes = {"kernel": (6, 5), "bias": (5,), "embeddings": (7, 3)}
    initial = {name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()}
    grad_steps = [[rng.normal(scale=0.3, size=shape).astype("float32") for shape in shapes.values()] for _ in range(5)]
    variables = [keras.Variable(initial[name], name=name) for name in shapes]
    optimizer = FusedAdamW(learning_rate=0.05, weight_decay=0.1, epsilon=1e-3, global_clipnorm=max_norm or None)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    optimizer.build(variables)
    recorded = []
    for grads in grad_steps:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
        recorded.append(float(keras.ops.convert_to_numpy(optimizer.gradient_norm.value)))
    expected, norms = reference_adamw(list(initial.values()), grad_steps, rate=0.05, decay=0.1, epsilon=1e-3,
                                      max_norm=max_norm, decayed=[True, False, True])
    assert recorded == pytest.approx(norms, rel=1e-5)
    for variable, want in zip(variables, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable.value), want, rtol=2e-5, atol=2e-6)
    if max_norm == 0.5:
        assert min(norms) > 0.5  # the clipped case really clipped every step


def test_clipping_a_non_finite_gradient_makes_the_update_non_finite():
    """A NaN norm must not be hidden by clipping: the loop's divergence check needs to see it."""
    variable = keras.Variable(np.ones(3, "float32"), name="kernel")
    optimizer = FusedAdamW(learning_rate=0.1, weight_decay=0.0, global_clipnorm=1.0)
    optimizer.build([variable])
    optimizer.apply([keras.ops.convert_to_tensor(np.array([1.0, np.inf, 0.0], "float32"))], [variable])
    assert not np.isfinite(keras.ops.convert_to_numpy(variable.value)).all()


def train(optimizer, steps: int = 6):
    set_seed(0)
    backbone = BertBackbone(vocabulary_size=300, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
                            dropout=0.0)
    model = BertMaskedLM(backbone)
    model.compile(optimizer=optimizer)
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(5, 300, (4, 12)).astype("int32"),
        "segment_ids": np.zeros((4, 12), "int32"),
        "padding_mask": np.ones((4, 12), bool),
        "mask_positions": np.tile(np.array([1, 4, 7], "int32"), (4, 1)),
    }
    y, w = rng.integers(5, 300, (4, 3)).astype("int32"), np.ones((4, 3), "float32")
    losses = [float(model.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"]) for _ in range(steps)]
    return losses, model


def test_compile_auto_trains_with_the_recipe_optimizer():
    """compile()'s "auto" is mlm train's optimizer: clipping on, decay off for biases and norms, norm recorded."""
    losses, model = train("auto")
    optimizer = model.optimizer
    assert isinstance(optimizer, FusedAdamW) and optimizer.global_clipnorm == 1.0 and optimizer.weight_decay == 0.01
    assert losses[-1] < losses[0]
    assert float(keras.ops.convert_to_numpy(optimizer.gradient_norm.value)) > 0


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_keeps_the_right_fraction_and_scale(rate):
    x = keras.ops.ones((64, 128, 32))
    out = keras.ops.convert_to_numpy(dropout(x, rate, keras.random.SeedGenerator(1)))
    kept = out != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01
    np.testing.assert_allclose(out[kept], 1 / (1 - rate), rtol=1e-6)


def test_dropout_mask_is_uniform_in_every_lane_of_a_random_word():
    """On torch four mask entries share one 64-bit draw: each of the four positions must keep 1 - rate."""
    x = keras.ops.ones((63, 129, 31))  # size not a multiple of 4
    out = keras.ops.convert_to_numpy(dropout(x, 0.25, keras.random.SeedGenerator(2))).reshape(-1)
    kept = (out != 0)[: out.size // 4 * 4].reshape(-1, 4)
    for lane in range(4):
        assert abs(kept[:, lane].mean() - 0.75) < 0.01, lane


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the masked-scale node is torch's path")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_dropout_gradient_is_its_own_mask_and_scale(dtype):
    """Kept entries pass x * scale forward (one rounding) and g * scale backward; dropped ones pass 0 both ways."""
    import torch

    generator = torch.Generator().manual_seed(3)
    x = torch.randn(8, 33, 16, generator=generator).to(getattr(torch, dtype)).requires_grad_(True)
    upstream = torch.randn(8, 33, 16, generator=generator).to(x.dtype)
    out = dropout(x, 0.2, keras.random.SeedGenerator(4))
    out.backward(upstream)
    kept = out.detach() != 0
    assert 0.75 < kept.float().mean() < 0.85
    assert torch.equal(out.detach()[kept], (x.detach() * 1.25)[kept])
    assert torch.equal(x.grad[kept], (upstream * 1.25)[kept])
    assert not x.grad[~kept].any()


@pytest.mark.parametrize("signs", ["positive", "mixed"])
def test_masked_token_cross_entropy_and_its_gradient_equal_the_textbook_ones(signs):
    """Values against Keras' own loss on every backend; on torch, the fused gradient against autograd's."""
    from mlm_cli.models.losses import MaskedTokenCrossEntropy

    rng = np.random.default_rng(5)
    logits = rng.normal(0, 3, (3, 7, 50)).astype("float32")
    labels = rng.integers(0, 50, (3, 7))
    weights = rng.uniform(0.0, 1.0, (3, 7)).astype("float32")
    if signs == "mixed":
        weights *= rng.choice([-1.0, 1.0], (3, 7)).astype("float32")
    weights[0, :3] = 0.0
    ours = MaskedTokenCrossEntropy(reduction=None)(labels, logits)
    reference = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(labels, logits)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(reference), rtol=1e-5,
                               atol=1e-6)
    if keras.backend.backend() != "torch":
        return
    import torch

    def gradient(loss_of):
        tensor = torch.tensor(logits, requires_grad=True)
        (loss_of(tensor) * torch.tensor(weights)).sum().backward()
        return tensor.grad.numpy()

    fused = gradient(lambda t: MaskedTokenCrossEntropy(reduction=None)(torch.tensor(labels), t))
    textbook = gradient(lambda t: torch.nn.functional.cross_entropy(t.reshape(-1, 50), torch.tensor(labels).reshape(-1),
                                                                    reduction="none").reshape(3, 7))
    np.testing.assert_allclose(fused, textbook, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the sparse lookup gradient is torch's path")
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_token_table_gradient_is_dense_and_equals_autograds_own(tied, policy):
    """The token table's gradient (the lookup's, densified, plus the projection's copy's) is autograd's own sum."""
    import torch

    from mlm_cli.models.layers.embeddings import TokenEmbedding

    layer = TokenEmbedding(50, 8, initializer="glorot_uniform", dtype=policy)
    layer.build()
    table = layer.embeddings.value
    compute = getattr(torch, layer.compute_dtype)
    ids = torch.tensor([[1, 4, 4, 9], [0, 49, 4, 1]])  # repeated rows add up
    hidden = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(0)).to(compute)

    def loss_of(rows):
        projected = (layer.project(hidden).float() ** 2).sum() if tied else 0.0
        return (rows.float() * hidden.float()).sum() + projected

    for _ in range(2):  # a second step starts from no gradient and no leftover projection copy
        table.grad = None
        # `call`, as inside a model: a layer called on its own outside any model gets Keras'
        # mixed-precision autocast scope despite autocast=False, and would look up a cast table.
        loss_of(layer.call(ids)).backward()
    ours = table.grad.clone()
    reference_table = table.detach().clone().requires_grad_(True)
    reference_rows = torch.nn.functional.embedding(ids, reference_table).to(compute)
    projected = ((hidden @ reference_table.to(compute).T).float() ** 2).sum() if tied else 0.0
    ((reference_rows.float() * hidden.float()).sum() + projected).backward()
    assert not ours.is_sparse and ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), reference_table.grad.numpy(), rtol=1e-6, atol=1e-6)
    with torch.no_grad():  # inference leaves no projection copy behind
        layer.project(hidden)
    assert "_projection_table" not in layer.__dict__
