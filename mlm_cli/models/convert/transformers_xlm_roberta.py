"""XLM-RoBERTa in Hugging Face transformers' layout: RoBERTa's tensors and config, a SentencePiece tokenizer.

The weights map exactly as RoBERTa's do (transformers_roberta.py); the tokenizer is the
SentencePiece model file `sentencepiece.bpe.model`, whose ids both sides remap the same way.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mlm_cli.errors import PresetError
from mlm_cli.models.convert import transformers_roberta as roberta
from mlm_cli.models.convert.safetensors_io import read_checkpoint_tensors, write_transformers_weights
from mlm_cli.models.convert.weight_transforms import token_text
from mlm_cli.models.preset.directory import PresetDirectory

log = logging.getLogger("mlm")

SENTENCEPIECE_FILE = "sentencepiece.bpe.model"
FAMILY = "XLM-RoBERTa"


def tokenizer_proto(directory: PresetDirectory) -> bytes:
    """The SentencePiece model of a transformers XLM-R checkpoint (its special tokens must be XLM-R's)."""
    from mlm_cli.models.tokenizers.sentencepiece_tokenizer import MAX_PROTO_BYTES

    if not directory.exists(SENTENCEPIECE_FILE):
        raise PresetError(f"{directory.root}: no {SENTENCEPIECE_FILE}", hint="mlm reads XLM-RoBERTa's tokenizer from its SentencePiece model file")
    tokenizer_config = directory.read_json("tokenizer_config.json") if directory.exists("tokenizer_config.json") else {}
    named = {key: token_text(tokenizer_config.get(key, token)) for key, token in roberta.SPECIAL_TOKENS.items()}
    if named != roberta.SPECIAL_TOKENS:
        raise PresetError(f"{directory.root}: special tokens {named} differ from {FAMILY}'s {roberta.SPECIAL_TOKENS}, which mlm requires")
    path = directory.path(SENTENCEPIECE_FILE)
    if path.stat().st_size > MAX_PROTO_BYTES:
        raise PresetError(f"{path}: too large for a SentencePiece model")
    return path.read_bytes()


def model_from_checkpoint(source: PresetDirectory):
    """An XLMRobertaMaskedLM equivalent to the transformers XLM-RoBERTa checkpoint in `source`."""
    from mlm_cli.models import XLMRobertaBackbone, XLMRobertaMaskedLM, XLMRobertaMaskedLMPreprocessor, XLMRobertaTokenizer
    from mlm_cli.models.xlm_roberta import xlm_roberta_weights

    hf_config = source.read_json("config.json")
    config = roberta.backbone_config(hf_config, str(source.path("config.json")), FAMILY)
    tensors = read_checkpoint_tensors(source)
    pad_token_id = int(hf_config.get("pad_token_id", roberta.PAD_TOKEN_ID))
    backbone_arrays, head_arrays = roberta.to_keras_hub_arrays(tensors, config, str(source.root), pad_token_id)
    try:
        tokenizer = XLMRobertaTokenizer(proto=tokenizer_proto(source), normalization="transformers")
    except ValueError as error:
        raise PresetError(f"{source.path(SENTENCEPIECE_FILE)}: {error}") from None
    if tokenizer.vocabulary_size() != config["vocabulary_size"]:
        log.warning("%s: vocabulary has %d tokens, the model %d", source.root, tokenizer.vocabulary_size(), config["vocabulary_size"])
    backbone = XLMRobertaBackbone(**config)
    xlm_roberta_weights.import_backbone(backbone, backbone_arrays)
    preprocessor = XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=min(512, config["max_sequence_length"]))
    model = XLMRobertaMaskedLM(backbone, preprocessor=preprocessor)
    if head_arrays is None:
        log.warning("%s has no masked-LM head (%s): the head is freshly initialised, tied to the token embeddings",
                    source.root.name, ",".join(hf_config.get("architectures") or ["XLMRobertaModel"]))
    else:
        xlm_roberta_weights.import_head(model.masked_lm_head, head_arrays)
    return model


def write_checkpoint(model, directory: Path, dtype: str = "float32") -> None:
    """Write an XLMRobertaForMaskedLM checkpoint (config, safetensors, SentencePiece tokenizer files) into `directory`.

    transformers' XLMRobertaTokenizer always turns special-token strings in raw text into
    their ids; a model tokenizing keras_hub's way differs from it only on such text.
    """
    from mlm_cli.models.xlm_roberta import xlm_roberta_weights

    backbone = model.backbone
    config = backbone.get_config()
    tensors = roberta.to_transformers_tensors(
        xlm_roberta_weights.export_backbone(backbone), xlm_roberta_weights.export_head(model.masked_lm_head), config
    )
    hf_config = roberta.transformers_config(config, dtype, model_type="xlm-roberta", architecture="XLMRobertaForMaskedLM")
    write_transformers_weights(directory, tensors, hf_config, dtype)
    tokenizer = model.preprocessor.tokenizer
    (directory / SENTENCEPIECE_FILE).write_bytes(tokenizer.proto)
    tokenizer_config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": model.preprocessor.sequence_length,
        **roberta.SPECIAL_TOKENS,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    (directory / "special_tokens_map.json").write_text(json.dumps(roberta.SPECIAL_TOKENS, indent=2), encoding="utf-8")
