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
from mlm_cli.models.convert.safetensors_io import read_checkpoint_tensors, write_transformers_weights
from mlm_cli.models.convert.weight_transforms import SAME, TRANSPOSED, Transform, token_text
from mlm_cli.models.convert.transformers_bert import backbone_names as bert_backbone_names
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
            "vocabulary_size": int(hf_config["vocab_size"]),
            "num_layers": int(hf_config["num_hidden_layers"]),
            "num_heads": int(hf_config["num_attention_heads"]),
            "hidden_dim": int(hf_config["hidden_size"]),
            "intermediate_dim": int(hf_config["intermediate_size"]),
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
        problems.append(f"max_position_embeddings {hf_config.get('max_position_embeddings')} with pad_token_id {position_offset - 1}")
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
        "vocab_size": backbone_config["vocabulary_size"],
        "hidden_size": backbone_config["hidden_dim"],
        "num_hidden_layers": backbone_config["num_layers"],
        "num_attention_heads": backbone_config["num_heads"],
        "intermediate_size": backbone_config["intermediate_dim"],
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


HEAD_NAMES: list[tuple[str, str, Transform]] = [
    ("lm_head.dense.weight", "layers/masked_lm_head/_intermediate_dense/vars/0", TRANSPOSED),
    ("lm_head.dense.bias", "layers/masked_lm_head/_intermediate_dense/vars/1", SAME),
    ("lm_head.layer_norm.weight", "layers/masked_lm_head/_intermediate_layer_norm/vars/0", SAME),
    ("lm_head.layer_norm.bias", "layers/masked_lm_head/_intermediate_layer_norm/vars/1", SAME),
    ("lm_head.bias", "layers/masked_lm_head/vars/0", SAME),
]


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


