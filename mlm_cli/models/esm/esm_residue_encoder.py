"""transformers' EsmTokenizer splitting, in Rust: protein strings become one id per residue.

transformers marks every vocabulary token as "never split": the text is cut at each
vocabulary token found in it (leftmost, longest first), the rest is split at whitespace
(Python's `str.split`), and every leftover word becomes the unknown token. Hugging Face's
`tokenizers` does the same with each vocabulary token registered as an added token, a
whitespace pre-tokenizer and a word-level model.

Batches for training take a faster route when they are plain ASCII protein text (no
character that could start a multi-character token such as "<mask>"): a byte lookup
table gives each residue's id, and each run of other non-whitespace bytes one <unk>.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

from mlm_cli.models.tokenizers.indexed_vocabulary import IndexedVocabulary

# Joins documents for one Rust call per part: a Unicode noncharacter, never in real text.
DOCUMENT_MARKER = "\ufdd0"
DOCUMENTS_PER_PART = 100
# Python's str.split treats these separators as whitespace; Rust's char::is_whitespace does not.
PYTHON_ONLY_WHITESPACE = "\x1c\x1d\x1e\x1f"
ASCII_WHITESPACE = " \t\n\v\f\r" + PYTHON_ONLY_WHITESPACE  # what str.split splits ASCII text at
BYTE_JOINER = "\x00"  # joins documents for the byte route, which they must not contain
TOKEN, SPACE, OTHER = 0, 1, 2  # byte classes of the byte route


class ResidueEncoder(IndexedVocabulary):
    """Text -> ids exactly as transformers' EsmTokenizer (without the <cls>/<eos> it adds around a sequence)."""

    def __init__(self, vocabulary: Sequence[str], oov_token: str = "<unk>") -> None:
        super().__init__(vocabulary, oov_token)
        if any(DOCUMENT_MARKER in token or BYTE_JOINER in token for token in self._ids):
            raise ValueError("vocabulary tokens may not contain U+0000 or U+FDD0, which mlm reserves to join documents")
        if any(token and not token.strip() for token in self._ids):
            raise ValueError("vocabulary tokens made only of whitespace are not supported")
        separators_in_tokens = any(c in token for token in self.vocabulary for c in PYTHON_ONLY_WHITESPACE)
        self._whitespace = None if separators_in_tokens else str.maketrans(PYTHON_ONLY_WHITESPACE,
                                                                           " " * len(PYTHON_ONLY_WHITESPACE))
        self._single = self._pipeline([])
        self._joined = self._pipeline([DOCUMENT_MARKER])
        self._marker_id = self._joined.token_to_id(DOCUMENT_MARKER)
        self._byte_ids, self._byte_classes, self._multi_character_starts = self._byte_tables()

    def _pipeline(self, separators: list[str]) -> Tokenizer:
        tokenizer = Tokenizer(models.WordLevel(vocab=dict(self._ids), unk_token=self.oov_token))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tokenizer.add_tokens([AddedToken(token, normalized=False) for token in self.vocabulary if token.strip()])
        if separators:
            tokenizer.add_special_tokens([AddedToken(token, normalized=False, special=True) for token in separators])
        return tokenizer

    def _byte_tables(self) -> tuple[np.ndarray, np.ndarray, str]:
        """Per-byte ids and classes for single-character ASCII tokens, and the first characters of longer tokens."""
        ids = np.full(256, -1, dtype=np.int32)
        classes = np.full(256, OTHER, dtype=np.int8)
        classes[[ord(c) for c in ASCII_WHITESPACE + BYTE_JOINER]] = SPACE
        for token, index in self._ids.items():
            if len(token) == 1 and token.isascii() and classes[ord(token)] != SPACE:
                ids[ord(token)], classes[ord(token)] = index, TOKEN
        return ids, classes, "".join(sorted({token[0] for token in self._ids if len(token) > 1}))

    def _prepared(self, text: str) -> str:
        return text.translate(self._whitespace) if self._whitespace else text

    # --- encoding ---------------------------------------------------------------

    def encode(self, text: str) -> np.ndarray:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        encodings = self._single.encode_batch_fast([self._prepared(t) for t in texts], add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int32) for e in encodings]

    def encode_batch_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids concatenated (int32) and document offsets (int64, len(texts) + 1).

        Plain ASCII batches take the byte route (`_encode_bytes`). Others are joined by
        DOCUMENT_MARKER into parts of about DOCUMENTS_PER_PART and encoded in Rust; the
        markers' positions give the document boundaries.
        """
        texts = list(texts)
        if not texts:
            return np.zeros(0, np.int32), np.zeros(1, np.int64)
        joined = BYTE_JOINER.join(texts) + BYTE_JOINER
        if joined.isascii() and joined.count(BYTE_JOINER) == len(texts) and not any(
            c in joined for c in self._multi_character_starts):
            return self._encode_bytes(joined, len(texts))
        bounds = np.linspace(0, len(texts), -(-len(texts) // DOCUMENTS_PER_PART) + 1).astype(int)
        parts = [self._prepared(DOCUMENT_MARKER.join(texts[a:b]) + DOCUMENT_MARKER) for a,
                 b in zip(bounds[:-1], bounds[1:])]
        if sum(part.count(DOCUMENT_MARKER) for part in parts) != len(texts):
            return _flatten(self.encode_batch(texts))  # a document holds the marker itself
        encodings = self._joined.encode_batch_fast(parts, add_special_tokens=False)
        ids = np.concatenate([np.asarray(e.ids, dtype=np.int32) for e in encodings])
        is_marker = ids == self._marker_id
        ends = np.flatnonzero(is_marker)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        offsets[1:] = ends - np.arange(len(ends))
        return ids[~is_marker], offsets

    def _encode_bytes(self, joined: str, documents: int) -> tuple[np.ndarray, np.ndarray]:
        """ASCII documents, each followed by BYTE_JOINER: residues by table lookup, one <unk> per run of other bytes."""
        data = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        classes = self._byte_classes[data]
        is_token = classes == TOKEN
        is_other = classes == OTHER
        starts_unknown = is_other & np.concatenate([[True], ~is_other[:-1]])
        keep = is_token | starts_unknown
        ids = np.where(is_token, self._byte_ids[data], np.int32(self._ids[self.oov_token]))[keep]
        kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        offsets = np.zeros(documents + 1, dtype=np.int64)
        offsets[1:] = kept_before[np.flatnonzero(data == ord(BYTE_JOINER))]
        return ids.astype(np.int32, copy=False), offsets

    def decode(self, ids) -> str:
        """Tokens joined by spaces, as transformers' EsmTokenizer decodes."""
        return " ".join(self.id_to_token(i) for i in np.asarray(ids).reshape(-1).tolist())


def _flatten(pieces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum([p.size for p in pieces], out=offsets[1:])
    flat = np.concatenate(pieces).astype(np.int32, copy=False) if pieces else np.zeros(0, np.int32)
    return flat, offsets
