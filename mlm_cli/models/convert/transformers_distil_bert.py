"""DistilBERT in Hugging Face transformers' layout (model_type "distilbert"): config keys, tensor names, tokenizer
files.

Weights are mapped to and from keras_hub's `.weights.h5` layout, which mlm already reads
and writes, so a transformers checkpoint becomes an ordinary keras_hub preset.
transformers' DistilBERT differs from keras_hub's numerically in one place only: its
masked-LM head normalises with epsilon 1e-12 (keras_hub 1e-5), which the converted
backbone records as `head_layer_norm_epsilon`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlm_cli.errors import PresetError
from mlm_cli.models.convert import transformers_driver as driver
from mlm_cli.models.convert.tensor_names import TRANSFORMER_ENCODER, encoder_layer
from mlm_cli.models.convert.transformers_bert import tokenizer_settings, write_wordpiece_files
from mlm_cli.models.convert.weight_transforms import SAME, Transform
from mlm_cli.models.preset.directory import PresetDirectory
from mlm_cli.models.preset.encoder_layout import encoder_prefix

LAYER_NORM_EPSILON = 1e-12  # every layer norm of transformers' DistilBERT, the head's included
ACTIVATION = "gelu"  # exact GELU: keras_hub's DistilBERT uses it in the encoder and the head
MODEL_PREFIX = "distilbert."
SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                  "mask_token": "[MASK]"}


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


# transformers' DistilBERT encoder layer, by role (see tensor_names.BERT_LAYER).
DISTILBERT_LAYER = {
    "query": "attention.q_lin",
    "key": "attention.k_lin",
    "value": "attention.v_lin",
    "attention_output": "attention.out_lin",
    "attention_norm": "sa_layer_norm",
    "intermediate": "ffn.lin1",
    "output": "ffn.lin2",
    "output_norm": "output_layer_norm",
}


def backbone_names(config: dict[str, Any]) -> list[tuple[str, str, Transform]]:
    """(transformers name without the `distilbert.` prefix, keras_hub path, transform) for every backbone tensor."""
    h, a = config["hidden_dim"], config["num_heads"]
    names = [
        ("embeddings.word_embeddings.weight", "layers/token_and_position_embedding/token_embedding/vars/0", SAME),
        ("embeddings.position_embeddings.weight", "layers/token_and_position_embedding/position_embedding/vars/0",
         SAME),
        ("embeddings.LayerNorm.weight", "layers/layer_normalization/vars/0", SAME),
        ("embeddings.LayerNorm.bias", "layers/layer_normalization/vars/1", SAME),
    ]
    for k in range(config["num_layers"]):
        hf = f"transformer.layer.{k}"
        names += encoder_layer(hf, encoder_prefix(k), DISTILBERT_LAYER, TRANSFORMER_ENCODER, (h, a))
    return names


HEAD_NAMES = driver.head_names("vocab_transform", "vocab_layer_norm", "vocab_projector.bias")
TIED_PROJECTION = "vocab_projector.weight"


def to_keras_hub_arrays(tensors: driver.CheckpointTensors, config: dict,
                        hf_config: dict) -> tuple[driver.Arrays, driver.Arrays | None]:
    """(backbone arrays, head arrays or None) in keras_hub's layout from a transformers state dict, shapes checked."""
    backbone = tensors.convert(backbone_names(config))
    head = tensors.convert_head(HEAD_NAMES)
    tensors.require_tied(head, TIED_PROJECTION, "embeddings.word_embeddings.weight",
                         "vocab_projector is not tied to the word embeddings, which mlm's DistilBERT requires")
    return backbone, head


def to_transformers(model, backbone: driver.Arrays, head: driver.Arrays,
                    dtype: str) -> tuple[driver.Arrays, dict[str, Any]]:
    """A DistilBertForMaskedLM state dict (vocab_projector.weight tied, not stored) and its config."""
    config = model.backbone.get_config()
    tensors = driver.transformers_tensors(backbone_names(config), backbone, MODEL_PREFIX)
    tensors.update(driver.transformers_tensors(HEAD_NAMES, head))
    return tensors, transformers_config(config, model.preprocessor.tokenizer.pad_token_id, dtype)


# --- whole checkpoints --------------------------------------------------------


def _read_tokenizer(source: PresetDirectory, config: dict):
    from mlm_cli.models.distil_bert.distil_bert_tokenizer import DistilBertTokenizer

    return DistilBertTokenizer(**tokenizer_settings(source), normalization="transformers")


def _write_tokenizer(model, directory: Path) -> None:
    tokenizer = model.preprocessor.tokenizer
    write_wordpiece_files(model, directory, "DistilBertTokenizer", tokenizer.strip_accents, SPECIAL_TOKENS)


CONVERTER = driver.TransformersConverter(
    family="distil_bert",
    name="DistilBERT",
    prefix=MODEL_PREFIX,
    base_model="DistilBertModel",
    backbone_config=driver.from_config_json(backbone_config),
    tokenizer=_read_tokenizer,
    to_keras_hub=to_keras_hub_arrays,
    to_transformers=to_transformers,
    write_tokenizer=_write_tokenizer,
    check_export=lambda model: driver.warn_head_epsilon(model.backbone, LAYER_NORM_EPSILON, "DistilBERT"),
)