def _strip_prefix(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drop the `roberta.` prefix of the base model's tensors (RobertaModel checkpoints have none)."""
    return {name.removeprefix("roberta."): array for name, array in tensors.items()}


def _tensor(tensors: dict[str, np.ndarray], name: str, source: str) -> np.ndarray:
    if name not in tensors:
        raise PresetError(f"{source}: tensor {name!r} is missing")
    return tensors[name].astype(np.float32, copy=False)


def to_keras_hub_arrays(tensors: dict[str, np.ndarray], config: dict[str, Any], source: str, pad_token_id: int = PAD_TOKEN_ID) -> tuple[dict, dict | None]:
    """(backbone arrays, head arrays or None) in keras_hub's layout from a transformers state dict."""
    tensors = _strip_prefix(tensors)

    def convert(names):
        arrays = {}
        for hf_name, kh_name, (forward, _) in names:
            try:
                arrays[kh_name] = np.asarray(forward(_tensor(tensors, hf_name, source)))
            except ValueError:
                raise PresetError(f"{source}: tensor {hf_name!r} has shape {tensors[hf_name].shape}, which does not fit the config") from None
        return arrays

    backbone = convert(backbone_names(config))
    h, length, offset = config["hidden_dim"], config["max_sequence_length"], pad_token_id + 1
    positions = _tensor(tensors, "embeddings.position_embeddings.weight", source)
    if positions.shape != (length + offset, h):
        raise PresetError(f"{source}: position embeddings have shape {positions.shape}, expected {(length + offset, h)}")
    token_type = tensors.get("embeddings.token_type_embeddings.weight")
    type_row = token_type[0].astype(np.float32) if token_type is not None and token_type.ndim == 2 and token_type.shape[1] == h else np.zeros(h, np.float32)
    backbone[POSITION_EMBEDDING] = positions[offset:] + type_row  # transformers adds type row 0 to every token
    head = convert(HEAD_NAMES) if all(n in tensors for n, _, _ in HEAD_NAMES) else None
    decoder = tensors.get("lm_head.decoder.weight")
    if head is not None and decoder is not None and not np.array_equal(decoder, tensors["embeddings.word_embeddings.weight"]):
        raise PresetError(f"{source}: the MLM decoder is not tied to the word embeddings, which mlm requires")
    return backbone, head


def to_transformers_tensors(backbone: dict[str, np.ndarray], head: dict[str, np.ndarray], config: dict[str, Any]) -> dict[str, np.ndarray]:
    """A RobertaForMaskedLM state dict from keras_hub-layout arrays (decoder tied to the embeddings, as transformers stores it)."""
    tensors = {f"roberta.{hf_name}": np.ascontiguousarray(backward(backbone[kh_name])) for hf_name, kh_name, (_, backward) in backbone_names(config)}
    h = config["hidden_dim"]
    unused_rows = np.zeros((PAD_TOKEN_ID + 1, h), dtype=np.float32)
    tensors["roberta.embeddings.position_embeddings.weight"] = np.concatenate([unused_rows, backbone[POSITION_EMBEDDING]])
    tensors["roberta.embeddings.token_type_embeddings.weight"] = np.zeros((1, h), dtype=np.float32)
    for hf_name, kh_name, (_, backward) in HEAD_NAMES:
        tensors[hf_name] = np.ascontiguousarray(backward(head[kh_name]))
    return tensors


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
            vocabulary, merges = read_vocabulary(directory.path("vocab.json")), read_merges(directory.path("merges.txt"))
        elif model.get("type") == "BPE" and isinstance(model.get("vocab"), dict) and isinstance(model.get("merges"), list):
            vocabulary = model["vocab"]
            merges = [rule if isinstance(rule, str) else " ".join(rule) for rule in model["merges"]]
        else:
            raise PresetError(f"{source}: no vocab.json + merges.txt or byte-level BPE tokenizer.json")
    except (ValueError, TypeError) as error:
        raise PresetError(f"{source}: unreadable BPE vocabulary ({error})") from None
    named = {key: token_text(tokenizer_config.get(key, token)) for key, token in SPECIAL_TOKENS.items()}
    if named != SPECIAL_TOKENS:
        raise PresetError(f"{source}: special tokens {named} differ from RoBERTa's {SPECIAL_TOKENS}, which mlm requires")
    pre_tokenizer = tokenizer_json.get("pre_tokenizer") if isinstance(tokenizer_json, dict) else None
    add_prefix_space = tokenizer_config.get("add_prefix_space")
    if tokenizer_config.get("tokenizer_class", "RobertaTokenizer") in ROBERTA_TOKENIZER_CLASSES or not tokenizer_json:
        normalization = "transformers"
    elif isinstance(pre_tokenizer, dict) and pre_tokenizer.get("type") == "ByteLevel" and not tokenizer_json.get("normalizer"):
        normalization = "transformers" if pre_tokenizer.get("use_regex", True) else "keras_hub"
        add_prefix_space = pre_tokenizer.get("add_prefix_space", False) if add_prefix_space is None else add_prefix_space
    else:
        raise PresetError(f"{source}: tokenizer.json's pipeline is not plain byte-level BPE, which mlm's RoBERTa requires")
    if normalization == "transformers" and _mask_keeps_left_space(tokenizer_json):
        log.warning("%s: its tokenizer keeps the space before <mask>; mlm's transformers tokenization absorbs it, as the "
                    "Hub's RoBERTa tokenizers do, so text containing ' <mask>' tokenizes differently", directory.root.name)
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
    (directory / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{rule}\n" for rule in tokenizer.merges), encoding="utf-8")
    pipeline = Tokenizer.from_str(tokenizer.encoder.tokenizer.to_str())
    pipeline.post_processor = processors.RobertaProcessing(
        (tokenizer.end_token, tokenizer.end_token_id), (tokenizer.start_token, tokenizer.start_token_id),
        trim_offsets=True, add_prefix_space=tokenizer.add_prefix_space,
    )
    pipeline.save(str(directory / "tokenizer.json"))
    # transformers matches every named special token in raw text: name only those mlm's tokenizer keeps whole.
    special = {key: token for key, token in SPECIAL_TOKENS.items() if token in tokenizer.unsplittable_tokens}
    tokenizer_config = {
        "tokenizer_class": "RobertaTokenizer" if tokenizer.normalization == "transformers" else "PreTrainedTokenizerFast",
        "add_prefix_space": tokenizer.add_prefix_space,
        "model_max_length": model_max_length,
        **special,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")


# --- whole checkpoints --------------------------------------------------------


def model_from_checkpoint(source: PresetDirectory):
    """A RobertaMaskedLM equivalent to the transformers RoBERTa checkpoint in `source`."""
    from mlm_cli.models import RobertaBackbone, RobertaMaskedLM, RobertaMaskedLMPreprocessor, RobertaTokenizer
    from mlm_cli.models.roberta import roberta_weights

    hf_config = source.read_json("config.json")
    config = backbone_config(hf_config, str(source.path("config.json")))
    tensors = read_checkpoint_tensors(source)
    backbone_arrays, head_arrays = to_keras_hub_arrays(tensors, config, str(source.root), int(hf_config.get("pad_token_id", PAD_TOKEN_ID)))
    try:
        tokenizer = RobertaTokenizer(**tokenizer_settings(source))
    except ValueError as error:
        raise PresetError(f"{source.root}: {error}") from None
    if tokenizer.vocabulary_size() != config["vocabulary_size"]:
        log.warning("%s: vocabulary has %d tokens, the model %d", source.root, tokenizer.vocabulary_size(), config["vocabulary_size"])
    backbone = RobertaBackbone(**config)
    roberta_weights.import_backbone(backbone, backbone_arrays)
    preprocessor = RobertaMaskedLMPreprocessor(tokenizer, sequence_length=min(512, config["max_sequence_length"]))
    model = RobertaMaskedLM(backbone, preprocessor=preprocessor)
    if head_arrays is None:
        log.warning("%s has no masked-LM head (%s): the head is freshly initialised, tied to the token embeddings",
                    source.root.name, ",".join(hf_config.get("architectures") or ["RobertaModel"]))
    else:
        roberta_weights.import_head(model.masked_lm_head, head_arrays)
    return model


def write_checkpoint(model, directory: Path, dtype: str = "float32") -> None:
    """Write a RobertaForMaskedLM checkpoint (config, safetensors, byte-level BPE tokenizer files) into `directory`."""
    from mlm_cli.models.roberta import roberta_weights

    backbone = model.backbone
    config = backbone.get_config()
    tensors = to_transformers_tensors(roberta_weights.export_backbone(backbone), roberta_weights.export_head(model.masked_lm_head), config)
    write_transformers_weights(directory, tensors, transformers_config(config, dtype), dtype)
    write_tokenizer_files(model.preprocessor.tokenizer, directory, model.preprocessor.sequence_length)
