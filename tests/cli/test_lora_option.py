"""`mlm train --lora-rank`: only the adapters train, the published preset is the merged model (keras_hub reads it),
`--lora-only` publishes the adapter and a reference to its base, and `--resume` continues exactly (issue 17)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tests.models.family_checks import assert_keras_hub_logits_equal
from tests.support.cli import run_mlm_in_process

TEXTS = ["the model will train on data", "a word"]


def train(tiny_preset, corpus_files, run, *extra: str):
    return run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output", str(run),
        "--learning-rate", "1e-2", "--schedule", "constant", "--warmup", "0", "--batch-size", "2",
        "--sequence-length", "32", "--save-every", "1000", "--max-steps", "4", *extra,
        env={"MLM_CACHE_DIR": str(run.parent / "cache")},
    )


def arrays(path) -> dict[str, np.ndarray]:
    found = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def logits(*models, preset) -> list[np.ndarray]:
    """Each model's logits on TEXTS, masked once by `preset`'s preprocessor (the same inputs for every model)."""
    import keras

    from mlm_cli.models import MaskedLMPreprocessor

    x, _, _ = MaskedLMPreprocessor.from_preset(preset)(TEXTS)
    return [keras.ops.convert_to_numpy(model(x, training=False)) for model in models]


def base_with_adapter(tiny_preset, adapter):
    from mlm_cli.models import MaskedLM

    model = MaskedLM.from_preset(tiny_preset)
    model.backbone.load_lora_weights(adapter)
    return model


@pytest.fixture(scope="module")
def merged_run(tiny_preset, corpus_files, tmp_path_factory):
    """A rank-4 LoRA run of 4 steps that publishes the merged model."""
    run = tmp_path_factory.mktemp("lora") / "run"
    done = train(tiny_preset, corpus_files, run, "--lora-rank", "4")
    assert done.code == 0, done.stderr
    return run, done


def test_only_the_adapters_train_and_the_merged_model_is_published(merged_run, tiny_preset):
    from mlm_cli.models import MaskedLM

    run, done = merged_run
    # 2 blocks x (query, value) x (A [32 x 2 heads x 4] + B [4 x 16])
    assert "LoRA rank 4 on query,value: 1,280 trainable parameters of" in done.stderr
    config = json.loads((run / "train_config.json").read_text())
    assert (config["lora_rank"], config["lora_alpha"], config["trainable_parameters"]) == (4, None, 1280)
    assert "rank 4, alpha 4 on `query,value` (1,280 parameters trained); published merged" in (
        run / "README.md").read_text()

    final = run / "checkpoints" / "step-00000004"
    for name in ("model.weights.h5", "task.weights.h5"):  # the base weights, bit-identical after training
        saved, base = arrays(final / name), arrays(tiny_preset / name)
        assert saved.keys() == base.keys() and all(np.array_equal(saved[k], base[k]) for k in base), name
    published, base = arrays(run / "model.weights.h5"), arrays(tiny_preset / "model.weights.h5")
    changed = sorted(k for k in base if not np.array_equal(published[k], base[k]))
    assert changed and all(k.endswith(("query_dense/vars/0", "value_dense/vars/0")) for k in changed), changed

    merged = MaskedLM.from_preset(run)
    ours, adapted = logits(merged, base_with_adapter(tiny_preset, final / "adapter.lora.h5"), preset=tiny_preset)
    np.testing.assert_allclose(ours, adapted, atol=1e-5)
    assert_keras_hub_logits_equal(run)  # a plain keras_hub preset, within 1e-4


def test_lora_only_publishes_the_adapter_beside_its_base(merged_run, tiny_preset, corpus_files, tmp_path):
    from mlm_cli.models import MaskedLM

    run = tmp_path / "adapter-run"
    done = train(tiny_preset, corpus_files, run, "--lora-rank", "4", "--lora-only")
    assert done.code == 0, done.stderr
    assert not (run / "config.json").exists() and not (run / "model.weights.h5").exists()
    reference = json.loads((run / "lora.json").read_text())
    assert (reference["base_preset"], reference["rank"], reference["alpha"], reference["targets"]) == (
        str(tiny_preset), 4, 4.0, ["query", "value"])
    assert reference["adapter"] == "adapter.lora.h5"
    # The same run (same seed and data) published merged: the adapter on its base gives that model's logits.
    adapted, merged = logits(base_with_adapter(tiny_preset, run / "adapter.lora.h5"), MaskedLM.from_preset(
        merged_run[0]), preset=tiny_preset)
    np.testing.assert_allclose(adapted, merged, atol=1e-4)


def test_resume_continues_the_adapters_exactly(merged_run, tiny_preset, corpus_files, tmp_path):
    run = tmp_path / "resumed"
    first = train(tiny_preset, corpus_files, run, "--lora-rank", "4", "--max-steps", "2", "--save-every", "2")
    assert first.code == 0, first.stderr
    (run / "config.json").unlink()  # as if stopped after step 2's checkpoint
    done = train(tiny_preset, corpus_files, run, "--lora-rank", "4", "--resume")
    assert done.code == 0, done.stderr
    uninterrupted = merged_run[0] / "checkpoints" / "step-00000004"
    resumed = run / "checkpoints" / "step-00000004"
    for name in ("adapter.lora.h5", "optimizer.weights.h5"):
        theirs, ours = arrays(uninterrupted / name), arrays(resumed / name)
        assert theirs.keys() == ours.keys() and all(np.array_equal(theirs[k], ours[k]) for k in theirs), name
    changed = train(tiny_preset, corpus_files, run, "--lora-rank", "8", "--resume", "--max-steps", "6")
    assert changed.code == 2 and "--resume with a different lora-rank" in changed.stderr


@pytest.mark.parametrize("builtin, extra, message", [
    (None, ("--lora-rank", "0"), "--lora-rank must be at least 1"),
    (None, ("--lora-rank", "2", "--lora-targets", "query,keys"), "--lora-targets takes query, key, value"),
    (None, ("--lora-only",), "--lora-only, --lora-alpha, --lora-targets and --lora-train-head need --lora-rank"),
    (None, ("--lora-train-head",), "--lora-only, --lora-alpha, --lora-targets and --lora-train-head need --lora-rank"),
    (None, ("--lora-rank", "2", "--lora-only", "--lora-train-head"), "without the head --lora-train-head trains"),
    (None, ("--lora-rank", "2", "--lora-alpha", "0"), "--lora-alpha must be positive"),
    (None, ("--lora-rank", "2", "--freeze", "embeddings"), "use either --lora-rank or --freeze, not both"),
    (None, ("--lora-rank", "2", "--extend-vocabulary", "10"), "--extend-vocabulary with --lora-rank"),
    ("bert_tiny_scratch", ("--lora-rank", "2"), "a *_scratch preset starts from random weights"),
])
def test_unusable_lora_options_are_one_line_and_write_nothing(tiny_preset, corpus_files, tmp_path, builtin, extra,
                                                              message):
    done = train(builtin or tiny_preset, corpus_files, tmp_path / "run", *extra)
    assert done.code == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_all_means_every_projection_the_family_has_and_the_head_is_frozen():
    from mlm_cli.errors import BadInputError
    from mlm_cli.models import FNetBackbone, FNetMaskedLM
    from mlm_cli.workflows.lora_training import enable_for_run
    from tests.family_sizes import tiny_sizes

    def model():
        return FNetMaskedLM(FNetBackbone(vocabulary_size=40, **tiny_sizes("f_net")))

    fnet = model()
    settings = enable_for_run(fnet, 2, None, "all", None)
    assert settings.targets == ("intermediate", "feedforward_output")  # FNet's blocks have no attention
    assert fnet.trainable_weights and not fnet.masked_lm_head.trainable_weights
    with pytest.raises(BadInputError, match="FNetBackbone has no query, value projection"):
        enable_for_run(model(), 2, None, None, None)
