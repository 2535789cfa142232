"""ESM in Hugging Face transformers' layout (EsmForMaskedLM): config keys, tensor names and the tokenizer.

Weights are mapped to and from keras_hub's `.weights.h5` layout, which mlm already reads
and writes, so a transformers checkpoint becomes an ordinary keras_hub preset. Three
differences from keras_hub are bridged here:

- transformers numbers absolute positions from `pad_token_id + 1`, keras_hub from
  `pad_token_id`: the position table moves by one row each way (transformers' row 0,
  which no token reaches, is not kept; it is exported as zeros);
- transformers ties the output projection to the word embeddings unless
  `tie_word_embeddings` is false, keras_hub's head has its own projection: it is copied
  on import, and exported tied only when it still equals the embeddings;
- "token dropout" (ESM-2's checkpoints) is an mlm backbone setting outside keras_hub's config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.errors import BadInputError, PresetError
from mlm_cli.models.convert import transformers_driver as driver
from mlm_cli.models.convert.tensor_names import BERT_LAYER, encoder_layer
from mlm_cli.models.convert.weight_transforms import SAME, Transform
from mlm_cli.models.preset.directory import PresetDirectory

log = logging.getLogger("mlm")

MODEL_PREFIX = "esm."
SPECIAL_TOKENS = {"unk_token": "<unk>", "cls_token": "<cls>", "pad_token": "<pad>", "mask_token": "<mask>",
                  "eos_token": "<eos>"}
# Tensors of EsmForMaskedLM that a masked-LM model does not use: the contact-prediction head, rotary buffers.
IGNORED_SUFFIXES = ("rotary_embeddings.inv_freq", "position_ids")
IGNORED_PREFIXES = ("contact_head.", "pooler.")
# EsmConfig settings that describe models ESM here cannot represent, with the value mlm needs.
REQUIRED_FLAGS = {"is_decoder": False, "add_cross_attention": False, "is_folding_model": False}


def _vocabulary_id(vocabulary: list[str], token: str, source: str) -> int:
    if token not in vocabulary:
        raise PresetError(f"{source}: the vocabulary lacks {token!r}")
    return vocabulary.index(token)


def backbone_config(hf_config: dict[str, Any], vocabulary: list[str], source: str) -> dict[str, Any]:
    """ESMBackbone keyword arguments for a transformers EsmConfig; refuses what ESM here cannot represent."""
    problems = [f"{key}={hf_config[key]!r}" for key, value in REQUIRED_FLAGS.items() if hf_config.get(key,
                                                                                                      value) != value]
    position_type = hf_config.get("position_embedding_type", "absolute")
    if position_type not in ("rotary", "absolute"):
        problems.append(f"position_embedding_type {position_type!r} (supported: rotary, absolute)")
    if problems:
        raise PresetError(f"{source}: unsupported ESM variant: {'; '.join(problems)}")
    try:
        pad_token_id = hf_config.get("pad_token_id")
        mask_token_id = hf_config.get("mask_token_id")
        rope_theta = float(hf_config.get("rope_theta", 10000.0))
        config = {
            **driver.encoder_sizes(hf_config),
            "dropout": float(hf_config.get("hidden_dropout_prob", 0.1)),
            "max_wavelength": int(rope_theta) if rope_theta.is_integer() else rope_theta,
            "layer_norm_eps": float(hf_config.get("layer_norm_eps", 1e-12)),
            "use_pre_layer_norm": bool(hf_config.get("emb_layer_norm_before") or False),
            "position_embedding_type": position_type,
            "max_sequence_length": int(hf_config.get("max_position_embeddings", 1026)),
            "pad_token_id": int(pad_token_id) if pad_token_id is not None else _vocabulary_id(vocabulary, "<pad>",
                                                                                              source),
            "token_dropout": bool(hf_config.get("token_dropout") or False),
        }
        if config["token_dropout"]:
            config["mask_token_id"] = int(mask_token_id) if mask_token_id is not None else _vocabulary_id(vocabulary,
                "<mask>", source)
    except (KeyError, TypeError, ValueError) as error:
        raise PresetError(f"{source}: incomplete ESM config ({error})") from None
    return config


def transformers_config(backbone_config: dict[str, Any], mask_token_id: int, tied: bool, dtype: str) -> dict[str, Any]:
    """A transformers EsmConfig dict for an ESMBackbone config (plus its token-dropout settings)."""
    return {
        "architectures": ["EsmForMaskedLM"],
        "model_type": "esm",
        **driver.transformers_sizes(backbone_config),
        "hidden_dropout_prob": backbone_config["dropout"],
        "attention_probs_dropout_prob": 0.0,  # keras_hub's ESM has no attention dropout
        "max_position_embeddings": backbone_config["max_sequence_length"],
        "rope_theta": float(backbone_config["max_wavelength"]),
        "layer_norm_eps": backbone_config["layer_norm_eps"],
        "position_embedding_type": backbone_config["position_embedding_type"],
        "emb_layer_norm_before": backbone_config["use_pre_layer_norm"],
        "token_dropout": backbone_config.get("token_dropout", False),
        "pad_token_id": backbone_config["pad_token_id"],
        "mask_token_id": mask_token_id,
        "initializer_range": 0.02,
        "tie_word_embeddings": tied,
        "torch_dtype": dtype,
    }


# --- weights -----------------------------------------------------------------


def _positions_moved() -> Transform:
    """transformers' row r is keras_hub's row r - 1 (see the module docstring)."""
    def to_keras_hub(table: np.ndarray) -> np.ndarray:
        return np.concatenate([table[1:], np.zeros_like(table[:1])])

    def to_transformers(table: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros_like(table[:1]), table[:-1]])

    return (to_keras_hub, to_transformers)


def _encoder_prefix(index: int) -> str:
    return "layers/esm_encoder" + (f"_{index}" if index else "")


def _norm_groups(config: dict[str, Any]) -> tuple[str | None, str]:
    if config["use_pre_layer_norm"]:
        return "layers/layer_normalization", "layers/layer_normalization_1"
    return None, "layers/layer_normalization"


# transformers' ESM layer and keras_hub's ESM encoder, by role (see tensor_names).
ESM_LAYER = {**BERT_LAYER, "attention_norm": "attention.LayerNorm", "output_norm": "LayerNorm"}
ESM_ENCODER = {
    "query": "attention_layer/q_dense",
    "key": "attention_layer/k_dense",
    "value": "attention_layer/v_dense",
    "attention_output": "attention_layer/o_dense",
    "attention_norm": "attention_norm",
    "intermediate": "feedforward_intermediate_dense",
    "output": "feedforward_output_dense",
    "output_norm": "feedforward_norm",
}


def backbone_names(config: dict[str, Any]) -> list[tuple[str, str, Transform]]:
    """(transformers name without the `esm.` prefix, keras_hub path, transform) for every backbone tensor with a
    keras_hub home.
    """
    embeddings_norm, output_norm = _norm_groups(config)
    names = [("embeddings.word_embeddings.weight", "layers/embedding/vars/0", SAME)]
    if config["position_embedding_type"] == "absolute":
        names.append(("embeddings.position_embeddings.weight", "layers/position_embedding/vars/0", _positions_moved()))
    if embeddings_norm:
        names += [
            ("embeddings.layer_norm.weight", f"{embeddings_norm}/vars/0", SAME),
            ("embeddings.layer_norm.bias", f"{embeddings_norm}/vars/1", SAME),
        ]
    names += [
        ("encoder.emb_layer_norm_after.weight", f"{output_norm}/vars/0", SAME),
        ("encoder.emb_layer_norm_after.bias", f"{output_norm}/vars/1", SAME),
    ]
    for k in range(config["num_layers"]):
        names += encoder_layer(f"encoder.layer.{k}", _encoder_prefix(k), ESM_LAYER, ESM_ENCODER)
    return names


HEAD_NAMES = driver.head_names("lm_head.dense", "lm_head.layer_norm", "lm_head.bias",
                               bias_path="layers/masked_lm_head/vars/1")
DECODER = "lm_head.decoder.weight"
HEAD_KERNEL = "layers/masked_lm_head/vars/0"
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def _check_rotary_frequencies(tensors: dict[str, np.ndarray], config: dict[str, Any], source: str) -> None:
    """Warn when stored rotary frequencies differ from rope_theta's (mlm recomputes them in float32)."""
    head_dim = config["hidden_dim"] // config["num_heads"]
    expected = 1.0 / (float(config["max_wavelength"]) ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    for name, array in tensors.items():
        if name.endswith("rotary_embeddings.inv_freq") and (
            array.shape != expected.shape or not np.allclose(array, expected, rtol=1e-5, atol=0)):
            log.warning("%s: %s differs from rope_theta's frequencies; mlm computes them from rope_theta in float32, "
                        "so logits may differ slightly from transformers on long sequences", source, name)
            return


def to_keras_hub_arrays(tensors: driver.CheckpointTensors, config: dict,
                        hf_config: dict) -> tuple[driver.Arrays, driver.Arrays | None]:
    """(backbone arrays, head arrays or None) in keras_hub's layout from a transformers state dict."""
    tied = bool(hf_config.get("tie_word_embeddings", True))
    if config["position_embedding_type"] == "rotary":
        _check_rotary_frequencies(tensors.tensors, config, tensors.source)
    expected = {name for name, _, _ in backbone_names(config) + HEAD_NAMES} | {DECODER}
    if config["position_embedding_type"] == "rotary":
        expected.add(
            "embeddings.position_embeddings.weight")  # left in some rotary checkpoints; transformers ignores it too
    unused = [
        name for name in tensors.tensors
        if name not in expected and not name.endswith(IGNORED_SUFFIXES) and not name.startswith(IGNORED_PREFIXES)
    ]
    if unused:
        listed = f"{', '.join(sorted(unused)[:3])}{' ...' if len(unused) > 3 else ''}"
        raise PresetError(f"{tensors.source}: tensors ESM here has no place for: {listed}")
    backbone = tensors.convert(backbone_names(config))
    head = tensors.convert_head(HEAD_NAMES)
    if head is None:
        return backbone, None
    projection = tensors.get(DECODER) if not tied else None
    if projection is None:
        projection = tensors[WORD_EMBEDDINGS]
    if projection.shape != tensors[WORD_EMBEDDINGS].shape:
        raise PresetError(
            f"{tensors.source}: tensor {DECODER!r} has shape {projection.shape}, which does not fit the config"
        )
    head[HEAD_KERNEL] = np.ascontiguousarray(projection.astype(np.float32, copy=False).T)
    return backbone, head


def to_transformers_tensors(
    backbone: dict[str, np.ndarray], head: dict[str, np.ndarray], config: dict[str, Any]
) -> tuple[dict[str, np.ndarray], bool]:
    """(EsmForMaskedLM state dict, whether the decoder is tied) from keras_hub-layout arrays.

    Biases absent from a `use_bias=False` model are written as zeros: transformers' ESM always has them.
    """
    tensors = {}
    for hf_name, kh_name, (_, backward) in backbone_names(config):
        array = backbone.get(kh_name)
        if array is None:
            array = np.zeros(backbone[kh_name.replace("/vars/1", "/vars/0")].shape[-1], np.float32)
        tensors[MODEL_PREFIX + hf_name] = np.ascontiguousarray(backward(array))
    for hf_name, kh_name, (_, backward) in HEAD_NAMES:
        tensors[hf_name] = np.ascontiguousarray(backward(head[kh_name]))
    decoder = np.ascontiguousarray(head[HEAD_KERNEL].T)
    tied = bool(np.array_equal(decoder, tensors[MODEL_PREFIX + WORD_EMBEDDINGS]))
    if not tied:
        tensors[DECODER] = decoder
    return tensors, tied


# --- tokenizer ---------------------------------------------------------------


def read_esm_vocabulary(directory: PresetDirectory) -> list[str]:
    """vocab.txt as transformers' EsmTokenizer reads it (each line stripped); its special tokens must be ESM's."""
    source = str(directory.root)
    if not directory.exists("vocab.txt"):
        raise PresetError(f"{source}: no vocab.txt (transformers' EsmTokenizer vocabulary)")
    try:
        text = directory.path("vocab.txt").read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise PresetError(f"{source}/vocab.txt: not valid UTF-8 (byte {error.start})") from None
    vocabulary = [line.strip() for line in text.splitlines()]
    tokenizer_config = directory.read_json("tokenizer_config.json") if directory.exists("tokenizer_config.json") else {}
    for key, expected in SPECIAL_TOKENS.items():
        value = tokenizer_config.get(key, expected)
        value = value.get("content") if isinstance(value, dict) else value
        if value != expected:
            raise PresetError(
                f"{source}: tokenizer {key} {value!r} differs from ESM's {expected!r}, which mlm's ESM tokenizer "
                "requires")
    return vocabulary


def write_tokenizer_files(tokenizer, directory: Path, sequence_length: int) -> None:
    """vocab.txt, tokenizer_config.json and special_tokens_map.json for transformers' EsmTokenizer."""
    if tokenizer.normalization != "transformers":
        log.warning(
            "transformers' EsmTokenizer reads unspaced sequences residue by residue, where this model's keras_hub "
                    "tokenizer reads each unspaced word as one <unk>; token ids agree on space-separated residues")
    (directory / "vocab.txt").write_text("\n".join(tokenizer.get_vocabulary()), encoding="utf-8")
    tokenizer_config = {"tokenizer_class": "EsmTokenizer", "model_max_length": sequence_length, **SPECIAL_TOKENS}
    driver.write_tokenizer_config(directory, tokenizer_config, SPECIAL_TOKENS)


# --- whole checkpoints --------------------------------------------------------


def _usable_length(config: dict[str, Any]) -> int:
    """The longest sequence transformers' position table serves (absolute positions start at pad_token_id + 1)."""
    if config["position_embedding_type"] == "absolute":
        return config["max_sequence_length"] - config["pad_token_id"] - 1
    return config["max_sequence_length"]


def _sequence_length(config: dict[str, Any], source: PresetDirectory) -> int:
    length = _usable_length(config)
    if length < 3:
        raise PresetError(
            f"{source.path('config.json')}: max_position_embeddings {config['max_sequence_length']} "
            "leaves no room for a sequence"
        )
    return min(512, length)


def _read_tokenizer(source: PresetDirectory, config: dict[str, Any]):
    from mlm_cli.models.esm.esm_tokenizer import ESMTokenizer

    try:
        return ESMTokenizer(read_esm_vocabulary(source), special_tokens_in_strings=True, normalization="transformers")
    except (TypeError, ValueError) as error:
        raise PresetError(f"{source.root}: {error}") from None


def _check_export(model) -> None:
    backbone = model.backbone
    if model.preprocessor is None:
        raise BadInputError("this ESM model has no tokenizer to export", hint="export a preset that has tokenizer.json")
    if backbone.activation != "gelu":
        raise BadInputError(
            f"this ESM model uses the {backbone.activation!r} activation; transformers' ESM only has GELU",
                            hint="export it with --format keras_hub")


def to_transformers(model, backbone_arrays: driver.Arrays, head_arrays: driver.Arrays,
                    dtype: str) -> tuple[driver.Arrays, dict[str, Any]]:
    """An EsmForMaskedLM state dict and its config (with the backbone's token-dropout settings)."""
    backbone = model.backbone
    config = {**backbone.get_config(), "token_dropout": backbone.token_dropout}
    tensors, tied = to_transformers_tensors(backbone_arrays, head_arrays, config)
    mask_token_id = backbone.mask_token_id if backbone.token_dropout else model.preprocessor.tokenizer.mask_token_id
    return tensors, transformers_config(config, mask_token_id, tied, dtype)


CONVERTER = driver.TransformersConverter(
    family="esm",
    name="ESM",
    prefix=MODEL_PREFIX,
    base_model="EsmModel",
    backbone_config=lambda hf_config, source: backbone_config(
        hf_config, read_esm_vocabulary(source), str(source.path("config.json"))
    ),
    tokenizer=_read_tokenizer,
    to_keras_hub=to_keras_hub_arrays,
    to_transformers=to_transformers,
    write_tokenizer=lambda model, directory: write_tokenizer_files(
        model.preprocessor.tokenizer, directory, model.preprocessor.sequence_length
    ),
    check_export=_check_export,
    sequence_length=_sequence_length,
    tied_head=False,
)
