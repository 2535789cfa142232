"""Checks every model family's tests share: fixed batches, tiny keras_hub presets read both ways, bit-exact round trips,
token ids against keras_hub, logits against transformers, and the real `mlm train` and `mlm eval` on a tiny preset.

Helpers take keras_hub's or mlm's classes alike: both name their backbone and preprocessor classes on the task class.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import keras
import numpy as np
import pytest

from mlm_cli.errors import PresetError
from mlm_cli.models import MaskedLM
from mlm_cli.seeding import set_seed
from tests.support.cli import UNREACHABLE, run_mlm
from tests.support.corpus import sample_sentences

if TYPE_CHECKING:
    import torch

Batch = dict[str, np.ndarray]
AnyTokenizer = Any  # an mlm or a keras_hub tokenizer: the checks call both the same way
# The masking settings keras_hub's and mlm's MaskedLM preprocessors both keep.
PREPROCESSOR_SETTINGS = (
    "sequence_length", "truncate", "mask_selection_rate", "mask_selection_length", "mask_token_rate",
    "random_token_rate",
)


# --- batches and logits ----------------------------------------------------------


def fixed_batch(vocabulary_size: int, seed: int = 0, *, lengths: Sequence[int] = (24, 17, 9, 5), pad_id: int = 0,
                lowest_id: int = 5, segments: bool = False) -> Batch:
    """Random ids from `lowest_id` up, rows of `lengths` real tokens padded with `pad_id`, six masked positions among
    the first real tokens; with `segments`, the second half of each row's real tokens is segment 1."""
    rng = np.random.default_rng(seed)
    rows, length = np.array(lengths)[:, None], max(lengths)
    padding_mask = np.arange(length)[None, :] < rows
    token_ids = np.where(padding_mask, rng.integers(lowest_id, vocabulary_size, (len(lengths), length)),
                         pad_id).astype("int32")
    positions = np.sort(rng.integers(1, 5, (len(lengths), 6)), axis=1).astype("int32")
    batch = {"token_ids": token_ids}
    if segments:
        batch["segment_ids"] = ((np.arange(length)[None, :] >= rows // 2) & padding_mask).astype("int32")
    return batch | {"padding_mask": padding_mask, "mask_positions": positions}


class BatchMaker(Protocol):
    """A family's fixed batch for a vocabulary size: fixed_batch or a variant of it."""

    def __call__(self, vocabulary_size: int, seed: int = 0) -> Batch: ...


def text_batch(model: MaskedLM, texts: Sequence[str]) -> Batch:
    """The preprocessor's batch of `texts` (its mask positions too) with the texts' own token ids: the masker's random
    replacements can be the padding id, which transformers' RoBERTa and XLM-R read as padding when they number
    positions, so their logits would differ from mlm's on a draw, not on a difference of the models."""
    x, _, _ = model.preprocessor(list(texts))
    packed, _ = model.preprocessor.pack(list(texts))
    return {**x, "token_ids": packed["token_ids"]}


def logits(model: keras.Model, batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """A keras_hub or mlm masked LM's inference logits, as numpy."""
    return keras.ops.convert_to_numpy(model(batch, training=False))


# --- keras_hub presets, both ways --------------------------------------------------


def perturb_weights(variables: Iterable[keras.Variable], seed: int, stddev: float = 0.3) -> None:
    """Add normal noise to every variable, so that a weight read or written in the wrong place shows in the logits."""
    rng = np.random.default_rng(seed)
    for variable in variables:
        variable.assign(keras.ops.convert_to_numpy(variable) + rng.normal(0.0, stddev, variable.shape).astype(
            "float32"))


def build_masked_lm(task_class: type[keras.Model], tokenizer: AnyTokenizer, sizes: Mapping[str, Any], *,
                    sequence_length: int,
                    mask_selection_length: int) -> keras.Model:
    """A keras_hub or mlm `task_class` around `tokenizer`, with the backbone and preprocessor classes the task names."""
    preprocessor = task_class.preprocessor_cls(tokenizer, sequence_length=sequence_length,
                                               mask_selection_length=mask_selection_length)
    backbone = task_class.backbone_cls(vocabulary_size=tokenizer.vocabulary_size(), **sizes)
    return task_class(backbone, preprocessor=preprocessor)


def save_keras_hub_preset(path: Path, task_class: type[keras.Model], tokenizer: AnyTokenizer, sizes: Mapping[str, Any],
                          seed: int,
                          used_preprocessor: bool = True) -> Path:
    """A tiny random keras_hub `task_class` (24 tokens, 6 masks) saved by keras_hub, every weight perturbed so a mapping
    mistake shows. With `used_preprocessor` the preprocessor has run once, so keras_hub also saves its packer and
    masker."""
    set_seed(seed)
    model = build_masked_lm(task_class, tokenizer, sizes, sequence_length=24, mask_selection_length=6)
    if used_preprocessor:
        model.preprocessor(["the model will train"])  # builds the packer and masker
    perturb_weights(model.weights, seed)
    model.save_to_preset(str(path))
    return path


def assert_mlm_loads_keras_hub_preset(preset: Path, task_class: type[MaskedLM], make_batch: BatchMaker) -> tuple[
    MaskedLM, np.ndarray]:
    """mlm reads keras_hub's preset as `task_class` with keras_hub's parameter count and float32 logits within 1e-4 of
    keras_hub's on make_batch(vocabulary_size). Returns mlm's model and those logits."""
    import keras_hub

    reference = keras_hub.models.MaskedLM.from_preset(str(preset))
    ours = MaskedLM.from_preset(preset)
    assert isinstance(ours, task_class) and isinstance(ours.backbone, task_class.backbone_cls)
    assert type(reference).__name__ == task_class.__name__
    batch = make_batch(ours.backbone.vocabulary_size)
    out = logits(ours, batch)
    assert out.shape == (*batch["mask_positions"].shape, ours.backbone.vocabulary_size) and out.dtype == np.float32
    assert np.abs(out - logits(reference, batch)).max() <= 1e-4
    assert ours.backbone.parameter_count() == reference.backbone.count_params()
    return ours, out


class TrainedPreset(NamedTuple):
    """A preset mlm saved after fitting, the fitted model, a batch, and the model's logits on it before the fit."""

    path: Path
    model: MaskedLM
    batch: Batch
    logits_before: np.ndarray


def fit_and_save(preset: Path, path: Path, make_batch: BatchMaker) -> TrainedPreset:
    """The preset loaded in mlm, fitted for an epoch of sample sentences (Adam, 1e-2) and saved to `path` by mlm;
    the batch is make_batch(vocabulary_size, seed=1)."""
    model = MaskedLM.from_preset(preset)
    batch = make_batch(model.backbone.vocabulary_size, seed=1)
    before = logits(model, batch)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(sample_sentences(32), batch_size=8, epochs=1, verbose=0)
    model.save_to_preset(path)
    return TrainedPreset(path, model, batch, before)


def assert_same_preprocessor_settings(ours: keras.layers.Layer, reference: keras.layers.Layer) -> None:
    """The two MaskedLM preprocessors pack and mask alike."""
    for key in PREPROCESSOR_SETTINGS:
        assert getattr(reference, key) == getattr(ours, key), key


def assert_keras_hub_loads_trained_preset(trained: TrainedPreset, task_class: type[MaskedLM],
                                          sentences: Sequence[str]) -> keras.Model:
    """keras_hub reads mlm's trained preset as `task_class` with mlm's logits, preprocessor settings, vocabulary and
    token ids for `sentences`. Returns keras_hub's model, for a family's own further checks."""
    import keras_hub

    ours = trained.model
    assert np.abs(logits(ours, trained.batch) - trained.logits_before).max() > 1e-3  # the fit moved the weights
    reference = keras_hub.models.MaskedLM.from_preset(str(trained.path))
    assert type(reference).__name__ == task_class.__name__
    assert np.abs(logits(ours, trained.batch) - logits(reference, trained.batch)).max() <= 1e-4
    assert_same_preprocessor_settings(ours.preprocessor, reference.preprocessor)
    ours_tokenizer, reference_tokenizer = ours.preprocessor.tokenizer, reference.preprocessor.tokenizer
    assert list(reference_tokenizer.get_vocabulary()) == ours_tokenizer.get_vocabulary()
    for text in sentences:
        assert np.asarray(reference_tokenizer(text)).tolist() == ours_tokenizer(text).tolist(), repr(text)
    return reference


def assert_keras_hub_logits_equal(preset: Path) -> None:
    """keras_hub reads an mlm preset with mlm's logits on a batch mlm's preprocessor made (the inputs keras_hub's model
    takes).
    """
    import keras_hub

    ours = MaskedLM.from_preset(preset)
    reference = keras_hub.models.MaskedLM.from_preset(str(preset))
    x, _, _ = ours.preprocessor(["the model will train on data", "a word"])
    x = {key: value for key, value in x.items() if key in reference.input}
    assert np.abs(logits(ours, x) - logits(reference, x)).max() <= 1e-4


def assert_same_weights(*models: keras.Model) -> None:
    """The models hold as many weights (some), each bit-for-bit equal across them."""
    counts = {len(model.weights) for model in models}
    assert len(counts) == 1 and counts != {0}, counts
    for variables in zip(*(model.weights for model in models)):
        first = keras.ops.convert_to_numpy(variables[0])
        for other in variables[1:]:
            assert np.array_equal(first, keras.ops.convert_to_numpy(other)), other.path


def assert_round_trip_keeps_every_weight(preset: Path, copy: Path) -> tuple[MaskedLM, MaskedLM]:
    """mlm loads `preset`, saves it to `copy` and loads that again, every weight bit-for-bit the same; returns both
    models.
    """
    first = MaskedLM.from_preset(preset)
    first.save_to_preset(copy)
    second = MaskedLM.from_preset(copy)
    assert_same_weights(first, second)
    return first, second


def assert_configs_equal_keras_hub(ours: Path, keras_hub_preset: Path, task_class: type[MaskedLM]) -> None:
    """mlm's preset has keras_hub's config files, its task class and module, and no mlm-only metadata."""
    for name in ("config.json", "tokenizer.json", "preprocessor.json"):
        assert json.loads((ours / name).read_text()) == json.loads((keras_hub_preset / name).read_text()), name
    task, expected = (json.loads((preset / "task.json").read_text()) for preset in (ours, keras_hub_preset))
    assert task["class_name"] == expected["class_name"] == task_class.__name__ and task["module"] == expected["module"]
    metadata = json.loads((ours / "metadata.json").read_text())
    assert "mlm_backbone_extensions" not in metadata and "mlm_tokenizer_extensions" not in metadata


def assert_backbone_config_refused(preset: Path, copy: Path, changes: Mapping[str, Any],
                                   match: str | None = None) -> PresetError:
    """mlm refuses a copy of `preset` with `changes` written into its backbone config (config.json's "config") with one
    PresetError matching `match`; returns the error."""
    shutil.copytree(preset, copy)
    config = json.loads((copy / "config.json").read_text())
    config["config"].update(changes)
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match=match) as error:
        MaskedLM.from_preset(copy)
    return error.value


def assert_same_config(ours: Any, reference: Any, ignoring: tuple[str, ...]) -> None:
    """mlm's layer or tokenizer has the keras_hub one's config but for the keys `ignoring` names (Keras numbers a second
    instance's name, serializes dtype policies its own way, and nests the tokenizer in a preprocessor's config)."""
    assert {k: v for k, v in ours.get_config().items() if k not in ignoring} == {
        k: v for k, v in reference.get_config().items() if k not in ignoring
    }


# --- tokenizers and precision ------------------------------------------------------


def assert_encode_batch_flat(tokenizer: AnyTokenizer, texts: Sequence[str], expected: list[list[int]]) -> None:
    """The joined batch encoding (int32 ids, int64 offsets) splits back into `expected`, one list of ids per text."""
    flat, offsets = tokenizer.encoder.encode_batch_flat(list(texts))
    assert flat.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == len(texts) + 1
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(texts))] == expected


