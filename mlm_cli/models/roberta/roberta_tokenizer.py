"""RoBERTa's byte-level BPE tokenizer, configured like keras_hub's RobertaTokenizer (no keras needed)."""

from __future__ import annotations

from mlm_cli.models.tokenizers.byte_pair_tokenizer import BytePairTokenizer


class RobertaTokenizer(BytePairTokenizer):
    """Byte-level BPE with RoBERTa's special tokens: `<s>` starts, `</s>` ends, `<pad>` pads, `<mask>` masks.

    The protocol's [CLS]/[SEP] roles are played by `<s>`/`</s>` (`cls_token_id`,
    `sep_token_id`); keras_hub's names (`start_token_id`, `end_token_id`) work too.

    Args:
        See `BytePairTokenizer` (vocabulary, merges, sequence_length, add_prefix_space,
        unsplittable_tokens, name, config_file, normalization); the vocabulary must contain
        `<s>`, `</s>`, `<pad>` and `<mask>`. `name` defaults to "roberta_tokenizer".

    Examples:

    >>> from mlm_cli.models import RobertaTokenizer
    >>> vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3, "a": 4, "c": 5, "e": 6, "h": 7, "t": 8,
    ...               "Ġ": 9, "th": 10, "the": 11, "at": 12, "Ġc": 13, "Ġcat": 14, "d": 15, "g": 16, "o": 17,
    ...               "s": 18, "n": 19}
    >>> merges = ["t h", "th e", "a t", "Ġ c", "Ġc at"]
    >>> tokenizer = RobertaTokenizer(vocabulary=vocabulary, merges=merges)
    >>> tokenizer("the cat").tolist(), tokenizer.detokenize([0, 11, 14, 2])
    ([11, 14], '<s>the cat</s>')
    >>> tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id
    (0, 2, 1, 3)

    A preset's vocabulary.json and merges.txt load by path:

        tokenizer = RobertaTokenizer(vocabulary="assets/tokenizer/vocabulary.json",
                                     merges="assets/tokenizer/merges.txt")
    """

    start_token = "<s>"
    end_token = "</s>"
    pad_token = "<pad>"
    mask_token = "<mask>"

    @property
    def cls_token_id(self) -> int:
        return self.start_token_id

    @property
    def sep_token_id(self) -> int:
        return self.end_token_id
