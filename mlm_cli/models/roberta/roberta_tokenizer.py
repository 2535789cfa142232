"""RoBERTa's byte-level BPE tokenizer, configured like keras_hub's RobertaTokenizer (no keras needed)."""

from __future__ import annotations

from mlm_cli.models.tokenizers.byte_pair_tokenizer import BytePairTokenizer


class RobertaTokenizer(BytePairTokenizer):
    """Byte-level BPE with RoBERTa's special tokens: `<s>` starts, `</s>` ends, `<pad>` pads, `<mask>` masks.

    The protocol's [CLS]/[SEP] roles are played by `<s>`/`</s>` (`cls_token_id`,
    `sep_token_id`); keras_hub's names (`start_token_id`, `end_token_id`) work too.
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