def assert_token_ids_equal_keras_hub(ours: AnyTokenizer, reference: AnyTokenizer, texts: Sequence[str]) -> list[
    list[int]]:
    """mlm's tokenizer gives keras_hub's ids text by text, for the whole list at once and joined; returns keras_hub's
    ids.
    """
    expected = [np.asarray(reference(text)).tolist() for text in texts]
    assert [ours(text).tolist() for text in texts] == expected
    assert [ids.tolist() for ids in ours(list(texts))] == expected
    assert_encode_batch_flat(ours, texts, expected)
    return expected


def float32_and_mixed_bfloat16(task_class: type[MaskedLM], vocabulary_size: int, sizes: Mapping[str, Any]) -> tuple[
    MaskedLM, MaskedLM]:
    """Two `task_class` models without preprocessors, float32 and mixed_bfloat16, holding the same weights."""
    full = task_class(task_class.backbone_cls(vocabulary_size=vocabulary_size, **sizes))
    mixed = task_class(task_class.backbone_cls(vocabulary_size=vocabulary_size, dtype="mixed_bfloat16", **sizes))
    for source, target in zip(full.weights, mixed.weights):
        target.assign(source)
    return full, mixed


def assert_mixed_bfloat16_close(full: MaskedLM, mixed: MaskedLM, batch: Batch, tolerance: float) -> None:
    """A mixed_bfloat16 model keeps float32 variables and gives finite float32 logits within `tolerance` (relative to
    the largest) of the float32 model's with the same weights."""
    assert {variable.dtype for variable in mixed.weights} == {"float32"}
    out, expected = logits(mixed, batch), logits(full, batch)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out - expected).max() <= tolerance * np.abs(expected).max()


