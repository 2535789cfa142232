"""ALBERT in Hugging Face transformers' layout: config keys, tensor names and the tokenizer settings.

Weights are mapped to and from keras_hub's `.weights.h5` layout, which mlm already reads and
writes, so a transformers checkpoint becomes an ordinary keras_hub preset. transformers'
AlbertTokenizer normalises text before the SentencePiece model (see
mlm_cli/models/albert/albert_transformers_tokenizer.py); the converted tokenizer records which
normalisation, so token ids stay equal to transformers'.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mlm_cli.errors import PresetError
from mlm_cli.models.convert import transformers_driver as driver
from mlm_cli.models.convert.tensor_names import BERT_EMBEDDINGS, TRANSFORMER_ENCODER, encoder_layer, linear
from mlm_cli.models.convert.weight_transforms import Transform, token_text
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.encoder_layout import encoder_prefix

log = logging.getLogger("mlm")

LAYER_NORM_EPSILON = 1e-12  # every ALBERT encoder layer norm (keras_hub's and mlm's AlbertBackbone)
# transformers' hidden_act -> mlm's feedforward_activation (tanh-approximate GELU has two names there)
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate"}
SPIECE_FILE = "spiece.model"
SPECIAL_TOKENS = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "<pad>", "mask_token": "[MASK]",
                  "unk_token": "<unk>"}
MAX_SPIECE_BYTES = 1 << 30


def backbone_config(hf_config: dict[str, Any], source: str) -> dict[str, Any]:
    """AlbertBackbone keyword arguments for a transformers AlbertConfig; refuses what ALBERT here cannot represent."""
    try:
        config = {
            **driver.encoder_sizes(hf_config),
            "embedding_dim": int(hf_config.get("embedding_size", 128)),
            "num_groups": int(hf_config.get("num_hidden_groups", 1)),
            "num_inner_repetitions": int(hf_config.get("inner_group_num", 1)),
            "dropout": float(hf_config.get("attention_probs_dropout_prob", 0.0)),
            "max_sequence_length": int(hf_config.get("max_position_embeddings", 512)),
            "num_segments": int(hf_config.get("type_vocab_size", 2)),
            "feedforward_activation": ACTIVATIONS.get(hf_config.get("hidden_act", "gelu_new"), ""),
            "head_layer_norm_epsilon": float(hf_config.get("layer_norm_eps", LAYER_NORM_EPSILON)),
        }
    except (KeyError, TypeError, ValueError) as error:
        raise PresetError(f"{source}: incomplete ALBERT config ({error})") from None
    problems = []
    if not config["feedforward_activation"]:
        problems.append(f"hidden_act {hf_config.get('hidden_act')!r} (supported: {', '.join(ACTIVATIONS)})")
    if hf_config.get("position_embedding_type", "absolute") != "absolute":
        problems.append(f"position_embedding_type {hf_config.get('position_embedding_type')!r}")
    if abs(config["head_layer_norm_epsilon"] - LAYER_NORM_EPSILON) > 1e-15:
        problems.append(f"layer_norm_eps {hf_config.get('layer_norm_eps')} (mlm's ALBERT uses 1e-12)")
    if config["num_groups"] < 1 or config["num_layers"] % config["num_groups"]:
        problems.append(
            f"num_hidden_layers {config['num_layers']} not divisible by num_hidden_groups {config['num_groups']}")
    if problems:
        raise PresetError(f"{source}: unsupported ALBERT variant: {'; '.join(problems)}")
    return config


def transformers_config(backbone_config: dict[str, Any], tokenizer) -> dict[str, Any]:
    """A transformers AlbertConfig dict for an AlbertBackbone config."""
    return {
        "architectures": ["AlbertForMaskedLM"],
        "model_type": "albert",
        **driver.transformers_sizes(backbone_config),
        "embedding_size": backbone_config["embedding_dim"],
        "num_hidden_groups": backbone_config["num_groups"],
        "inner_group_num": backbone_config["num_inner_repetitions"],
        "hidden_act": "gelu" if backbone_config["feedforward_activation"] == "gelu" else "gelu_new",
        "hidden_dropout_prob": backbone_config["dropout"],
        "attention_probs_dropout_prob": backbone_config["dropout"],
        "classifier_dropout_prob": 0.1,
        "max_position_embeddings": backbone_config["max_sequence_length"],
        "type_vocab_size": backbone_config["num_segments"],
        "initializer_range": 0.02,
        "layer_norm_eps": LAYER_NORM_EPSILON,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.cls_token_id,
        "eos_token_id": tokenizer.sep_token_id,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }


# --- weights -----------------------------------------------------------------

# transformers' ALBERT encoder layer, by role (see tensor_names.BERT_LAYER).
ALBERT_LAYER = {
    "query": "attention.query",
    "key": "attention.key",
    "value": "attention.value",
    "attention_output": "attention.dense",
    "attention_norm": "attention.LayerNorm",
    "intermediate": "ffn",
    "output": "ffn_output",
    "output_norm": "full_layer_layer_norm",
}


def backbone_names(config: dict[str, Any]) -> list[tuple[str, str, Transform]]:
    """(transformers name without the `albert.` prefix, keras_hub path, transform) for every backbone tensor."""
    h, a = config["hidden_dim"], config["num_heads"]
    projection = linear("encoder.embedding_hidden_mapping_in", "layers/dense")
    names = BERT_EMBEDDINGS + projection + linear("pooler", "layers/dense_1")
    inner = config["num_inner_repetitions"]
    for k in range(config["num_groups"] * inner):
        hf = f"encoder.albert_layer_groups.{k // inner}.albert_layers.{k % inner}"
        names += encoder_layer(hf, encoder_prefix(k), ALBERT_LAYER, TRANSFORMER_ENCODER, (h, a))
    return names


HEAD_NAMES = driver.head_names("predictions.dense", "predictions.LayerNorm", "predictions.bias")
POOLER_NAMES = ("pooler.weight", "pooler.bias")


def to_keras_hub_arrays(tensors: driver.CheckpointTensors, config: dict,
                        hf_config: dict) -> tuple[driver.Arrays, driver.Arrays | None]:
    """(backbone arrays, head arrays or None) in keras_hub's layout from a transformers state dict.

    AlbertForMaskedLM has no pooler: the backbone then keeps its fresh (frozen, unused) one.
    """
    backbone = tensors.convert(backbone_names(config), optional=POOLER_NAMES)
    head = tensors.convert_head(HEAD_NAMES)
    tensors.require_tied(head, "predictions.decoder.weight", "embeddings.word_embeddings.weight",
                         "the MLM decoder is not tied to the word embeddings, which ALBERT here requires")
    return backbone, head


def to_transformers(model, backbone: driver.Arrays, head: driver.Arrays,
                    dtype: str) -> tuple[driver.Arrays, dict[str, Any]]:
    """An AlbertForMaskedLM state dict (decoder tied, stored once as transformers does) and its config."""
    config = {**model.backbone.get_config(), "feedforward_activation": model.backbone.feedforward_activation}
    tensors = driver.transformers_tensors(backbone_names(config), backbone, "albert.")
    tensors.update(driver.transformers_tensors(HEAD_NAMES, head))
    return tensors, {**transformers_config(config, model.preprocessor.tokenizer), "torch_dtype": dtype}


# --- tokenizer ---------------------------------------------------------------




def proto_from_tokenizer_json(data: dict[str, Any], source: str) -> bytes:
    """A SentencePiece model file equivalent to a transformers Unigram tokenizer.json (pieces, types, charsmap)."""
    from mlm_cli.models.convert.tokenizer_json import precompiled_charsmap
    from mlm_cli.models.tokenizers.sentencepiece_model_file import (
        CONTROL,
        NORMAL,
        UNIGRAM,
        UNKNOWN,
        USER_DEFINED,
        Piece,
        SentencePieceModel,
        write_sentencepiece_model,
    )

    model = data.get("model")
    if not isinstance(model, dict) or model.get("type") != "Unigram" or model.get("byte_fallback"):
        raise PresetError(f"{source}: not a SentencePiece unigram tokenizer (without byte fallback), as ALBERT's is")
    vocab, unk_id = model.get("vocab"), model.get("unk_id")
    if not isinstance(vocab, list) or not all(isinstance(e, list) and len(e) == 2 and isinstance(e[0],
        str) and isinstance(e[1], (int, float)) for e in vocab):
        raise PresetError(f"{source}: malformed unigram vocabulary")
    if isinstance(unk_id, bool) or not isinstance(unk_id, int) or not 0 <= unk_id < len(vocab):
        raise PresetError(f"{source}: malformed unk_id {unk_id!r}")
    types = {unk_id: UNKNOWN}
    for token in data.get("added_tokens") or []:
        index = token.get("id") if isinstance(token, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(vocab) or vocab[index][0] != token.get("content"):
            raise PresetError(f"{source}: added token {token!r} is not in the unigram vocabulary")
        # ALBERT's SentencePiece models define [MASK] as a user symbol (read in raw text), the other specials as
        # controls.
        control = token.get("special") and token.get("content") != SPECIAL_TOKENS["mask_token"]
        types.setdefault(index, CONTROL if control else USER_DEFINED)
    charsmap_bytes = precompiled_charsmap(data, source)
    pieces = [Piece(text, float(score), types.get(index, NORMAL)) for index, (text, score) in enumerate(vocab)]
    return write_sentencepiece_model(SentencePieceModel(pieces, UNIGRAM, unk_id, charsmap_bytes))


def _checkpoint_proto(source: PresetDirectory) -> bytes:
    """The SentencePiece model: spiece.model, or rebuilt from tokenizer.json (transformers 5 saves only that)."""
    if source.exists(SPIECE_FILE):
        path = source.require(SPIECE_FILE)
        if path.stat().st_size > MAX_SPIECE_BYTES:
            raise PresetError(f"{path}: too large for a SentencePiece model")
        return path.read_bytes()
    if source.exists("tokenizer.json"):
        return proto_from_tokenizer_json(source.read_json("tokenizer.json"), str(source.path("tokenizer.json")))
    raise PresetError(f"{source.root}: no {SPIECE_FILE} or tokenizer.json", hint="add the checkpoint's tokenizer files")


def tokenizer_from_checkpoint(source: PresetDirectory):
    """An AlbertTokenizer with transformers' normalisation, from the checkpoint's tokenizer files."""
    from mlm_cli.models.albert.albert_tokenizer import AlbertTokenizer
    from mlm_cli.models.albert.albert_transformers_tokenizer import normalization_name

    settings = source.read_json("tokenizer_config.json") if source.exists("tokenizer_config.json") else {}
    for key, expected in SPECIAL_TOKENS.items():
        if key in settings and token_text(settings[key]) != expected:
            raise PresetError(
                f"{source.path('tokenizer_config.json')}: {key} {token_text(settings[key])!r} differs from ALBERT's "
                f"{expected!r}")
    normalization = normalization_name(bool(settings.get("do_lower_case", True)),
                                       bool(settings.get("keep_accents", False)))
    try:
        return AlbertTokenizer(proto=_checkpoint_proto(source), normalization=normalization)
    except ValueError as error:
        raise PresetError(f"{source.root}: unusable ALBERT tokenizer ({error})") from None


# --- whole checkpoints --------------------------------------------------------


def _tokenizer_settings(tokenizer) -> tuple[bool, bool]:
    """transformers' (do_lower_case, keep_accents) closest to the tokenizer's normalisation."""
    from mlm_cli.models.albert.albert_transformers_tokenizer import TRANSFORMERS_NORMALIZATIONS

    if tokenizer.normalization not in TRANSFORMERS_NORMALIZATIONS:
        log.warning(
            "this ALBERT tokenizer runs SentencePiece on raw text (keras_hub); transformers' AlbertTokenizer is "
            "written "
            "without lowercasing or accent stripping, but it still turns `` and '' into \" and reads special tokens "
            "such as [CLS] written in text, so token ids differ on such text"
        )
        return False, True
    normalization = TRANSFORMERS_NORMALIZATIONS[tokenizer.normalization]
    return normalization.lowercase, not normalization.strip_accents


def _check_export(model) -> None:
    backbone = model.backbone
    if backbone.head_layer_norm_epsilon != LAYER_NORM_EPSILON:
        log.warning(
            "this model's masked-LM head uses keras_hub's layer-norm epsilon %g; transformers applies "
            "layer_norm_eps=%g "
            "everywhere, so its masked-LM logits differ slightly",
            backbone.head_layer_norm_epsilon, LAYER_NORM_EPSILON,
        )


def write_tokenizer(model, directory: Path) -> None:
    """spiece.model plus the settings transformers' AlbertTokenizer reads."""
    tokenizer = model.preprocessor.tokenizer
    (directory / SPIECE_FILE).write_bytes(tokenizer.proto)
    do_lower_case, keep_accents = _tokenizer_settings(tokenizer)
    tokenizer_config = {
        "tokenizer_class": "AlbertTokenizer",
        "do_lower_case": do_lower_case,
        "keep_accents": keep_accents,
        "remove_space": True,
        "model_max_length": model.preprocessor.sequence_length,
        "bos_token": SPECIAL_TOKENS["cls_token"],
        "eos_token": SPECIAL_TOKENS["sep_token"],
        **SPECIAL_TOKENS,
    }
    special_map = {key: tokenizer_config[key] for key in ("bos_token", "eos_token", *SPECIAL_TOKENS)}
    driver.write_tokenizer_config(directory, tokenizer_config, special_map)


CONVERTER = driver.TransformersConverter(
    family="albert",
    name="ALBERT",
    prefix="albert.",
    base_model="AlbertModel",
    backbone_config=driver.from_config_json(backbone_config),
    tokenizer=lambda source, config: tokenizer_from_checkpoint(source),
    to_keras_hub=to_keras_hub_arrays,
    to_transformers=to_transformers,
    write_tokenizer=write_tokenizer,
    check_export=_check_export,
    tokenizer_must_fit=True,
)
