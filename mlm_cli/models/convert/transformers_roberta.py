"""RoBERTa in Hugging Face transformers' layout: config keys, tensor names and the byte-level BPE tokenizer files.

Weights are mapped to and from keras_hub's `.weights.h5` layout, which mlm already reads
and writes, so a transformers checkpoint becomes an ordinary keras_hub preset. Two facts
of transformers' RoBERTa shape the mapping (modeling_roberta.py):

- positions are numbered from `pad_token_id + 1` (2 for RoBERTa), so its position table
  has `pad_token_id + 1` unused leading rows and `max_position_embeddings` is keras_hub's
  `max_sequence_length + 2`;
- every token adds row 0 of a token-type table (type_vocab_size 1), which keras_hub's
  RoBERTa lacks: it is folded into the position rows on import and written as zeros on export.

XLM-RoBERTa has the same model under the same tensor names (transformers_xlm_roberta.py
reuses this module's weight mapping).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.errors import PresetError
from mlm_cli.models.convert import transformers_driver as driver
from mlm_cli.models.convert.transformers_bert import backbone_names as bert_backbone_names
from mlm_cli.models.convert.weight_transforms import SAME, Transform, token_text
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.token_position_layout import EMBEDDINGS_NORM, POSITION_EMBEDDING, TOKEN_EMBEDDING

log = logging.getLogger("mlm")

LAYER_NORM_EPSILON = 1e-5  # mlm's (and keras_hub's) RoBERTa layer norms
PAD_TOKEN_ID = 1  # RoBERTa's and XLM-R's <pad>: transformers' positions start at PAD_TOKEN_ID + 1
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                  "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}


# --- config ------------------------------------------------------------------


def backbone_config(hf_config: dict[str, Any], source: str, family: str = "RoBERTa") -> dict[str, Any]:
    """RobertaBackbone keyword arguments for a transformers RobertaConfig; refuses what mlm cannot represent."""
    try:
        position_offset = int(hf_config.get("pad_token_id", PAD_TOKEN_ID)) + 1
        config = {
            **driver.encoder_sizes(hf_config),
            "dropout": float(hf_config.get("hidden_dropout_prob", 0.1)),
            "max_sequence_length": int(hf_config.get("max_position_embeddings", 514)) - position_offset,
        }
    except (KeyError, TypeError, ValueError) as error:
        raise PresetError(f"{source}: incomplete {family} config ({error})") from None
    problems = []
    if hf_config.get("hidden_act", "gelu") != "gelu":
        problems.append(f"hidden_act {hf_config.get('hidden_act')!r} (mlm's {family} uses exact GELU, 'gelu')")
    if hf_config.get("position_embedding_type", "absolute") != "absolute":
        problems.append(f"position_embedding_type {hf_config.get('position_embedding_type')!r}")
    if abs(float(hf_config.get("layer_norm_eps", LAYER_NORM_EPSILON)) - LAYER_NORM_EPSILON) > 1e-12:
        problems.append(f"layer_norm_eps {hf_config.get('layer_norm_eps')} (mlm's {family} uses 1e-05)")
    if hf_config.get("is_decoder") or hf_config.get("add_cross_attention"):
        problems.append("a decoder with cross-attention")
    if position_offset < 1 or config["max_sequence_length"] < 1:
        problems.append(
            f"max_position_embeddings {hf_config.get('max_position_embeddings')} with pad_token_id "
            f"{position_offset - 1}")
    if problems:
        raise PresetError(f"{source}: unsupported {family} variant: {'; '.join(problems)}")
    return config


def transformers_config(
    backbone_config: dict[str, Any], dtype: str, model_type: str = "roberta", architecture: str = "RobertaForMaskedLM"
) -> dict[str, Any]:
    """A transformers RobertaConfig dict for a RobertaBackbone config."""
    return {
        "architectures": [architecture],
        "model_type": model_type,
        **driver.transformers_sizes(backbone_config),
        "hidden_act": "gelu",
        "hidden_dropout_prob": backbone_config["dropout"],
        "attention_probs_dropout_prob": backbone_config["dropout"],
        "max_position_embeddings": backbone_config["max_sequence_length"] + PAD_TOKEN_ID + 1,
        "type_vocab_size": 1,
        "initializer_range": 0.02,
        "layer_norm_eps": LAYER_NORM_EPSILON,
        "pad_token_id": PAD_TOKEN_ID,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "position_embedding_type": "absolute",
        "tie_word_embeddings": True,
        "torch_dtype": dtype,
    }


# --- weights -----------------------------------------------------------------


HEAD_NAMES = driver.head_names("lm_head.dense", "lm_head.layer_norm", "lm_head.bias")


def backbone_names(config: dict[str, Any]) -> list[tuple[str, str, Transform]]:
    """(transformers name without `roberta.`, keras_hub path, transform) for tensors that map one to one.

    The encoder layers are named exactly as in BERT; the position table is handled apart.
    """
    names = [
        ("embeddings.word_embeddings.weight", TOKEN_EMBEDDING, SAME),
        ("embeddings.LayerNorm.weight", f"{EMBEDDINGS_NORM}/vars/0", SAME),
        ("embeddings.LayerNorm.bias", f"{EMBEDDINGS_NORM}/vars/1", SAME),
    ]
    return names + [entry for entry in bert_backbone_names(config) if entry[0].startswith("encoder.")]


def to_keras_hub_arrays(tensors: driver.CheckpointTensors, config: dict,
                        hf_config: dict) -> tuple[driver.Arrays, driver.Arrays | None]:
    """(backbone arrays, head arrays or None) in keras_hub's layout from a transformers state dict."""
    backbone = tensors.convert(backbone_names(config))
    h, length = config["hidden_dim"], config["max_sequence_length"]
    offset = int(hf_config.get("pad_token_id", PAD_TOKEN_ID)) + 1
    positions = tensors["embeddings.position_embeddings.weight"].astype(np.float32, copy=False)
    if positions.shape != (length + offset, h):
        expected = (length + offset, h)
        raise PresetError(f"{tensors.source}: position embeddings have shape {positions.shape}, expected {expected}")
    token_type = tensors.get("embeddings.token_type_embeddings.weight")
    fits = token_type is not None and token_type.ndim == 2 and token_type.shape[1] == h
    type_row = token_type[0].astype(np.float32) if fits else np.zeros(h, np.float32)
    backbone[POSITION_EMBEDDING] = positions[offset:] + type_row  # transformers adds type row 0 to every token
    head = tensors.convert_head(HEAD_NAMES)
    tensors.require_tied(head, "lm_head.decoder.weight", "embeddings.word_embeddings.weight",
                         "the MLM decoder is not tied to the word embeddings, which mlm requires")
    return backbone, head


