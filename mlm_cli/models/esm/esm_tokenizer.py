"""ESM's tokenizer, configured like keras_hub's ESMTokenizer (no keras needed).

keras_hub's ESMTokenizer is a WordPiece tokenizer over ESM's per-residue vocabulary
(<cls>, <pad>, <eos>, <unk>, the amino-acid letters, <mask>, ...). Like keras_hub it
splits text into words at whitespace and punctuation, so residues must be separated by
spaces ("M K T A"); an unspaced sequence ("MKTA") is one word with no WordPiece match and
becomes a single <unk>. Checkpoints converted from transformers use transformers'
EsmTokenizer splitting instead (`normalization="transformers"`), which reads one id per
residue from unspaced sequences.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from mlm_cli.models.bert.bert_tokenizer import BertTokenizer
from mlm_cli.models.esm.esm_residue_encoder import ResidueEncoder
from mlm_cli.models.tokenizers.wordpiece_encoder import WordPieceEncoder

ESM_SPECIAL_TOKENS = {"cls": "<cls>", "sep": "<eos>", "pad": "<pad>", "mask": "<mask>"}
# transformers' EsmTokenizer has none of WordPiece's options: its mode needs these values.
TRANSFORMERS_SETTINGS = {"lowercase": False, "strip_accents": False, "split": True, "special_tokens_in_strings": True}


class ESMTokenizer(BertTokenizer):
    """ESM's per-residue vocabulary with its special tokens (<cls>, <eos>, <pad>, <mask>).

    BERT's WordPiece tokenizer with ESM's special tokens and defaults (keras_hub's
    ESMTokenizer is the same WordPiece tokenizer); token ids equal keras_hub's, or
    transformers' with `normalization="transformers"` (a `ResidueEncoder`).

    With the default normalization, residues must be separated by spaces (see the module
    docstring).

    Args:
        vocabulary: a list of tokens, the path of a one-token-a-line file, or None. It must
            contain <cls>, <eos>, <pad>, <mask> and `oov_token`.
        lowercase, strip_accents, split, suffix_indicator, special_tokens,
            special_tokens_in_strings, sequence_length, config_file: as in `BertTokenizer`,
            with the same defaults.
        oov_token: default "<unk>".
        name: default "esm_tokenizer".
        normalization: "keras_hub" (the default: WordPiece over space-separated residues) or
            "transformers" (one id per residue of an unspaced sequence, as transformers'
            EsmTokenizer); the latter needs `special_tokens_in_strings=True` and the
            defaults of `lowercase`, `strip_accents` and `split` (ValueError otherwise).
        **kwargs: only `trainable` and `dtype`, which are ignored.

    Examples:

    >>> from mlm_cli.models import ESMTokenizer
    >>> vocabulary = ["<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E",
    ...               "R", "T", "I", "D", "P", "K", "Q", "N", "M", "<mask>"]
    >>> tokenizer = ESMTokenizer(vocabulary=vocabulary)
    >>> tokenizer("M K T A").tolist(), tokenizer("MKTA").tolist()  # an unspaced sequence is one unknown word
    ([18, 15, 11, 5], [3])
    >>> residues = ESMTokenizer(vocabulary=vocabulary, normalization="transformers", special_tokens_in_strings=True)
    >>> residues("MKTA").tolist(), residues("MK<mask>A").tolist()
    ([18, 15, 11, 5], [18, 15, 19, 5])
    >>> tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id
    (0, 2, 1, 19)
    """

    special_token_names = ESM_SPECIAL_TOKENS
    family_label = "ESM"
    adds_whole_words = False  # proteins have no words: every residue is one token already

    def __init__(self, vocabulary: Sequence[str] | str | os.PathLike | None = None, lowercase: bool = False,
                 strip_accents: bool = False, split: bool = True, suffix_indicator: str = "##",
                 oov_token: str = "<unk>", special_tokens: Sequence[str] | None = None,
                 special_tokens_in_strings: bool = False, sequence_length: int | None = None,
                 name: str = "esm_tokenizer", config_file: str = "tokenizer.json", normalization: str = "keras_hub",
                 **kwargs):
        super().__init__(
            lowercase=lowercase,
            strip_accents=strip_accents,
            split=split,
            suffix_indicator=suffix_indicator,
            oov_token=oov_token,
            special_tokens=special_tokens,
            special_tokens_in_strings=special_tokens_in_strings,
            sequence_length=sequence_length,
            name=name,
            config_file=config_file,
            normalization=normalization,
            **kwargs,
        )
        if normalization == "transformers":
            different = [key for key, value in TRANSFORMERS_SETTINGS.items() if getattr(self, key) != value]
            if different:
                raise ValueError(
                    "transformers' ESM tokenization needs "
                    f"{', '.join(f'{k}={TRANSFORMERS_SETTINGS[k]}' for k in different)}")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def starts_word(self, token: str) -> bool:
        """Every residue is a word of its own."""
        return True

    def _new_encoder(self, vocabulary: list[str]) -> WordPieceEncoder | ResidueEncoder:
        """transformers' per-residue splitting, or keras_hub's WordPiece."""
        if self.normalization == "transformers":
            return ResidueEncoder(vocabulary, oov_token=self.oov_token)
        return super()._new_encoder(vocabulary)
