"""LoRA on every family's backbone (issue 17): only the adapters train, the base weights stay bit-identical, merging and
the `.lora.h5` file reproduce the adapted model, and the file is keras_hub's (`save_lora_weights` /
`load_lora_weights`) both ways."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from mlm_cli.errors import BadInputError, PresetError
from mlm_cli.lora_targets import KERAS_HUB_LAYER_NAMES, KERAS_HUB_NUMBERING, TARGETS, parse_targets
from mlm_cli.models.lora import adapters, block_projections
from mlm_cli.models.optimizers import recipe_optimizer
from mlm_cli.models.preset.registry import FAMILIES
from mlm_cli.workflows.lora_training import enable_for_run
from tests.family_sizes import tiny_sizes
from tests.models.family_checks import fixed_batch

VOCABULARY = 40
FAMILY_NAMES = sorted(FAMILIES)


def targets_of(name: str) -> tuple[str, ...]:
    """keras_hub's default (query, value), or the feed-forward layers for FNet, which has no attention."""
    return ("intermediate", "feedforward_output") if name == "f_net" else ("query", "value")


def backbone_of(name: str, seed: int = 0):
    family = FAMILIES[name]
    keras.utils.set_random_seed(seed)
    return family.mlm_class(family.backbone)(vocabulary_size=VOCABULARY, **tiny_sizes(name))


def inputs(batch) -> dict[str, np.ndarray]:
    return {key: batch[key] for key in ("token_ids", "padding_mask")} | {"segment_ids": np.zeros_like(
        batch["token_ids"])}


def sequence(backbone, batch) -> np.ndarray:
    out = backbone(inputs(batch), training=False)
    return keras.ops.convert_to_numpy(out["sequence_output"] if isinstance(out, dict) else out)


def randomise_adapters(backbone, seed: int) -> None:
    """Non-zero B (and a fresh A), so that every adapter changes the outputs."""
    rng = np.random.default_rng(seed)
    for _, adapter in adapters(backbone):
        for variable in (adapter.lora_kernel_a, adapter.lora_kernel_b):
            variable.assign(rng.normal(0, 0.2, variable.shape).astype("float32"))


# Fused per-head QKV (BERT), DeBERTa's second read of the QKV kernel, plain QKV (ESM), no attention (FNet); every
# family's adapter layout is checked against keras_hub below.
@pytest.mark.parametrize("name", ["bert", "deberta_v3", "esm", "f_net"])
def test_adapters_start_neutral_and_merging_or_the_file_reproduce_the_adapted_model(name, tmp_path):
    batch = fixed_batch(VOCABULARY)
    backbone = backbone_of(name)
    plain = sequence(backbone, batch)
    parameters = backbone.parameter_count()
    settings = backbone.enable_lora(2, targets_of(name))
    assert np.array_equal(sequence(backbone, batch), plain)  # B starts at zero
    assert backbone.parameter_count() == parameters  # adapters are not part of the model's size
    randomise_adapters(backbone, seed=1)
    adapted = sequence(backbone, batch)
    assert np.abs(adapted - plain).max() > 1e-3
    backbone.save_lora_weights(tmp_path / "adapter.lora.h5")

    reloaded = backbone_of(name)  # same seed: the same base weights
    reloaded.load_lora_weights(tmp_path / "adapter.lora.h5")  # enables LoRA with the file's rank, alpha and targets
    assert reloaded._lora_settings == settings
    np.testing.assert_allclose(sequence(reloaded, batch), adapted, atol=1e-5)

    backbone.merge_lora_weights()
    np.testing.assert_allclose(sequence(backbone, batch), adapted, atol=1e-5)
    plain_again = backbone_of(name)
    plain_again.set_weights([keras.ops.convert_to_numpy(v) for v in backbone.weights if id(v) not in {
        id(w) for _, a in adapters(backbone) for w in (a.lora_kernel_a, a.lora_kernel_b)}])
    np.testing.assert_allclose(sequence(plain_again, batch), adapted, atol=1e-5)  # merged kernels need no adapters