# --- the command line ----------------------------------------------------------------


def assert_cli_trains_and_evaluates(task_class: type[MaskedLM], tokenizer: AnyTokenizer, sizes: Mapping[str, Any],
                                    directory: Path,
                                    backend: str, precision: str = "mixed_bfloat16") -> Path:
    """The real `mlm` entry point trains a tiny `task_class` preset and evaluates the run, on `backend`, off the
    network.

    Writes the preset (32 tokens, 8 masks) to directory/preset, trains it for three steps under `precision` on 200
    sample sentences, evaluates on 40 others; checks the step count, the saved task class and finite metrics.
    Returns the run directory.
    """
    preset, run = directory / "preset", directory / "run"
    build_masked_lm(task_class, tokenizer, sizes, sequence_length=32, mask_selection_length=8).save_to_preset(preset)
    (directory / "train.txt").write_text("\n".join(sample_sentences(200, seed=1)) + "\n", encoding="utf-8")
    (directory / "heldout.txt").write_text("\n".join(sample_sentences(40, seed=2)) + "\n", encoding="utf-8")
    env = {"MLM_CACHE_DIR": str(directory / "cache"), "KERAS_BACKEND": backend}
    env.update(KAGGLE_API_ENDPOINT=UNREACHABLE, HF_ENDPOINT=UNREACHABLE)  # nothing may reach the network
    trained = run_mlm("train", "--preset", str(preset), "--data", str(directory / "train.txt"), "--output", str(run),
                      "--max-steps", "3",
                      "--batch-size", "8", "--sequence-length", "32", "--precision", precision, "--json", env=env)
    assert trained.code == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 3
    assert json.loads((run / "task.json").read_text())["class_name"] == task_class.__name__
    evaluated = run_mlm("eval", "--preset", str(run), "--data", str(directory / "heldout.txt"), "--json",
                        "--batch-size", "8", env=env)
    assert evaluated.code == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["masked_tokens"] > 0 and np.isfinite(metrics["loss"]) and 0 <= metrics["accuracy"] <= 1
    return run


