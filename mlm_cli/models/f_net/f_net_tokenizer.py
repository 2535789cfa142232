"""FNet's SentencePiece tokenizer, configured like keras_hub's FNetTokenizer (no keras needed)."""

from __future__ import annotations

from mlm_cli.models.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer


class FNetTokenizer(SentencePieceTokenizer):
    """SentencePiece with FNet's special tokens: [CLS], [SEP], <pad>, [MASK]; token ids equal keras_hub's.

    Args:
        proto: a serialized SentencePiece model (bytes) or the path of one, holding the
            pieces [CLS], [SEP], <pad> and [MASK]; or None to set it later.
        The other arguments (sequence_length, add_bos, add_eos, name, config_file) are
        `SentencePieceTokenizer`'s; `name` defaults to "f_net_tokenizer".

    Examples:

    >>> from mlm_cli.models.family_examples import SENTENCEPIECE_TEXTS as texts  # five short sentences
    >>> from mlm_cli.models import FNetTokenizer
    >>> tokenizer = FNetTokenizer.train_on(texts, vocabulary_size=20, model_type="word")
    >>> tokenizer(["the lazy dog", "a cat"])[0].tolist(), tokenizer.detokenize([[6, 14, 8, 0]])
    ([6, 14, 8], ['the lazy dog'])
    """

    start_token = "[CLS]"
    end_token = "[SEP]"
    pad_token = "<pad>"
    mask_token = "[MASK]"
