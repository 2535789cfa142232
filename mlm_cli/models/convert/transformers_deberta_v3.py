"""DeBERTaV3 in Hugging Face transformers' layout (model_type "deberta-v2"): config keys, tensor names, tokenizer files.

transformers' DeBERTa-v2 class covers several variants; mlm represents the DeBERTaV3 one
keras_hub implements (shared, layer-normalised relative embeddings read through the
layers' own query/key projections, log buckets, no absolute positions or segments) and
refuses the others. Weights map to and from keras_hub's `.weights.h5` layout, so a
transformers checkpoint becomes an ordinary keras_hub preset. The masked-LM head
normalises with transformers' epsilon 1e-7 (keras_hub's head uses 1e-5), which the
converted backbone records as `head_layer_norm_epsilon`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mlm_cli.errors import PresetError
from mlm_cli.models.convert import transformers_driver as driver
from mlm_cli.models.convert.tensor_names import BERT_LAYER, TRANSFORMER_ENCODER, encoder_layer
from mlm_cli.models.convert.weight_transforms import SAME, Transform, token_text
from mlm_cli.models.deberta_v3 import deberta_v3_weights
from mlm_cli.models.preset.directory import PresetDirectory

log = logging.getLogger("mlm")

LAYER_NORM_EPSILON = 1e-7  # every layer norm of transformers' DeBERTa-v2, the head's included
ACTIVATION = "gelu"  # exact GELU, in keras_hub's DeBERTaV3 encoder and head alike
MODEL_PREFIX = "deberta."
SPM_FILE = "spm.model"
TOKENIZER_JSON = "tokenizer.json"
MAX_TOKENIZER_JSON_BYTES = 64 * 1024 * 1024  # a 250k-piece Unigram vocabulary is about 20 MB
ATTENTION_TERMS = {"c2p", "p2c"}
TOKENIZER_SPECIAL_TOKENS = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "mask_token": "[MASK]"}


def _variant_problems(hf_config: dict[str, Any]) -> list[str]:
    """What in a DebertaV2Config differs from the DeBERTaV3 mlm implements (transformers' defaults apply)."""
    get = hf_config.get
    hidden, heads = get("hidden_size"), get("num_attention_heads")
    pos_att_type = get("pos_att_type") or []
    if isinstance(pos_att_type, str):
        pos_att_type = pos_att_type.split("|")
    norm_rel_ebd = [part.strip() for part in str(get("norm_rel_ebd", "none")).lower().split("|")]
    max_relative_positions = get("max_relative_positions", -1)
    sizes_known = isinstance(hidden, int) and isinstance(heads, int) and heads > 0
    head_size_fits = not sizes_known or get("attention_head_size", hidden // heads) == hidden // heads
    checks = [
        (get("relative_attention") is True, "relative_attention must be true"),
        (isinstance(get("position_buckets"), int) and get("position_buckets") > 0,
         "position_buckets must be positive (log-bucketed positions)"),
        ({str(t).strip().lower() for t in pos_att_type} == ATTENTION_TERMS,
         f"pos_att_type {get('pos_att_type')!r} (supported: p2c and c2p)"),
        (get("share_att_key") is True, "share_att_key must be true"),
        (norm_rel_ebd == ["layer_norm"], f"norm_rel_ebd {get('norm_rel_ebd')!r} (supported: layer_norm)"),
        (get("position_biased_input", True) is False,
         "position_biased_input must be false (no absolute position embeddings)"),
        (get("type_vocab_size", 0) == 0, "type_vocab_size must be 0 (no segment embeddings)"),
        (get("embedding_size", hidden) == hidden, "embedding_size must equal hidden_size"),
        (not get("conv_kernel_size", 0), "conv_kernel_size (a convolution layer) is not supported"),
        (get("hidden_act", ACTIVATION) == ACTIVATION, f"hidden_act {get('hidden_act')!r} (supported: {ACTIVATION})"),
        (head_size_fits, "attention_head_size must equal hidden_size / num_attention_heads"),
        (max_relative_positions < 1 or max_relative_positions == get("max_position_embeddings"),
         "max_relative_positions must be -1 or max_position_embeddings"),
        (get("layer_norm_eps", LAYER_NORM_EPSILON) == LAYER_NORM_EPSILON,
         f"layer_norm_eps {get('layer_norm_eps')} (mlm's DeBERTaV3 uses 1e-7)"),
    ]
    return [message for ok, message in checks if not ok]


def backbone_config(hf_config: dict[str, Any], source: str) -> dict[str, Any]:
    """DebertaV3Backbone keyword arguments for a transformers DebertaV2Config; refuses what mlm cannot represent."""
    try:
        problems = _variant_problems(hf_config)
    except (TypeError, ValueError, AttributeError) as error:
        raise PresetError(f"{source}: malformed DeBERTa-v2 config ({error})") from None
    if problems:
        raise PresetError(f"{source}: unsupported DeBERTa-v2 variant: {'; '.join(problems)}")
    try:
        return {
            **driver.encoder_sizes(hf_config),
            "dropout": float(hf_config.get("hidden_dropout_prob", 0.1)),
            "max_sequence_length": int(hf_config.get("max_position_embeddings", 512)),
            "bucket_size": int(hf_config["position_buckets"]),
            "head_layer_norm_epsilon": LAYER_NORM_EPSILON,
        }
    except (KeyError, TypeError, ValueError) as error:
        raise PresetError(f"{source}: incomplete DeBERTa-v2 config ({error})") from None


def transformers_config(backbone_config: dict[str, Any], pad_token_id: int, dtype: str) -> dict[str, Any]:
    """A transformers DebertaV2Config dict (legacy masked-LM head) for a DebertaV3Backbone config."""
    return {
        "architectures": ["DebertaV2ForMaskedLM"],
        "model_type": "deberta-v2",
        **driver.transformers_sizes(backbone_config),
        "hidden_act": ACTIVATION,
        "hidden_dropout_prob": backbone_config["dropout"],
        "attention_probs_dropout_prob": backbone_config["dropout"],
        "max_position_embeddings": backbone_config["max_sequence_length"],
        "relative_attention": True,
        "max_relative_positions": -1,
        "position_buckets": backbone_config["bucket_size"],
        "pos_att_type": ["p2c", "c2p"],
        "share_att_key": True,
        "norm_rel_ebd": "layer_norm",
        "position_biased_input": False,
        "type_vocab_size": 0,
        "layer_norm_eps": LAYER_NORM_EPSILON,
        "initializer_range": 0.02,
        "pad_token_id": pad_token_id,
        "legacy": True,
        "tie_word_embeddings": True,
        "torch_dtype": dtype,
    }


# --- weights -----------------------------------------------------------------


# transformers' DeBERTa-v2 layer and keras_hub's DisentangledAttentionEncoder, by role (see tensor_names).
DEBERTA_LAYER = {**BERT_LAYER, **{part: f"attention.self.{part}_proj" for part in ("query", "key", "value")}}
DEBERTA_ENCODER = {
    **TRANSFORMER_ENCODER,
    **{part: f"_self_attention_layer/_{part}_dense" for part in ("query", "key", "value")},
    "attention_output": "_self_attention_layer/_output_dense",
}


def backbone_names(config: dict[str, Any]) -> list[tuple[str, str, Transform]]:
    """(transformers name without the `deberta.` prefix, keras_hub path, transform) for every backbone tensor."""
    h, a = config["hidden_dim"], config["num_heads"]
    names = [
        ("embeddings.word_embeddings.weight", "layers/reversible_embedding/vars/0", SAME),
        ("embeddings.LayerNorm.weight", "layers/layer_normalization/vars/0", SAME),
        ("embeddings.LayerNorm.bias", "layers/layer_normalization/vars/1", SAME),
        ("encoder.rel_embeddings.weight", "layers/relative_embedding/vars/0", SAME),
        ("encoder.LayerNorm.weight", "layers/relative_embedding/layer_norm/vars/0", SAME),
        ("encoder.LayerNorm.bias", "layers/relative_embedding/layer_norm/vars/1", SAME),
    ]
    for k in range(config["num_layers"]):
        kh = deberta_v3_weights.encoder_prefix(k)
        names += encoder_layer(f"encoder.layer.{k}", kh, DEBERTA_LAYER, DEBERTA_ENCODER, (h, a),
                               output_from_heads=False)
    return names


LEGACY_HEAD = "cls.predictions."
HEAD_PREFIXES = (LEGACY_HEAD, "lm_predictions.lm_head.")  # what DebertaV2ForMaskedLM writes with legacy true / false
TIED_DECODER = "cls.predictions.decoder.weight"


def _head_names(prefix: str) -> driver.Names:
    """The masked-LM head under `prefix`: "cls.predictions." (legacy) or "lm_predictions.lm_head." (not legacy)."""
    transform = "transform." if prefix == LEGACY_HEAD else ""
    return driver.head_names(f"{prefix}{transform}dense", f"{prefix}{transform}LayerNorm", f"{prefix}bias")


def to_keras_hub_arrays(tensors: driver.CheckpointTensors, config: dict,
                        hf_config: dict) -> tuple[driver.Arrays, driver.Arrays | None]:
    """(backbone arrays, head arrays or None) in keras_hub's layout from a transformers state dict."""
    backbone = tensors.convert(backbone_names(config))
    head = next((arrays for prefix in HEAD_PREFIXES if (arrays := tensors.convert_head(_head_names(prefix)))), None)
    tensors.require_tied(head, TIED_DECODER, "embeddings.word_embeddings.weight",
                         "the MLM decoder is not tied to the word embeddings, which mlm's DeBERTaV3 requires")
    return backbone, head


def to_transformers(model, backbone: driver.Arrays, head: driver.Arrays,
                    dtype: str) -> tuple[driver.Arrays, dict[str, Any]]:
    """A DebertaV2ForMaskedLM (legacy head) state dict, the tied decoder not stored, and its config."""
    config = model.backbone.get_config()
    tensors = driver.transformers_tensors(backbone_names(config), backbone, MODEL_PREFIX)
    tensors.update(driver.transformers_tensors(_head_names(LEGACY_HEAD), head))
    return tensors, transformers_config(config, model.preprocessor.tokenizer.pad_token_id, dtype)


# --- tokenizer ---------------------------------------------------------------




def check_tokenizer_settings(directory: PresetDirectory) -> None:
    """Refuse tokenizer options transformers' DebertaV2Tokenizer has but DeBERTaV3 here does not."""
    if not directory.exists("tokenizer_config.json"):
        return
    source = str(directory.path("tokenizer_config.json"))
    settings = directory.read_json("tokenizer_config.json")
    problems = [
        f"{key} {settings[key]!r}" for key, default in (("do_lower_case", False), ("split_by_punct", False),
                                                        ("add_prefix_space", True))
        if key in settings and settings[key] != default
    ]
    problems += [
        f"{key} {token_text(settings[key])!r} (DeBERTaV3 uses {token})"
        for key, token in TOKENIZER_SPECIAL_TOKENS.items()
        if key in settings and token_text(settings[key]) != token
    ]
    if problems:
        raise PresetError(f"{source}: unsupported DeBERTa-v2 tokenizer settings: {'; '.join(problems)}")


def tokenizer_from_checkpoint(directory: PresetDirectory):
    """DeBERTaV3's tokenizer for a checkpoint, tokenizing as transformers' DebertaV2Tokenizer.

    The SentencePiece model is the checkpoint's spm.model or, when only tokenizer.json is
    there (what transformers 5's save_pretrained writes), one rebuilt from its Unigram vocabulary.
    """
    from mlm_cli.models.deberta_v3.deberta_v3_tokenizer import DebertaV3Tokenizer

    check_tokenizer_settings(directory)
    if directory.exists(SPM_FILE):
        proto, source = directory.require(SPM_FILE), str(directory.path(SPM_FILE))
    elif directory.exists(TOKENIZER_JSON):
        proto, source = proto_from_tokenizer_json(directory), str(directory.path(TOKENIZER_JSON))
    else:
        raise PresetError(f"{directory.root}: no {SPM_FILE} or {TOKENIZER_JSON}",
                          hint="a DeBERTa-v2 checkpoint needs its tokenizer files")
    try:
        return DebertaV3Tokenizer(proto=proto, normalization="transformers")
    except ValueError as error:
        raise PresetError(f"{source}: {error}") from None


def proto_from_tokenizer_json(directory: PresetDirectory) -> bytes:
    """A SentencePiece model with the Unigram pieces, scores, special pieces and normalisation table of transformers'
    tokenizer.json.
    """
    from mlm_cli.models.convert.tokenizer_json import precompiled_charsmap

    path = directory.require(TOKENIZER_JSON)
    size = path.stat().st_size
    if size > MAX_TOKENIZER_JSON_BYTES:
        raise PresetError(f"{path}: {size} bytes is too large for a tokenizer file")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        model = data["model"]
        pieces = [(str(piece), float(score)) for piece, score in model["vocab"]]
        unk_id = int(model["unk_id"])
        special = {token["content"] for token in data.get("added_tokens", []) if token.get("special")}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise PresetError(f"{path}: not a readable tokenizer file ({type(error).__name__}: {error})") from None
    if model.get("type") != "Unigram" or not 0 <= unk_id < len(pieces):
        raise PresetError(f"{path}: expected a Unigram tokenizer with an unknown-token id, found {model.get('type')!r}")
    return sentencepiece_proto(pieces, unk_id, special, precompiled_charsmap(data, str(path)))


def sentencepiece_proto(pieces: list[tuple[str, float]], unk_id: int, control: set[str],
                        charsmap: bytes = b"") -> bytes:
    """A serialized unigram SentencePiece model for these pieces, normalising by `charsmap` (none when empty).

    Pieces named in `control` become control pieces (never produced from text, as in
    DeBERTa's own model file); `unk_id` is the unknown piece.
    """
    from mlm_cli.models.tokenizers.sentencepiece_model_file import (
        CONTROL,
        NORMAL,
        UNIGRAM,
        UNKNOWN,
        Piece,
        SentencePieceModel,
        write_sentencepiece_model,
    )

    typed = [Piece(text, score, UNKNOWN if i == unk_id else CONTROL if text in control else NORMAL) for i,
             (text, score) in enumerate(pieces)]
    return write_sentencepiece_model(SentencePieceModel(typed, UNIGRAM, unk_id, charsmap))


def write_tokenizer_files(tokenizer, directory: Path, sequence_length: int) -> None:
    """spm.model plus the tokenizer_config.json / special_tokens_map.json that transformers' AutoTokenizer reads."""
    (directory / SPM_FILE).write_bytes(tokenizer.proto)
    special = {
        "bos_token": "[CLS]",
        "eos_token": "[SEP]",
        "unk_token": tokenizer.processor.IdToPiece(tokenizer.processor.unk_id()),
        **TOKENIZER_SPECIAL_TOKENS,
    }
    tokenizer_config = {
        "tokenizer_class": "DebertaV2Tokenizer",
        "do_lower_case": False,
        "split_by_punct": False,
        "add_prefix_space": True,
        "model_max_length": sequence_length,
        **special,
    }
    driver.write_tokenizer_config(directory, tokenizer_config, special)


# --- whole checkpoints --------------------------------------------------------


def _check_export(model) -> None:
    driver.warn_head_epsilon(model.backbone, LAYER_NORM_EPSILON, "DeBERTa-v2")
    if model.preprocessor.tokenizer.normalization != "transformers":
        log.warning(
            "this tokenizer splits text as sentencepiece does (keras_hub); transformers' DebertaV2Tokenizer keeps "
            "[CLS]/[SEP]/[PAD]/[UNK]/[MASK] written in text whole, so ids differ for text with literal special tokens "
            "(and, under early transformers 5 releases, which normalise with NFC instead of the model's own table, "
            "for compatibility characters such as full-width forms, ligatures and non-breaking spaces)"
        )


CONVERTER = driver.TransformersConverter(
    family="deberta_v3",
    name="DeBERTaV3",
    prefix=MODEL_PREFIX,
    base_model="DebertaV2Model",
    backbone_config=driver.from_config_json(backbone_config),
    tokenizer=lambda source, config: tokenizer_from_checkpoint(source),
    to_keras_hub=to_keras_hub_arrays,
    to_transformers=to_transformers,
    write_tokenizer=lambda model, directory: write_tokenizer_files(
        model.preprocessor.tokenizer, directory, model.preprocessor.sequence_length
    ),
    check_export=_check_export,
    tokenizer_must_fit=True,
)
