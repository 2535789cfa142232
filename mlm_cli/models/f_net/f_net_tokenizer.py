"""FNet's SentencePiece tokenizer, configured like keras_hub's FNetTokenizer (no keras needed)."""

from __future__ import annotations

from mlm_cli.models.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer


class FNetTokenizer(SentencePieceTokenizer):
    """SentencePiece with FNet's special tokens: [CLS], [SEP], <pad>, [MASK]; token ids equal keras_hub's."""

    start_token = "[CLS]"
    end_token = "[SEP]"
    pad_token = "<pad>"
    mask_token = "[MASK]"
