"""Load transformers-format checkpoints as keras_hub presets, and export presets for transformers.

A transformers checkpoint is converted once into a keras_hub preset under mlm's cache
(`MLM_CACHE_DIR/converted/`), keyed by the checkpoint's files, and loaded from there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from mlm_cli.errors import PresetError
from mlm_cli.models.convert import transformers_bert
from mlm_cli.models.convert.safetensors_io import read_checkpoint_tensors, write_safetensors
from mlm_cli.models.preset.directory import PresetDirectory

log = logging.getLogger("mlm")
SUPPORTED_MODEL_TYPES = {"bert": transformers_bert}
CONVERTER_VERSION = "1"


def is_transformers_checkpoint(directory: str | os.PathLike) -> bool:
    """A directory whose config.json is a transformers config (has model_type, no keras class_name)."""
    try:
        data = PresetDirectory(directory).read_json("config.json")
    except PresetError:
        return False  # not a readable config: the preset loader reports it
    return "model_type" in data and "class_name" not in data


def _fingerprint(directory: PresetDirectory) -> str:
    """Identity of a checkpoint: its path plus the names, sizes and mtimes of its files."""
    digest = hashlib.sha256(f"{CONVERTER_VERSION}\0{directory.root}".encode())
    for name in directory.files():
        stat = directory.path(name).stat()
        digest.update(f"\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def converted_preset(directory: str | os.PathLike) -> Path:
    """The keras_hub preset converted from a transformers checkpoint (converting on first use)."""
    from mlm_cli.hub import cache_dir

    source = PresetDirectory(directory)
    target = cache_dir() / "converted" / f"{source.root.name}-{_fingerprint(source)}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    convert_checkpoint(source, target)
    return target


def convert_checkpoint(source: PresetDirectory, target: Path) -> None:
    """Write `target` as a keras_hub preset equivalent to the transformers checkpoint in `source`."""
    from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer
    from mlm_cli.models.bert import bert_weights

    config_path = str(source.path("config.json"))
    hf_config = source.read_json("config.json")
    model_type = hf_config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise PresetError(
            f"{config_path}: model_type {model_type!r} is not supported",
            hint=f"mlm converts: {', '.join(sorted(SUPPORTED_MODEL_TYPES))}",
        )
    config = transformers_bert.backbone_config(hf_config, config_path)
    tensors = read_checkpoint_tensors(source)
    backbone_arrays, head_arrays = transformers_bert.to_keras_hub_arrays(tensors, config, str(source.root))
    settings = transformers_bert.tokenizer_settings(source)
    tokenizer = BertTokenizer(**settings, normalization="transformers")
    if tokenizer.vocabulary_size() != config["vocabulary_size"]:
        log.warning("%s: vocabulary has %d tokens, the model %d", source.root, tokenizer.vocabulary_size(), config["vocabulary_size"])
    backbone = BertBackbone(**config)
    bert_weights.import_backbone(backbone, backbone_arrays)
    sequence_length = min(512, config["max_sequence_length"])
    preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=sequence_length)
    model = BertMaskedLM(backbone, preprocessor=preprocessor)
    if head_arrays is None:
        log.warning("%s has no masked-LM head (%s): the head is freshly initialised, tied to the token embeddings",
                    source.root.name, ",".join(hf_config.get("architectures") or ["BertModel"]))
    else:
        bert_weights.import_head(model.masked_lm_head, head_arrays)
    model.save_to_preset(target)


def export_transformers(model, output: Path, dtype: str = "float32") -> None:
    """Write config.json, model.safetensors and tokenizer files that transformers' Auto classes load."""
    from mlm_cli.models.bert import bert_weights

    output = Path(output)
    backbone = model.backbone
    config = {**backbone.get_config(), "feedforward_activation": backbone.feedforward_activation}
    if backbone.feedforward_activation != "gelu" or backbone.head_layer_norm_epsilon != transformers_bert.LAYER_NORM_EPSILON:
        log.warning(
            "this model uses keras_hub's numerics (tanh GELU, head layer-norm epsilon %g); transformers applies one "
            "activation and epsilon everywhere, so its masked-LM logits differ slightly (about 1e-3)",
            backbone.head_layer_norm_epsilon,
        )
    tensors = transformers_bert.to_transformers_tensors(
        bert_weights.export_backbone(backbone), bert_weights.export_head(model.masked_lm_head), config
    )
    storage = {"float32": "float32", "float16": "float16", "bfloat16": "float32"}[dtype]
    tensors = {name: array.astype(storage) for name, array in tensors.items()}
    hf_config = {**transformers_bert.transformers_config(config), "torch_dtype": dtype}
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        (staging / "config.json").write_text(json.dumps(hf_config, indent=2), encoding="utf-8")
        write_safetensors(staging / "model.safetensors", tensors, {"format": "pt"}, bfloat16=dtype == "bfloat16")
        tokenizer = model.preprocessor.tokenizer
        (staging / "vocab.txt").write_text("".join(f"{token}\n" for token in tokenizer.get_vocabulary()), encoding="utf-8")
        special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
        tokenizer_config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": tokenizer.lowercase,
            "strip_accents": tokenizer.strip_accents if tokenizer.strip_accents or not tokenizer.lowercase else False,
            "tokenize_chinese_chars": True,
            "model_max_length": model.preprocessor.sequence_length,
            **special,
        }
        (staging / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
        (staging / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