def to_transformers(model, backbone: driver.Arrays, head: driver.Arrays, dtype: str, model_type: str = "roberta",
                    architecture: str = "RobertaForMaskedLM") -> tuple[driver.Arrays, dict[str, Any]]:
    """A RobertaForMaskedLM (or XLM-R) state dict, decoder tied to the embeddings as transformers stores it, and
    its config."""
    config = model.backbone.get_config()
    tensors = driver.transformers_tensors(backbone_names(config), backbone, "roberta.")
    h = config["hidden_dim"]
    unused_rows = np.zeros((PAD_TOKEN_ID + 1, h), dtype=np.float32)
    tensors["roberta.embeddings.position_embeddings.weight"] = np.concatenate(
        [unused_rows, backbone[POSITION_EMBEDDING]])
    tensors["roberta.embeddings.token_type_embeddings.weight"] = np.zeros((1, h), dtype=np.float32)
    tensors.update(driver.transformers_tensors(HEAD_NAMES, head))
    return tensors, transformers_config(config, dtype, model_type, architecture)


# --- tokenizer ---------------------------------------------------------------

# transformers' own RoBERTa tokenizer classes rebuild GPT-2's pre-tokenization whatever tokenizer.json says.
ROBERTA_TOKENIZER_CLASSES = {"RobertaTokenizer", "RobertaTokenizerFast"}


def _read_json(directory: PresetDirectory, name: str) -> Any:
    from mlm_cli.models.tokenizers.byte_pair_tokenizer import read_json_asset

    try:
        return read_json_asset(directory.require(name))
    except ValueError as error:
        raise PresetError(f"{directory.path(name)}: {error}") from None


