"""`mlm train --freeze`: named weights keep their values, the rest trains; the run says and records what was frozen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlm_cli.workflows.freezing import FreezeSpec, freeze, parse_freeze
from tests.support.cli import run_mlm_in_process


def train(tiny_preset, corpus_files, tmp_path, *extra: str):
    return run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
        str(tmp_path / "run"), "--max-steps", "4", "--learning-rate", "1e-2", "--batch-size", "2",
        "--sequence-length", "32", "--save-every", "1000", *extra, env={"MLM_CACHE_DIR": str(tmp_path / "cache")},
    )


def weights(preset) -> dict[str, list[np.ndarray]]:
    from mlm_cli.models import MaskedLM

    backbone = MaskedLM.from_preset(preset).backbone
    layers = {"token": backbone.token_embedding, "position": backbone.position_embedding,
              "norm": backbone.embeddings_norm, "layer0": backbone.encoder_blocks[0],
              "layer1": backbone.encoder_blocks[1]}
    return {name: [np.asarray(v) for v in layer.get_weights()] for name, layer in layers.items()}


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_frozen_weights_keep_their_values_and_the_rest_trains(tiny_preset, corpus_files, tmp_path):
    done = train(tiny_preset, corpus_files, tmp_path, "--freeze", "embeddings,layers:0")
    assert done.code == 0, done.stderr
    assert "trainable; frozen: embeddings,layers:0" in done.stderr
    before, after = weights(tiny_preset), weights(tmp_path / "run")
    for name in ("token", "position", "norm", "layer0"):
        assert same(before[name], after[name]), name
    assert not same(before["layer1"], after["layer1"])
    config = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert config["freeze"] == "embeddings,layers:0"
    assert 0 < config["trainable_parameters"] < config["parameters"]
    assert "`embeddings,layers:0`" in (tmp_path / "run" / "README.md").read_text()


@pytest.mark.parametrize(
    "spec, message",
    [("embedings", "--freeze takes embeddings and/or layers:A-B"), ("layers:3-1", "--freeze takes"),
     ("layers:0-2", "beyond this model's 2 encoder layers")],
)
def test_a_spec_the_model_cannot_take_is_one_line_and_writes_nothing(tiny_preset, corpus_files, tmp_path, spec,
                                                                      message):
    done = train(tiny_preset, corpus_files, tmp_path, "--freeze", spec)
    assert done.code == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_spec_parsing():
    assert parse_freeze(None) == FreezeSpec()
    assert parse_freeze(" layers:2-4 , embeddings,layers:0") == FreezeSpec(True, (0, 2, 3, 4))
    for bad in ("layers", "layers:a", "layers:-1", "head", "embeddings;layers:1"):
        with pytest.raises(ValueError, match="--freeze"):
            parse_freeze(bad)


def test_albert_layers_that_share_a_block_freeze_together():
    from mlm_cli.errors import BadInputError
    from mlm_cli.models import AlbertBackbone

    def backbone():  # 4 layers in 2 groups: layers 0-1 run block 0, layers 2-3 block 1
        return AlbertBackbone(vocabulary_size=30, num_layers=4, num_groups=2, num_heads=2, embedding_dim=8,
                              hidden_dim=16, intermediate_dim=32, max_sequence_length=16)

    whole_group = backbone()
    freeze(whole_group, parse_freeze("layers:0-1,embeddings"))
    assert [block.trainable for block in whole_group.encoder_blocks] == [False, True]
    assert not whole_group.embeddings_projection.trainable and not whole_group.token_embedding.trainable
    with pytest.raises(BadInputError, match="share their weights"):
        freeze(backbone(), parse_freeze("layers:1"))