@pytest.mark.parametrize("train_head", [False, True], ids=["adapters", "adapters-and-head"])
def test_only_the_adapters_train_and_every_base_weight_stays_bit_identical(train_head):
    """Every target of BERT's blocks adapted, trained by mlm's fused AdamW (the CLI tests train the default ones). With
    --lora-train-head the head's own weights train too, and the backbone (the tied embeddings too) stays as it was."""
    name = "bert"
    family = FAMILIES[name]
    backbone = backbone_of(name)
    model = family.mlm_class(family.masked_lm)(backbone)
    enable_for_run(model, 8, 16, ",".join(TARGETS), None, train_head=train_head)
    model.compile(optimizer=recipe_optimizer(1e-2))  # mlm's fused AdamW, as `mlm train` uses it
    adapter_ids = {id(w) for _, a in adapters(backbone) for w in (a.lora_kernel_a, a.lora_kernel_b)}
    head_ids = {id(w) for w in model.masked_lm_head.weights} - {id(w) for w in backbone.weights}
    assert head_ids
    assert {id(v) for v in model.trainable_variables} == adapter_ids | (head_ids if train_head else set())
    fixed = [v for v in model.weights if id(v) not in adapter_ids and (not train_head or id(v) not in head_ids)]
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in fixed}
    head_before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights if id(v) in head_ids}
    batch = fixed_batch(VOCABULARY)
    labels = np.take_along_axis(batch["token_ids"], batch["mask_positions"], axis=1)
    for _ in range(3):
        model.train_on_batch(batch, labels)
    after = {v.path: keras.ops.convert_to_numpy(v) for v in fixed}
    changed = [path for path in before
               if not np.array_equal(before[path], after[path]) and "seed_generator" not in path]
    assert changed == []
    assert all(np.abs(keras.ops.convert_to_numpy(a.lora_kernel_b)).max() > 0 for _, a in adapters(backbone))
    head_after = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights if id(v) in head_ids}
    head_changed = [path for path in head_before if not np.array_equal(head_before[path], head_after[path])]
    assert (sorted(head_changed) == sorted(head_before)) if train_head else head_changed == []


def test_settings_and_targets_are_checked(tmp_path):
    assert parse_targets(None) == ("query", "value") and parse_targets("all") == TARGETS
    assert parse_targets("value, query") == ("query", "value")
    for bad in ("querry", "all,query", "query;value"):
        with pytest.raises(ValueError, match="unknown LoRA target"):
            parse_targets(bad)
    for rank in (0, -1, 1.5, True):
        with pytest.raises(BadInputError, match="rank"):
            backbone_of("bert").enable_lora(rank)
    with pytest.raises(BadInputError, match="unknown LoRA target 'querry'"):
        backbone_of("bert").enable_lora(2, ["querry"])
    with pytest.raises(BadInputError, match="FNetBackbone has no query, value projection"):
        backbone_of("f_net").enable_lora(2)
    backbone = backbone_of("bert")
    backbone.enable_lora(2)
    with pytest.raises(BadInputError, match="already enabled"):
        backbone.enable_lora(2)
    with pytest.raises(BadInputError, match=r"\.lora\.h5"):
        backbone.save_lora_weights(tmp_path / "adapter.h5")
    backbone.save_lora_weights(tmp_path / "rank2.lora.h5")
    other = backbone_of("bert")
    other.enable_lora(4)
    with pytest.raises(PresetError, match="rank 2"):
        other.load_lora_weights(tmp_path / "rank2.lora.h5")
    with pytest.raises(BadInputError, match="no LoRA adapters"):
        backbone_of("bert").save_lora_weights(tmp_path / "none.lora.h5")


def test_an_untrusted_adapter_file_is_checked_before_anything_is_allocated_or_read(tmp_path):
    """A rank no backbone of this width can have, a link to another file, NaN weights: one PresetError each."""
    backbone = backbone_of("bert")
    backbone.enable_lora(2)
    backbone.save_lora_weights(tmp_path / "good.lora.h5")
    huge = tmp_path / "huge.lora.h5"
    with h5py.File(huge, "w") as f:
        f.create_dataset("lora/vars/rank", data=np.int64(10**9))
    with pytest.raises(PresetError, match="rank 1000000000 does not fit"):
        backbone_of("bert").load_lora_weights(huge)
    linked = tmp_path / "linked.lora.h5"
    with h5py.File(linked, "w") as f:
        f["lora"] = h5py.ExternalLink(str(tmp_path / "good.lora.h5"), "lora")
    with pytest.raises(PresetError, match="link"):
        backbone_of("bert").load_lora_weights(linked)
    poisoned = tmp_path / "nan.lora.h5"
    poisoned.write_bytes((tmp_path / "good.lora.h5").read_bytes())
    with h5py.File(poisoned, "r+") as f:
        first = next(key for key in f["lora"] if key.isdigit())
        f[f"lora/{first}/vars/lora_kernel_b"][...] = np.nan
    with pytest.raises(PresetError, match="not finite"):
        backbone_of("bert").load_lora_weights(poisoned)


