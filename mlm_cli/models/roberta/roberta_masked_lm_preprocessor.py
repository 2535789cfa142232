"""RoBERTa's masked-LM preprocessor: RobertaTokenizer + `<s> A </s></s> B </s>` packing + dynamic masking."""

from __future__ import annotations

import numpy as np

from mlm_cli.data.segments import pack_segments, trim_lengths
from mlm_cli.models.family_examples import append_to_doc, byte_pair_setup, preprocessor_doc
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor, _as_segments
from mlm_cli.models.roberta.roberta_tokenizer import RobertaTokenizer


def pack_doubled_separators(
    segments: list[list[np.ndarray]], sequence_length: int, *, start_id: int, end_id: int, pad_id: int, truncate: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows `<s> A </s></s> B </s> <pad>...`: segments separated by two end tokens, as keras_hub packs RoBERTa.

    Segments are trimmed to the budget left by the doubled separators; each gets one extra
    end token appended (all but the last), and the ordinary one-separator packer then
    fits them without further trimming. The second separator belongs to the segment
    before it, as in keras_hub's segment ids.
    """
    num_segments, batch = len(segments), len(segments[0])
    budget = sequence_length - 2 - 2 * (num_segments - 1)
    if budget < 0:
        raise ValueError(f"sequence_length {sequence_length} is too short for {num_segments} segment(s)")
    lengths = np.array([[len(segment[b]) for segment in segments] for b in range(batch)], dtype=np.int64).reshape(
        batch, num_segments)
    kept = trim_lengths(lengths, budget, truncate)
    separator = np.array([end_id], dtype=np.int32)
    trimmed = [
        [
            np.concatenate([np.asarray(segment[b][: kept[b, k]], dtype=np.int32),
                            separator]) if k < num_segments - 1 else segment[b][: kept[b, k]]
            for b in range(batch)
        ]
        for k, segment in enumerate(segments)
    ]
    return pack_segments(trimmed, sequence_length, start_id=start_id, end_id=end_id, pad_id=pad_id, truncate=truncate)


PAIR_PACKING = """The packing of a sentence pair, with masking switched off so that it shows:

>>> packer = RobertaMaskedLMPreprocessor(tokenizer, sequence_length=10, mask_selection_rate=0.0)
>>> x, y, sample_weight = packer(("the cat", "the"))
>>> x["token_ids"].tolist()
[0, 11, 14, 2, 2, 11, 2, 1, 1, 1]
>>> x["segment_ids"].tolist()
[0, 0, 0, 0, 0, 1, 1, 0, 0, 0]
"""


@append_to_doc(preprocessor_doc(
    "Roberta",
    "vocabulary and merges",
    byte_pair_setup("Roberta"),
    ["the cat", "the cat the cat"],
    ("mask_positions", "padding_mask", "segment_ids", "token_ids"),
    sequence_length=10, more=PAIR_PACKING,
))
class RobertaMaskedLMPreprocessor(MaskedLMPreprocessor):
    """Strings -> RoBERTa masked-LM batches (see MaskedLMPreprocessor).

    `segment_ids` are computed like keras_hub's packer but the backbone ignores them.

    Rows are `<s> A </s></s> B </s> <pad>...`: segments are separated by two `</s>`, as
    keras_hub packs RoBERTa, and the second separator belongs to the segment before it.
    """

    tokenizer_cls = RobertaTokenizer

    def pack(self, x) -> tuple[dict[str, np.ndarray], bool]:
        """Tokenize and pack without masking; returns (features, was_batched)."""
        segments, batched = _as_segments(x)
        tokenized = [self.tokenizer.tokenize(segment) for segment in segments]
        token_ids, segment_ids, padding_mask = pack_doubled_separators(
            tokenized,
            self.sequence_length,
            start_id=self.tokenizer.cls_token_id,
            end_id=self.tokenizer.sep_token_id,
            pad_id=self.tokenizer.pad_token_id,
            truncate=self.truncate,
        )
        return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}, batched
