"""BERT in Hugging Face transformers' layout: config keys, tensor names and the tokenizer settings.

Weights are mapped to and from keras_hub's `.weights.h5` layout, which mlm already reads
and writes, so a transformers checkpoint becomes an ordinary keras_hub preset.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mlm_cli.errors import PresetError
from mlm_cli.models.convert import transformers_driver as driver
from mlm_cli.models.convert.tensor_names import BERT_EMBEDDINGS, BERT_LAYER, TRANSFORMER_ENCODER, encoder_layer, linear
from mlm_cli.models.convert.weight_transforms import Transform
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.encoder_layout import encoder_prefix

log = logging.getLogger("mlm")

LAYER_NORM_EPSILON = 1e-12  # BERT's encoder layer norms (mlm's BertBackbone uses it too)
# transformers' hidden_act -> mlm's feedforward_activation (tanh-approximate GELU has two names there)
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate"}
SPECIAL_TOKENS = {
    "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
}


def backbone_config(hf_config: dict[str, Any], source: str) -> dict[str, Any]:
    """BertBackbone keyword arguments for a transformers BertConfig; refuses what BERT here cannot represent."""
    try:
        config = {
            **driver.encoder_sizes(hf_config),
            "dropout": float(hf_config.get("hidden_dropout_prob", 0.1)),
            "max_sequence_length": int(hf_config.get("max_position_embeddings", 512)),
            "num_segments": int(hf_config.get("type_vocab_size", 2)),
            "feedforward_activation": ACTIVATIONS.get(hf_config.get("hidden_act", "gelu"), ""),
            "head_layer_norm_epsilon": float(hf_config.get("layer_norm_eps", LAYER_NORM_EPSILON)),
        }
    except (KeyError, TypeError, ValueError) as error:
        raise PresetError(f"{source}: incomplete BERT config ({error})") from None
    problems = []
    if not config["feedforward_activation"]:
        problems.append(f"hidden_act {hf_config.get('hidden_act')!r} (supported: {', '.join(ACTIVATIONS)})")
    if hf_config.get("position_embedding_type", "absolute") != "absolute":
        problems.append(f"position_embedding_type {hf_config.get('position_embedding_type')!r}")
    if abs(float(hf_config.get("layer_norm_eps", LAYER_NORM_EPSILON)) - LAYER_NORM_EPSILON) > 1e-15:
        problems.append(f"layer_norm_eps {hf_config.get('layer_norm_eps')} (mlm's BERT uses 1e-12)")
    if problems:
        raise PresetError(f"{source}: unsupported BERT variant: {'; '.join(problems)}")
    return config


def transformers_config(backbone_config: dict[str, Any], architecture: str = "BertForMaskedLM") -> dict[str, Any]:
    """A transformers BertConfig dict for a BertBackbone config."""
    return {
        "architectures": [architecture],
        "model_type": "bert",
        **driver.transformers_sizes(backbone_config),
        "hidden_act": "gelu" if backbone_config.get("feedforward_activation") == "gelu" else "gelu_pytorch_tanh",
        "hidden_dropout_prob": backbone_config["dropout"],
        "attention_probs_dropout_prob": backbone_config["dropout"],
        "max_position_embeddings": backbone_config["max_sequence_length"],
        "type_vocab_size": backbone_config["num_segments"],
        "initializer_range": 0.02,
        "layer_norm_eps": LAYER_NORM_EPSILON,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }


# --- weights -----------------------------------------------------------------


def backbone_names(config: dict[str, Any]) -> list[tuple[str, str, Transform]]:
    """(transformers name without the `bert.` prefix, keras_hub path, transform) for every backbone tensor."""
    h, a = config["hidden_dim"], config["num_heads"]
    names = BERT_EMBEDDINGS + linear("pooler.dense", "layers/dense")
    for k in range(config["num_layers"]):
        names += encoder_layer(f"encoder.layer.{k}", encoder_prefix(k), BERT_LAYER, TRANSFORMER_ENCODER, (h, a))
    return names


HEAD_NAMES = driver.head_names(
    "cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias"
)


def to_keras_hub_arrays(tensors: driver.CheckpointTensors, config: dict,
                        hf_config: dict) -> tuple[driver.Arrays, driver.Arrays | None]:
    """(backbone arrays, head arrays or None) in keras_hub's layout from a transformers state dict.

    BertForMaskedLM has no pooler: the backbone then keeps its fresh (frozen, unused) one.
    """
    backbone = tensors.convert(backbone_names(config), optional=("pooler.dense.weight", "pooler.dense.bias"))
    head = tensors.convert_head(HEAD_NAMES)
    tensors.require_tied(head, "cls.predictions.decoder.weight", "embeddings.word_embeddings.weight",
                         "the MLM decoder is not tied to the word embeddings, which BERT here requires")
    return backbone, head


def to_transformers(model, backbone: driver.Arrays, head: driver.Arrays,
                    dtype: str) -> tuple[driver.Arrays, dict[str, Any]]:
    """A BertForMaskedLM state dict (decoder weight tied, stored once as in transformers) and its config."""
    config = {**model.backbone.get_config(), "feedforward_activation": model.backbone.feedforward_activation}
    tensors = (
        driver.transformers_tensors(backbone_names(config), backbone, "bert.")
        | driver.transformers_tensors(HEAD_NAMES, head)
    )
    return tensors, {**transformers_config(config), "torch_dtype": dtype}


# --- tokenizer ---------------------------------------------------------------


def tokenizer_settings(directory: PresetDirectory) -> dict[str, Any]:
    """`vocabulary` (list), `lowercase`, `strip_accents` from tokenizer_config.json / tokenizer.json / vocab.txt."""
    from mlm_cli.models.tokenizers.wordpiece_encoder import read_vocabulary

    source = str(directory.root)
    tokenizer_json = directory.read_json("tokenizer.json") if directory.exists("tokenizer.json") else None
    tokenizer_config = directory.read_json("tokenizer_config.json") if directory.exists("tokenizer_config.json") else {}
    if directory.exists("vocab.txt"):
        vocabulary = read_vocabulary(directory.path("vocab.txt"))
    elif tokenizer_json and isinstance(tokenizer_json.get("model", {}).get("vocab"), dict):
        vocabulary = vocabulary_by_id(tokenizer_json["model"]["vocab"], str(directory.path("tokenizer.json")))
    else:
        raise PresetError(f"{source}: no vocab.txt or WordPiece tokenizer.json")
    normalizer = (tokenizer_json or {}).get("normalizer") or {}
    if "do_lower_case" in tokenizer_config:
        lowercase = bool(tokenizer_config["do_lower_case"])
        strip = tokenizer_config.get("strip_accents")
    elif normalizer.get("type") == "BertNormalizer":
        lowercase = bool(normalizer.get("lowercase", True))
        strip = normalizer.get("strip_accents")
    else:
        lowercase, strip = True, None  # transformers' BertTokenizer defaults
    if strip is None:
        strip = lowercase  # transformers: accents follow lowercasing unless set explicitly
    return {"vocabulary": vocabulary, "lowercase": lowercase, "strip_accents": bool(strip)}


# --- whole checkpoints --------------------------------------------------------


def _read_tokenizer(source: PresetDirectory):
    from mlm_cli.models.bert.bert_tokenizer import BertTokenizer

    return BertTokenizer(**tokenizer_settings(source), normalization="transformers")


def _check_export(model) -> None:
    backbone = model.backbone
    if backbone.feedforward_activation != "gelu" or backbone.head_layer_norm_epsilon != LAYER_NORM_EPSILON:
        log.warning(
            "this model uses keras_hub's numerics (tanh GELU, head layer-norm epsilon %g); transformers applies one "
            "activation and epsilon everywhere, so its masked-LM logits differ slightly (about 1e-3)",
            backbone.head_layer_norm_epsilon,
        )


def write_wordpiece_files(model, directory: Path, tokenizer_class: str, strip_accents: bool, special: dict) -> None:
    """vocab.txt plus the tokenizer settings transformers' WordPiece tokenizers (BERT, DistilBERT) read."""
    tokenizer = model.preprocessor.tokenizer
    vocabulary = "".join(f"{token}\n" for token in tokenizer.get_vocabulary())
    (directory / "vocab.txt").write_text(vocabulary, encoding="utf-8")
    tokenizer_config = {
        "tokenizer_class": tokenizer_class,
        "do_lower_case": tokenizer.lowercase,
        "strip_accents": strip_accents,
        "tokenize_chinese_chars": True,
        "model_max_length": model.preprocessor.sequence_length,
        **special,
    }
    driver.write_tokenizer_config(directory, tokenizer_config, special)