# --- transformers checkpoints --------------------------------------------------------


def update_json(path: Path, changes: Mapping[str, Any]) -> None:
    """Merge `changes` into the top level of a JSON file, as a hand-edited checkpoint config would read."""
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def perturb_norms_biases_and_token_types(model: torch.nn.Module, stddev: float = 0.1) -> None:
    """Add normal noise to a transformers model's layer norms, biases and token-type embeddings, which start out
    constant
    or unused, so that a mapping mistake in them shows."""
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name or "token_type" in name or name.endswith("bias"):
                parameter.add_(torch.randn_like(parameter) * stddev)


def transformers_logits(model: torch.nn.Module, x: Mapping[str, np.ndarray], *, segments: bool = False) -> np.ndarray:
    """A transformers masked LM's logits at the masked positions of mlm batch `x`; `segments` passes its segment ids
    as token types."""
    import torch

    inputs = {"input_ids": x["token_ids"], "attention_mask": x["padding_mask"]}
    if segments:
        inputs["token_type_ids"] = x["segment_ids"]
    with torch.no_grad():
        out = model(**{name: torch.tensor(np.asarray(value), dtype=torch.long) for name,
                       value in inputs.items()}).logits.numpy()
    return np.take_along_axis(out, np.asarray(x["mask_positions"])[..., None].astype(np.int64), axis=1)


