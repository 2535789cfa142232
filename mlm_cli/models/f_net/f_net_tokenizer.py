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

    >>> import io
    >>> import sentencepiece
    >>> model = io.BytesIO()
    >>> texts = ["the quick brown fox", "the lazy dog", "a cat sat on the mat", "the fox jumps over the dog",
    ...          "a bird sang"]
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(texts), model_writer=model, model_type="word", vocab_size=20, minloglevel=2,
    ...     pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", user_defined_symbols="[MASK]")
    >>> from mlm_cli.models import FNetTokenizer
    >>> tokenizer = FNetTokenizer(proto=model.getvalue())
    >>> tokenizer(["the lazy dog", "a cat"])[0].tolist(), tokenizer.detokenize([[6, 14, 8, 0]])
    ([6, 14, 8], ['the lazy dog'])
    """

    start_token = "[CLS]"
    end_token = "[SEP]"
    pad_token = "<pad>"
    mask_token = "[MASK]"