def test_the_file_has_keras_hub_layout(tmp_path):
    backbone = backbone_of("bert")
    backbone.enable_lora(2)
    backbone.save_lora_weights(tmp_path / "a.lora.h5")
    with h5py.File(tmp_path / "a.lora.h5") as f:
        assert int(f["lora/vars/rank"][()]) == 2
        # keras_hub's BertBackbone numbers block k's value and query layers 11 + 10k and 13 + 10k; per head (2 heads).
        assert sorted(k for k in f["lora"] if k != "vars") == ["11", "13", "21", "23"]
        assert f["lora/13/vars/lora_kernel_a"].shape == (16, 2, 2) and f["lora/13/vars/lora_kernel_b"].shape == (2, 8)


# --- keras_hub reads mlm's adapter files and mlm reads keras_hub's -----------------------------------------------


def effective_kernels_keras_hub(reference, numbering, blocks: int, targets) -> dict[tuple[int, str], np.ndarray]:
    """keras_hub's kernel of each adapted layer, its adapter merged (the `kernel` property), as [inputs, outputs]."""
    layers = [layer for layer in reference._flatten_layers(include_self=False) if layer.weights]
    found = {}
    for block in range(blocks):
        for target in targets:
            kernel = keras.ops.convert_to_numpy(layers[numbering.index(block, target)].kernel)
            found[block, target] = kernel.reshape(-1, kernel.shape[-1]) if target == "attention_output" else (
                kernel.reshape(kernel.shape[0], -1))
    return found


def effective_kernels_mlm(backbone, targets) -> dict[tuple[int, str], np.ndarray]:
    found = {}
    for block_index, block in enumerate(backbone.encoder_blocks):
        projections = block_projections(block)
        for target in targets:
            projection = projections[target]
            kernel = keras.ops.convert_to_numpy(projection.layer.effective_kernel())
            found[block_index, target] = kernel[:, projection.start:projection.stop]
    return found


@pytest.mark.run_once  # files and kernels, the same on either backend
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_keras_hub_and_mlm_read_each_others_adapter_files(name, tmp_path):
    """The same weights and adapter file give the same adapted kernels in keras_hub and in mlm, both ways."""
    keras_hub = pytest.importorskip("keras_hub")
    family = FAMILIES[name]
    keras.utils.set_random_seed(3)
    reference = getattr(keras_hub.models, family.backbone)(vocabulary_size=VOCABULARY, **tiny_sizes(name))
    reference.save_to_preset(str(tmp_path / "base"))
    ours = family.mlm_class(family.backbone).from_preset(tmp_path / "base")
    targets = TARGETS if name != "f_net" else targets_of(name)
    layer_names = [layer for target in targets for layer in KERAS_HUB_LAYER_NAMES[target]]
    numbering, blocks = KERAS_HUB_NUMBERING[name], len(ours.encoder_blocks)

    ours.enable_lora(2, targets)
    randomise_adapters(ours, seed=5)
    ours.save_lora_weights(tmp_path / "mlm.lora.h5")
    reference.enable_lora(2, target_layer_names=layer_names)
    reference.load_lora_weights(str(tmp_path / "mlm.lora.h5"))
    theirs, mine = effective_kernels_keras_hub(reference, numbering, blocks, targets), effective_kernels_mlm(
        ours, targets)
    for key in mine:
        np.testing.assert_allclose(theirs[key], mine[key], atol=1e-5, err_msg=str(key))

    for layer in reference._flatten_layers(include_self=False):  # keras_hub's own adapters, saved by keras_hub
        if getattr(layer, "lora_enabled", False):
            layer.lora_kernel_b.assign(np.random.default_rng(6).normal(0, 0.2, layer.lora_kernel_b.shape))
    reference.save_lora_weights(str(tmp_path / "keras_hub.lora.h5"))
    fresh = family.mlm_class(family.backbone).from_preset(tmp_path / "base")
    fresh.load_lora_weights(tmp_path / "keras_hub.lora.h5")  # targets read from keras_hub's layer numbers
    assert fresh._lora_settings.targets == targets
    theirs, mine = effective_kernels_keras_hub(reference, numbering, blocks, targets), effective_kernels_mlm(
        fresh, targets)
    for key in mine:
        np.testing.assert_allclose(theirs[key], mine[key], atol=1e-5, err_msg=str(key))