def assert_mlm_reads_transformers_checkpoint(checkpoint: Path, task_class: type[MaskedLM], reference_class: type,
                                             texts: Sequence[str]) -> tuple[MaskedLM, Batch]:
    """mlm reads a transformers checkpoint as `task_class`, with the logits of transformers' `reference_class` (within
    1e-4) on a batch of `texts` mlm's preprocessor makes. Returns mlm's model and that batch."""
    model = MaskedLM.from_preset(checkpoint)
    assert isinstance(model, task_class)
    reference = reference_class.from_pretrained(checkpoint).eval()
    x = text_batch(model, texts)
    assert np.abs(logits(model, x) - transformers_logits(reference, x)).max() <= 1e-4
    return model, x


def assert_keras_hub_reads_extended_preset(extended: MaskedLM, texts: Sequence[str], directory: Path) -> None:
    """`extended` (a model with a grown vocabulary) saved as a preset at `directory` reads back in keras_hub and in
    mlm with its token ids for every text and its logits within 1e-4."""
    keras_hub = pytest.importorskip("keras_hub")
    extended.save_to_preset(directory)
    reference = keras_hub.models.MaskedLM.from_preset(str(directory))
    ours = MaskedLM.from_preset(directory)
    for text in texts:
        expected = extended.preprocessor.tokenizer(text).tolist()
        assert np.asarray(reference.preprocessor.tokenizer(text)).tolist() == expected == \
            ours.preprocessor.tokenizer(text).tolist(), text
    x, _, _ = extended.preprocessor(list(texts))
    x = {key: value for key, value in x.items() if key in reference.input}  # keras_hub's RoBERTa: no segment ids
    for model in (reference, ours):
        assert np.abs(logits(model, x) - logits(extended, x)).max() <= 1e-4


def assert_transformers_reads_export(model: MaskedLM, exported: Path, logit_texts: Sequence[str],
                                     id_texts: Sequence[str],
                                     class_names: tuple[str, str]) -> AnyTokenizer:
    """transformers' auto classes read mlm's export at `exported` as `class_names` (model, tokenizer), with mlm's logits
    on a batch of `logit_texts` and mlm's token ids for each of `id_texts`. Returns transformers' tokenizer."""
    import transformers

    reference = transformers.AutoModelForMaskedLM.from_pretrained(exported).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(exported)
    assert (type(reference).__name__, type(tokenizer).__name__) == class_names
    x = text_batch(model, logit_texts)
    assert np.abs(logits(model, x) - transformers_logits(reference, x)).max() <= 1e-4
    for text in id_texts:
        assert model.preprocessor.tokenizer(text).tolist() == tokenizer(text, add_special_tokens=False)[
            "input_ids"], repr(text)
    return tokenizer
