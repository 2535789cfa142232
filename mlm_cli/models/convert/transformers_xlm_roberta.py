"""XLM-RoBERTa in Hugging Face transformers' layout: RoBERTa's tensors and config, a SentencePiece tokenizer.

The weights map exactly as RoBERTa's do (transformers_roberta.py); the tokenizer is the
SentencePiece model file `sentencepiece.bpe.model`, whose ids both sides remap the same way.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from mlm_cli.errors import PresetError
from mlm_cli.models.convert import transformers_driver as driver
from mlm_cli.models.convert import transformers_roberta as roberta
from mlm_cli.models.convert.weight_transforms import token_text
from mlm_cli.models.preset.directory import PresetDirectory

SENTENCEPIECE_FILE = "sentencepiece.bpe.model"
FAMILY = "XLM-RoBERTa"


def tokenizer_proto(directory: PresetDirectory) -> bytes:
    """The SentencePiece model of a transformers XLM-R checkpoint (its special tokens must be XLM-R's)."""
    from mlm_cli.models.tokenizers.sentencepiece_tokenizer import MAX_PROTO_BYTES

    if not directory.exists(SENTENCEPIECE_FILE):
        raise PresetError(f"{directory.root}: no {SENTENCEPIECE_FILE}",
                          hint="mlm reads XLM-RoBERTa's tokenizer from its SentencePiece model file")
    tokenizer_config = directory.read_json("tokenizer_config.json") if directory.exists("tokenizer_config.json") else {}
    named = {key: token_text(tokenizer_config.get(key, token)) for key, token in roberta.SPECIAL_TOKENS.items()}
    if named != roberta.SPECIAL_TOKENS:
        raise PresetError(
            f"{directory.root}: special tokens {named} differ from {FAMILY}'s {roberta.SPECIAL_TOKENS}, which mlm "
            "requires")
    path = directory.path(SENTENCEPIECE_FILE)
    if path.stat().st_size > MAX_PROTO_BYTES:
        raise PresetError(f"{path}: too large for a SentencePiece model")
    return path.read_bytes()


def _read_tokenizer(source: PresetDirectory, config: dict):
    from mlm_cli.models.xlm_roberta.xlm_roberta_tokenizer import XLMRobertaTokenizer

    try:
        return XLMRobertaTokenizer(proto=tokenizer_proto(source), normalization="transformers")
    except ValueError as error:
        raise PresetError(f"{source.path(SENTENCEPIECE_FILE)}: {error}") from None


def write_tokenizer(model, directory: Path) -> None:
    """sentencepiece.bpe.model plus the settings transformers' XLMRobertaTokenizer reads.

    transformers' XLMRobertaTokenizer always turns special-token strings in raw text into
    their ids; a model tokenizing keras_hub's way differs from it only on such text.
    """
    (directory / SENTENCEPIECE_FILE).write_bytes(model.preprocessor.tokenizer.proto)
    tokenizer_config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": model.preprocessor.sequence_length,
        **roberta.SPECIAL_TOKENS,
    }
    driver.write_tokenizer_config(directory, tokenizer_config, roberta.SPECIAL_TOKENS)


CONVERTER = driver.TransformersConverter(
    family="xlm_roberta",
    name=FAMILY,
    prefix="roberta.",
    base_model="XLMRobertaModel",
    backbone_config=driver.from_config_json(partial(roberta.backbone_config, family=FAMILY)),
    tokenizer=_read_tokenizer,
    to_keras_hub=roberta.to_keras_hub_arrays,
    to_transformers=partial(roberta.to_transformers, model_type="xlm-roberta", architecture="XLMRobertaForMaskedLM"),
    write_tokenizer=write_tokenizer,
)