def _write_tokenizer(model, directory: Path) -> None:
    tokenizer = model.preprocessor.tokenizer
    strip_accents = tokenizer.strip_accents if tokenizer.strip_accents or not tokenizer.lowercase else False
    write_wordpiece_files(model, directory, "BertTokenizer", strip_accents, SPECIAL_TOKENS)


CONVERTER = driver.TransformersConverter(
    family="bert",
    name="BERT",
    prefix="bert.",
    base_model="BertModel",
    backbone_config=driver.from_config_json(backbone_config),
    tokenizer=lambda source, config: _read_tokenizer(source),
    to_keras_hub=to_keras_hub_arrays,
    to_transformers=to_transformers,
    write_tokenizer=_write_tokenizer,
    check_export=_check_export,
)


def vocabulary_by_id(vocab: dict[str, Any], source: str) -> list[str]:
    """Tokens in id order from a {token: id} map; ids must be exactly 0..n-1 (a gap would shift every later id)."""
    ids = list(vocab.values())
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids) or sorted(ids) != list(range(len(ids))):
        raise PresetError(f"{source}: the vocabulary's ids are not exactly 0..{len(ids) - 1}")
    vocabulary = [""] * len(ids)
    for token, index in vocab.items():
        vocabulary[index] = token
    return vocabulary
