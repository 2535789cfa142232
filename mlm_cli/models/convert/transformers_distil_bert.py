"""DistilBERT in Hugging Face transformers' layout (model_type "distilbert"): config keys, tensor names, tokenizer files.

Weights are mapped to and from keras_hub's `.weights.h5` layout, which mlm already reads
and writes, so a transformers checkpoint becomes an ordinary keras_hub preset.
transformers' DistilBERT differs from keras_hub's numerically in one place only: its
masked-LM head normalises with epsilon 1e-12 (keras_hub 1e-5), which the converted
backbone records as `head_layer_norm_epsilon`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.errors import PresetError
from mlm_cli.models.convert.safetensors_io import read_checkpoint_tensors, write_transformers_weights
from mlm_cli.models.convert.weight_transforms import SAME, TRANSPOSED, Transform, bias_to_heads, kernel_from_heads, kernel_to_heads
from mlm_cli.models.convert.transformers_bert import tokenizer_settings
from mlm_cli.models.preset.encoder_layout import encoder_prefix
from mlm_cli.models.preset.directory import PresetDirectory

log = logging.getLogger("mlm")

LAYER_NORM_EPSILON = 1e-12  # every layer norm of transformers' DistilBERT, the head's included
ACTIVATION = "gelu"  # exact GELU: keras_hub's DistilBERT uses it in the encoder and the head
MODEL_PREFIX = "distilbert."
SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}


def backbone_config(hf_config: dict[str, Any], source: str) -> dict[str, Any]:
    """DistilBertBackbone keyword arguments for a transformers DistilBertConfig; refuses what mlm cannot represent."""
    problems = []
    if hf_config.get("sinusoidal_pos_embds", False):
        problems.append("sinusoidal_pos_embds true (mlm's DistilBERT has learned position embeddings only)")
    if hf_config.get("activation", ACTIVATION) != ACTIVATION:
        problems.append(f"activation {hf_config.get('activation')!r} (supported: {ACTIVATION})")
    if problems:
        raise PresetError(f"{source}: unsupported DistilBERT variant: {'; '.join(problems)}")
    try:
        return {
            "vocabulary_size": int(hf_config["vocab_size"]),
            "num_layers": int(hf_config["n_layers"]),
            "num_heads": int(hf_config["n_heads"]),
            "hidden_dim": int(hf_config["dim"]),
            "intermediate_dim": int(hf_config["hidden_dim"]),
            "dropout": float(hf_config.get("dropout", 0.1)),
            "max_sequence_length": int(hf_config.get("max_position_embeddings", 512)),
            "head_layer_norm_epsilon": LAYER_NORM_EPSILON,
        }
    except (KeyError, TypeError, ValueError) as error:
        raise PresetError(f"{source}: incomplete DistilBERT config ({error})") from None


def transformers_config(backbone_config: dict[str, Any], pad_token_id: int, dtype: str) -> dict[str, Any]:
    """A transformers DistilBertConfig dict for a DistilBertBackbone config."""
    return {
        "architectures": ["DistilBertForMaskedLM"],
        "model_type": "distilbert",
        "vocab_size": backbone_config["vocabulary_size"],
        "dim": backbone_config["hidden_dim"],
        "n_layers": backbone_config["num_layers"],
        "n_heads": backbone_config["num_heads"],
        "hidden_dim": backbone_config["intermediate_dim"],
        "activation": ACTIVATION,
        "dropout": backbone_config["dropout"],
        "attention_dropout": backbone_config["dropout"],
        "max_position_embeddings": backbone_config["max_sequence_length"],
        "sinusoidal_pos_embds": False,
        "initializer_range": 0.02,
        "pad_token_id": pad_token_id,
        "tie_word_embeddings": True,
        "torch_dtype": dtype,
    }


# --- weights -----------------------------------------------------------------













def backbone_names(config: dict[str, Any]) -> list[tuple[str, str, Transform]]:
    """(transformers name without the `distilbert.` prefix, keras_hub path, transform) for every backbone tensor."""
    h, a = config["hidden_dim"], config["num_heads"]
    names = [
        ("embeddings.word_embeddings.weight", "layers/token_and_position_embedding/token_embedding/vars/0", SAME),
        ("embeddings.position_embeddings.weight", "layers/token_and_position_embedding/position_embedding/vars/0", SAME),
        ("embeddings.LayerNorm.weight", "layers/layer_normalization/vars/0", SAME),
        ("embeddings.LayerNorm.bias", "layers/layer_normalization/vars/1", SAME),
    ]
    for k in range(config["num_layers"]):
        hf, kh = f"transformer.layer.{k}", encoder_prefix(k)
        for lin, part in (("q_lin", "query"), ("k_lin", "key"), ("v_lin", "value")):
            names.append((f"{hf}.attention.{lin}.weight", f"{kh}/_self_attention_layer/{part}_dense/vars/0", kernel_to_heads(h, a)))
            names.append((f"{hf}.attention.{lin}.bias", f"{kh}/_self_attention_layer/{part}_dense/vars/1", bias_to_heads(h, a)))
        names += [
            (f"{hf}.attention.out_lin.weight", f"{kh}/_self_attention_layer/output_dense/vars/0", kernel_from_heads(h, a)),
            (f"{hf}.attention.out_lin.bias", f"{kh}/_self_attention_layer/output_dense/vars/1", SAME),
            (f"{hf}.sa_layer_norm.weight", f"{kh}/_self_attention_layer_norm/vars/0", SAME),
            (f"{hf}.sa_layer_norm.bias", f"{kh}/_self_attention_layer_norm/vars/1", SAME),
            (f"{hf}.ffn.lin1.weight", f"{kh}/_feedforward_intermediate_dense/vars/0", TRANSPOSED),
            (f"{hf}.ffn.lin1.bias", f"{kh}/_feedforward_intermediate_dense/vars/1", SAME),
            (f"{hf}.ffn.lin2.weight", f"{kh}/_feedforward_output_dense/vars/0", TRANSPOSED),
            (f"{hf}.ffn.lin2.bias", f"{kh}/_feedforward_output_dense/vars/1", SAME),
            (f"{hf}.output_layer_norm.weight", f"{kh}/_feedforward_layer_norm/vars/0", SAME),
            (f"{hf}.output_layer_norm.bias", f"{kh}/_feedforward_layer_norm/vars/1", SAME),
        ]
    return names


HEAD_NAMES: list[tuple[str, str, Transform]] = [
    ("vocab_transform.weight", "layers/masked_lm_head/_intermediate_dense/vars/0", TRANSPOSED),
    ("vocab_transform.bias", "layers/masked_lm_head/_intermediate_dense/vars/1", SAME),
    ("vocab_layer_norm.weight", "layers/masked_lm_head/_intermediate_layer_norm/vars/0", SAME),
    ("vocab_layer_norm.bias", "layers/masked_lm_head/_intermediate_layer_norm/vars/1", SAME),
    ("vocab_projector.bias", "layers/masked_lm_head/vars/0", SAME),
]
TIED_PROJECTION = "vocab_projector.weight"


def to_keras_hub_arrays(tensors: dict[str, np.ndarray], config: dict[str, Any], source: str) -> tuple[dict, dict | None]:
    """(backbone arrays, head arrays or None) in keras_hub's layout from a transformers state dict, shapes checked."""
    from mlm_cli.models.distil_bert.distil_bert_weights import backbone_shapes, head_shapes

    tensors = {name.removeprefix(MODEL_PREFIX): array for name, array in tensors.items()}
    expected = {**backbone_shapes(config), **head_shapes(config)}

    def convert_one(hf_name: str, kh_name: str, forward: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if hf_name not in tensors:
            raise PresetError(f"{source}: tensor {hf_name!r} is missing")
        tensor = tensors[hf_name]
        try:
            array = np.asarray(forward(tensor.astype(np.float32, copy=False)))
        except ValueError:
            array = None
        if array is None or array.shape != expected[kh_name]:
            raise PresetError(f"{source}: tensor {hf_name!r} has shape {tensor.shape}, which does not fit the config")
        return array

    def convert(names: list[tuple[str, str, Transform]]) -> dict[str, np.ndarray]:
        return {kh_name: convert_one(hf_name, kh_name, forward) for hf_name, kh_name, (forward, _) in names}

    backbone = convert(backbone_names(config))
    head = convert(HEAD_NAMES) if all(name in tensors for name, _, _ in HEAD_NAMES) else None
    projection = tensors.get(TIED_PROJECTION)
    if head is not None and projection is not None and not np.array_equal(projection, tensors["embeddings.word_embeddings.weight"]):
        raise PresetError(f"{source}: vocab_projector is not tied to the word embeddings, which mlm's DistilBERT requires")
    return backbone, head


def to_transformers_tensors(backbone: dict[str, np.ndarray], head: dict[str, np.ndarray], config: dict[str, Any]) -> dict[str, np.ndarray]:
    """A DistilBertForMaskedLM state dict from keras_hub-layout arrays (vocab_projector.weight tied, not stored)."""
    tensors = {}
    for hf_name, kh_name, (_, backward) in backbone_names(config):
        tensors[MODEL_PREFIX + hf_name] = np.ascontiguousarray(backward(backbone[kh_name]))
    for hf_name, kh_name, (_, backward) in HEAD_NAMES:
        tensors[hf_name] = np.ascontiguousarray(backward(head[kh_name]))
    return tensors


# --- whole checkpoints --------------------------------------------------------


def model_from_checkpoint(source: PresetDirectory):
    """A DistilBertMaskedLM equivalent to the transformers DistilBERT checkpoint in `source`."""
    from mlm_cli.models import DistilBertBackbone, DistilBertMaskedLM, DistilBertMaskedLMPreprocessor, DistilBertTokenizer
    from mlm_cli.models.distil_bert import distil_bert_weights

    hf_config = source.read_json("config.json")
    config_source = str(source.path("config.json"))
    config = backbone_config(hf_config, config_source)
    try:  # validates every size before anything is read or allocated
        backbone = DistilBertBackbone(**config)
    except (TypeError, ValueError) as error:
        raise PresetError(f"{config_source}: invalid DistilBERT config ({error})") from None
    backbone_arrays, head_arrays = to_keras_hub_arrays(read_checkpoint_tensors(source), config, str(source.root))
    tokenizer = DistilBertTokenizer(**tokenizer_settings(source), normalization="transformers")
    if tokenizer.vocabulary_size() != config["vocabulary_size"]:
        log.warning("%s: vocabulary has %d tokens, the model %d", source.root, tokenizer.vocabulary_size(), config["vocabulary_size"])
    distil_bert_weights.import_backbone(backbone, backbone_arrays)
    preprocessor = DistilBertMaskedLMPreprocessor(tokenizer, sequence_length=min(512, config["max_sequence_length"]))
    model = DistilBertMaskedLM(backbone, preprocessor=preprocessor)
    if head_arrays is None:
        log.warning("%s has no masked-LM head (%s): the head is freshly initialised, tied to the token embeddings",
                    source.root.name, ",".join(hf_config.get("architectures") or ["DistilBertModel"]))
    else:
        distil_bert_weights.import_head(model.masked_lm_head, head_arrays)
    return model


def write_checkpoint(model, directory: Path, dtype: str = "float32") -> None:
    """Write a DistilBertForMaskedLM checkpoint (config, safetensors, WordPiece tokenizer files) into `directory`."""
    from mlm_cli.models.distil_bert import distil_bert_weights

    backbone = model.backbone
    if backbone.head_layer_norm_epsilon != LAYER_NORM_EPSILON:
        log.warning(
            "this model uses keras_hub's head layer-norm epsilon %g; transformers' DistilBERT uses %g, "
            "so its masked-LM logits differ slightly",
            backbone.head_layer_norm_epsilon, LAYER_NORM_EPSILON,
        )
    config = backbone.get_config()
    tensors = to_transformers_tensors(
        distil_bert_weights.export_backbone(backbone), distil_bert_weights.export_head(model.masked_lm_head), config
    )
    tokenizer = model.preprocessor.tokenizer
    write_transformers_weights(directory, tensors, transformers_config(config, tokenizer.pad_token_id, dtype), dtype)
    (directory / "vocab.txt").write_text("".join(f"{token}\n" for token in tokenizer.get_vocabulary()), encoding="utf-8")
    tokenizer_config = {
        "tokenizer_class": "DistilBertTokenizer",
        "do_lower_case": tokenizer.lowercase,
        "strip_accents": tokenizer.strip_accents,
        "tokenize_chinese_chars": True,
        "model_max_length": model.preprocessor.sequence_length,
        **SPECIAL_TOKENS,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    (directory / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2), encoding="utf-8")