def tokenizer_settings(directory: PresetDirectory) -> dict[str, Any]:
    """RobertaTokenizer keyword arguments (vocabulary, merges, add_prefix_space, normalization, unsplittable_tokens)."""
    from mlm_cli.models.tokenizers.byte_pair_tokenizer import read_merges, read_vocabulary

    source = str(directory.root)
    tokenizer_json = _read_json(directory, "tokenizer.json") if directory.exists("tokenizer.json") else {}
    tokenizer_config = directory.read_json("tokenizer_config.json") if directory.exists("tokenizer_config.json") else {}
    model = tokenizer_json.get("model") if isinstance(tokenizer_json, dict) else None
    model = model if isinstance(model, dict) else {}
    try:
        if directory.exists("vocab.json") and directory.exists("merges.txt"):
            vocabulary, merges = read_vocabulary(directory.path("vocab.json")), read_merges(
                directory.path("merges.txt"))
        elif model.get("type") == "BPE" and isinstance(model.get("vocab"), dict) and isinstance(model.get("merges"),
                                                                                                list):
            vocabulary = model["vocab"]
            merges = [rule if isinstance(rule, str) else " ".join(rule) for rule in model["merges"]]
        else:
            raise PresetError(f"{source}: no vocab.json + merges.txt or byte-level BPE tokenizer.json")
    except (ValueError, TypeError) as error:
        raise PresetError(f"{source}: unreadable BPE vocabulary ({error})") from None
    named = {key: token_text(tokenizer_config.get(key, token)) for key, token in SPECIAL_TOKENS.items()}
    if named != SPECIAL_TOKENS:
        raise PresetError(
            f"{source}: special tokens {named} differ from RoBERTa's {SPECIAL_TOKENS}, which mlm requires")
    pre_tokenizer = tokenizer_json.get("pre_tokenizer") if isinstance(tokenizer_json, dict) else None
    add_prefix_space = tokenizer_config.get("add_prefix_space")
    if tokenizer_config.get("tokenizer_class", "RobertaTokenizer") in ROBERTA_TOKENIZER_CLASSES or not tokenizer_json:
        normalization = "transformers"
    elif isinstance(pre_tokenizer, dict) and pre_tokenizer.get("type") == "ByteLevel" and not tokenizer_json.get(
        "normalizer"):
        normalization = "transformers" if pre_tokenizer.get("use_regex", True) else "keras_hub"
        add_prefix_space = pre_tokenizer.get("add_prefix_space",
                                             False) if add_prefix_space is None else add_prefix_space
    else:
        raise PresetError(
            f"{source}: tokenizer.json's pipeline is not plain byte-level BPE, which mlm's RoBERTa requires")
    if normalization == "transformers" and _mask_keeps_left_space(tokenizer_json):
        log.warning(
            "%s: its tokenizer keeps the space before <mask>; mlm's transformers tokenization absorbs it, as the "
                    "Hub's RoBERTa tokenizers do, so text containing ' <mask>' tokenizes differently",
                    directory.root.name)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] if normalization == "transformers" else None
    return {
        "vocabulary": vocabulary,
        "merges": merges,
        "add_prefix_space": bool(add_prefix_space),
        "normalization": normalization,
        "unsplittable_tokens": [token for token in specials if token in vocabulary] if specials else None,
    }




def _mask_keeps_left_space(tokenizer_json: Any) -> bool:
    added = tokenizer_json.get("added_tokens") if isinstance(tokenizer_json, dict) else None
    return any(isinstance(t, dict) and t.get("content") == "<mask>" and not t.get("lstrip") for t in added or [])


def write_tokenizer_files(tokenizer, directory: Path, model_max_length: int) -> None:
    """vocab.json, merges.txt, tokenizer.json and tokenizer_config.json that AutoTokenizer loads with mlm's token ids.

    transformers' RobertaTokenizer applies GPT-2's pre-tokenization whatever tokenizer.json
    says, so a tokenizer with keras_hub's tokenization is written as a plain
    PreTrainedTokenizerFast, whose tokenizer.json is used as is.
    """
    from tokenizers import Tokenizer, processors

    vocabulary = {token: token_id for token_id, token in enumerate(tokenizer.get_vocabulary())}
    (directory / "vocab.json").write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{rule}\n" for rule in tokenizer.merges),
                                          encoding="utf-8")
    pipeline = Tokenizer.from_str(tokenizer.encoder.tokenizer.to_str())
    pipeline.post_processor = processors.RobertaProcessing(
        (tokenizer.end_token, tokenizer.end_token_id), (tokenizer.start_token, tokenizer.start_token_id),
        trim_offsets=True, add_prefix_space=tokenizer.add_prefix_space,
    )
    pipeline.save(str(directory / "tokenizer.json"))
    # transformers matches every named special token in raw text: name only those mlm's tokenizer keeps whole.
    special = {key: token for key, token in SPECIAL_TOKENS.items() if token in tokenizer.unsplittable_tokens}
    tokenizer_config = {
        "tokenizer_class": (
            "RobertaTokenizer" if tokenizer.normalization == "transformers" else "PreTrainedTokenizerFast"
        ),
        "add_prefix_space": tokenizer.add_prefix_space,
        "model_max_length": model_max_length,
        **special,
    }
    driver.write_tokenizer_config(directory, tokenizer_config, special)


# --- whole checkpoints --------------------------------------------------------


def _read_tokenizer(source: PresetDirectory, config: dict[str, Any]):
    from mlm_cli.models.roberta.roberta_tokenizer import RobertaTokenizer

    try:
        return RobertaTokenizer(**tokenizer_settings(source))
    except ValueError as error:
        raise PresetError(f"{source.root}: {error}") from None


def write_tokenizer(model, directory: Path) -> None:
    """The byte-level BPE tokenizer files of the model's tokenizer."""
    write_tokenizer_files(model.preprocessor.tokenizer, directory, model.preprocessor.sequence_length)


CONVERTER = driver.TransformersConverter(
    family="roberta",
    name="RoBERTa",
    prefix="roberta.",
    base_model="RobertaModel",
    backbone_config=driver.from_config_json(backbone_config),
    tokenizer=_read_tokenizer,
    to_keras_hub=to_keras_hub_arrays,
    to_transformers=to_transformers,
    write_tokenizer=write_tokenizer,
)
