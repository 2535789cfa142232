"""WordPiece encoding with keras_hub's exact token ids, on Hugging Face's Rust `tokenizers`.

keras_hub pretokenizes in this order: strip accents (NFD, drop Mn) on the whole text;
split on whitespace ([ \\t\\n\\r\\f], Cc, Cf — dropped) and punctuation / CJK characters
(kept as words), never splitting special tokens when they may appear in strings;
NFKC-casefold each word (except special tokens); then greedy longest-match WordPiece,
where a word over 100 UTF-8 bytes or with an unmatched piece becomes the oov token.

Pure-ASCII documents (the bulk of most corpora) go through an equivalent all-Rust
pipeline; for ASCII, casefolding is lowercasing and NFKC/accent stripping do nothing.
Other documents are pretokenized here in Python, exactly as above, and only their
WordPiece step runs in Rust.
"""

from __future__ import annotations

import itertools
import os
import unicodedata
from collections.abc import Sequence

import numpy as np
import regex
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers

from mlm_cli.models.tokenizers.ascii_wordpiece_cache import AsciiWordPieceCache
from mlm_cli.models.tokenizers.indexed_vocabulary import IndexedVocabulary

MAX_WORD_BYTES = 100
# Joins documents for one Rust call per part: a Unicode noncharacter, never in real text,
# registered as a special token so it splits documents before any normalisation.
DOCUMENT_MARKER = "\ufdd0"
# Joins ASCII documents for the word cache; documents that contain it take another route.
CACHE_SEPARATOR = "\x00"
DOCUMENTS_PER_PART = 100  # joined strings of about this many documents encode fastest (measured: 5 to 800)
MOSTLY_ASCII = 8  # a chunk with fewer than 1 in 8 non-ASCII documents goes through the word cache, those few apart

WHITESPACE_PATTERN = r"[ \t\n\r\f]|\p{Cc}|\p{Cf}"
PUNCTUATION_PATTERN = r"[!-/]|[:-@]|[\[-`]|[{-~]|\p{P}"
CJK_PATTERN = (
    r"[\u4E00-\u9FFF]|[\u3400-\u4DBF]|[\U00020000-\U0002A6DF]|[\U0002A700-\U0002B73F]"
    r"|[\U0002B740-\U0002B81F]|[\U0002B820-\U0002CEAF]|[\uF900-\uFAFF]|[\U0002F800-\U0002FA1F]"
)
# Default_Ignorable_Code_Point ranges dropped by NFKC_Casefold.
DEFAULT_IGNORABLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_IGNORABLE = regex.compile(f"[{DEFAULT_IGNORABLE}]")
# ASCII control characters keras_hub drops as whitespace (category Cc) that Rust's
# char::is_whitespace does not cover; replaced with spaces before the Rust pipeline.
_UNSPACED_CONTROL = regex.compile("[\x00-\x08\x0e-\x1f\x7f]")


def _rust_ready(text: str) -> str:
    """Text for the all-Rust pipeline: control characters become the spaces they act as."""
    return _UNSPACED_CONTROL.sub(" ", text) if _UNSPACED_CONTROL.search(text) else text


def read_vocabulary(path: str | os.PathLike) -> list[str]:
    """One token per line (UTF-8); only the line ending is stripped."""
    data = open(path, "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: vocabulary is not valid UTF-8 (byte {error.start})") from None
    tokens = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise ValueError(f"{path}: vocabulary file is empty")
    return tokens


def casefold_nfkc(word: str) -> str:
    """Unicode NFKC_Casefold: NFKC, full case folding, NFKC again, default ignorables removed."""
    if word.isascii():
        return word.lower()
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
    return _IGNORABLE.sub("", folded)


def strip_accents(text: str) -> str:
    """Decompose (NFD) and drop combining marks (category Mn)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


class WordPieceEncoder(IndexedVocabulary):
    """Text -> WordPiece ids, identical to keras_hub's WordPieceTokenizer for the same settings."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        *,
        lowercase: bool = False,
        strip_accents: bool = False,
        split: bool = True,
        split_on_cjk: bool = True,
        suffix_indicator: str = "##",
        oov_token: str = "[UNK]",
        special_tokens: Sequence[str] | None = None,
        special_tokens_in_strings: bool = False,
    ) -> None:
        super().__init__(vocabulary, oov_token)
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.split = split
        self.split_on_cjk = split_on_cjk
        self.suffix_indicator = suffix_indicator
        protected = list(special_tokens or []) if (split and special_tokens_in_strings) else []
        self.protected_tokens = [t for t in protected if t]
        self._protected_set = set(self.protected_tokens)

        delimiters = [WHITESPACE_PATTERN, PUNCTUATION_PATTERN] + ([CJK_PATTERN] if split_on_cjk else [])
        keep = [PUNCTUATION_PATTERN] + ([CJK_PATTERN] if split_on_cjk else [])
        if self.protected_tokens:
            special = "|".join(regex.escape(t) for t in self.protected_tokens)
            delimiters.insert(0, special)
            keep.insert(0, special)
        self._split_pattern = regex.compile("(" + "|".join(delimiters) + ")")
        self._keep_pattern = regex.compile("|".join(keep))

        self._wordpiece = Tokenizer(self._model())
        self._ascii = Tokenizer(self._model())
        if lowercase:
            self._ascii.normalizer = normalizers.Lowercase()
        if split:
            # For ASCII text without control characters (see `_rust_ready`), Rust's BERT
            # pretokenizer splits exactly like keras_hub, and about 25% faster than regexes.
            self._ascii.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        else:
            self._ascii.pre_tokenizer = None
        if self.protected_tokens:
            self._ascii.add_special_tokens([AddedToken(t, normalized=False,
                                                       special=True) for t in self.protected_tokens])
        self._joined = Tokenizer(self._model())
        self._joined.normalizer = self._ascii.normalizer
        self._joined.pre_tokenizer = self._ascii.pre_tokenizer
        self._joined.add_special_tokens(
            [AddedToken(t, normalized=False, special=True) for t in [DOCUMENT_MARKER, *self.protected_tokens]]
        )
        self._marker_id = self._joined.token_to_id(DOCUMENT_MARKER)
        self._word_cache = self._make_word_cache()

    def _make_word_cache(self) -> AsciiWordPieceCache | None:
        """keras_hub's ASCII splitting: control characters separate words like whitespace."""
        if not self.split:
            return None
        return AsciiWordPieceCache(self._word_pieces, lowercase=self.lowercase, separator=CACHE_SEPARATOR,
                                   separator_id=self._marker_id)

    def _model(self) -> models.WordPiece:
        return models.WordPiece(
            vocab=dict(self._ids),
            unk_token=self.oov_token,
            continuing_subword_prefix=self.suffix_indicator,
            max_input_chars_per_word=MAX_WORD_BYTES,
        )

    # --- encoding ---------------------------------------------------------------

    def pretokenize(self, text: str) -> list[str]:
        """keras_hub's pretokenization of one text, as words ready for WordPiece."""
        if self.strip_accents and not text.isascii():
            text = strip_accents(text)
        if self.split:
            pieces = self._split_pattern.split(text)
            words = [p for i, p in enumerate(pieces) if p and (i % 2 == 0 or self._keep_pattern.fullmatch(p))]
        else:
            words = [text] if text else []
        if self.lowercase:
            words = [w if w in self._protected_set else casefold_nfkc(w) for w in words]
        return [w if len(w.encode("utf-8")) <= MAX_WORD_BYTES else self.oov_token for w in words if w]

    def words(self, text: str) -> list[str]:
        """The normalised words WordPiece looks up in `text` (see `pretokenize`); ASCII text through the Rust pipeline's
        own normaliser and pretokenizer, as `encode` does."""
        if not self._uses_rust_pipeline(text):
            return self.pretokenize(text)
        return _rust_words(self._ascii, _rust_ready(text))

    def word_piece_ids(self, words: Sequence[str]) -> list[list[int]]:
        """The WordPiece ids of each normalised word (as `words` returns them)."""
        return self._word_pieces(list(words)) if words else []

    def _uses_rust_pipeline(self, text: str) -> bool:
        # Without splitting a whole document is one word; the Python path checks its byte length.
        return self.split and text.isascii()

    def _encode_id_lists(self, texts: Sequence[str]) -> list[list[int]]:
        fast = [i for i, t in enumerate(texts) if self._uses_rust_pipeline(t)]
        slow = [i for i, t in enumerate(texts) if not self._uses_rust_pipeline(t)]
        results: list[list[int]] = [[] for _ in texts]
        if fast:
            for index, encoding in zip(fast, self._ascii.encode_batch_fast([_rust_ready(texts[i]) for i in fast],
                                                                           add_special_tokens=False)):
                results[index] = encoding.ids
        if slow:
            words = [self.pretokenize(texts[i]) for i in slow]
            non_empty = [(i, w) for i, w in zip(slow, words) if w]
            if non_empty:
                encodings = self._wordpiece.encode_batch_fast([w for _, w in non_empty], is_pretokenized=True,
                                                              add_special_tokens=False)
                for (index, _), encoding in zip(non_empty, encodings):
                    results[index] = encoding.ids
        return results

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._encode_id_lists([text])[0], dtype=np.int32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.asarray(ids, dtype=np.int32) for ids in self._encode_id_lists(list(texts))]

    def encode_batch_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids concatenated (int32) and document offsets (int64, len(texts) + 1).

        Three routes, with the same ids whichever a document takes: ASCII documents are
        joined by CACHE_SEPARATOR and go through the word cache (`ascii_wordpiece_cache.py`, the
        fastest); other documents the Rust pipeline handles are joined by DOCUMENT_MARKER
        into parts of about DOCUMENTS_PER_PART documents and encoded in Rust; the rest
        (non-ASCII text in keras_hub's normalisation) is pretokenized in Python. Joined
        routes find document boundaries from the separator's positions.
        """
        texts = list(texts)
        if self._word_cache is not None and texts:
            whole = CACHE_SEPARATOR.join(texts) + CACHE_SEPARATOR
            if whole.count(CACHE_SEPARATOR) == len(texts) and not self._has_protected_token(whole):
                if whole.isascii():
                    return _split_at_markers(self._word_cache.encode(whole), self._marker_id, len(texts))
                others = [index for index, text in enumerate(texts) if not text.isascii()]
                if len(others) * MOSTLY_ASCII < len(texts):  # shuffled corpora: a few such documents in most chunks
                    return self._encode_mostly_ascii(texts, others)
        cached, joined, slow = [], [], []
        for index, text in enumerate(texts):
            if DOCUMENT_MARKER in text or not self._uses_rust_pipeline(text):
                slow.append(index)
            elif (self._word_cache is not None and text.isascii() and CACHE_SEPARATOR not in text
                  and not self._has_protected_token(text)):
                cached.append(index)
            else:
                joined.append(index)
        routes = []
        if cached:
            routes.append((cached, self._encode_cached([texts[i] for i in cached])))
        if joined:
            routes.append((joined, self._encode_joined([texts[i] for i in joined])))
        if slow:
            routes.append((slow, _flatten(self._encode_id_lists([texts[i] for i in slow]))))
        if len(routes) == 1 and len(routes[0][0]) == len(texts):
            return routes[0][1]
        return _merge_routes(routes, len(texts))

    def _encode_mostly_ascii(self, texts: list[str], others: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The whole chunk through the word cache, with the few non-ASCII documents (`others`) encoded apart and spliced
        in.
        """
        ascii_texts = list(texts)
        for index in others:
            ascii_texts[index] = ""
        flat, offsets = self._encode_cached(ascii_texts)
        other_flat, other_offsets = self.encode_batch_flat([texts[index] for index in others])
        lengths = np.diff(offsets)
        lengths[others] = np.diff(other_offsets)
        pieces, previous = [], 0
        for rank, index in enumerate(others):
            pieces += [flat[offsets[previous] : offsets[index]],
                       other_flat[other_offsets[rank] : other_offsets[rank + 1]]]
            previous = index + 1
        pieces.append(flat[offsets[previous] :])
        spliced_offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=spliced_offsets[1:])
        return np.concatenate(pieces).astype(np.int32, copy=False), spliced_offsets

    def _has_protected_token(self, text: str) -> bool:
        """Special tokens written in the text must stay whole: such documents take the Rust route."""
        return any(token in text for token in self.protected_tokens)

    def _encode_cached(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """ASCII documents through the word cache, joined by CACHE_SEPARATOR."""
        ids = self._word_cache.encode(CACHE_SEPARATOR.join(texts) + CACHE_SEPARATOR)
        return _split_at_markers(ids, self._marker_id, len(texts))

    def _encode_joined(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Encode documents joined by DOCUMENT_MARKER in Rust, in parts of about DOCUMENTS_PER_PART."""
        parts = max(1, -(-len(texts) // DOCUMENTS_PER_PART))
        bounds = np.linspace(0, len(texts), parts + 1).astype(int)
        joined = [self._rust_ready(DOCUMENT_MARKER.join(texts[a:b]) + DOCUMENT_MARKER) for a,
                  b in zip(bounds[:-1], bounds[1:]) if b > a]
        encodings = self._joined.encode_batch_fast(joined, add_special_tokens=False)
        ids = np.concatenate([np.asarray(e.ids, dtype=np.int32) for e in encodings])
        return _split_at_markers(ids, self._marker_id, len(texts))

    def _rust_ready(self, text: str) -> str:
        """Text for the all-Rust pipeline (its pretokenizer splits on fewer control characters)."""
        return _rust_ready(text)

    def _word_pieces(self, words: list[str]) -> list[list[int]]:
        """WordPiece ids of each (already normalised) word."""
        encodings = self._wordpiece.encode_batch_fast([[w] for w in words], is_pretokenized=True,
                                                      add_special_tokens=False)
        return [e.ids for e in encodings]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Tokens joined by spaces, with suffix pieces merged onto the previous word."""
        words: list[str] = []
        prefix = self.suffix_indicator
        for position, token_id in enumerate(np.asarray(ids).reshape(-1).tolist()):
            token = self.id_to_token(token_id)
            if position > 0 and words and len(token) > len(prefix) and token.startswith(prefix):
                words[-1] += token[len(prefix):]
            else:
                words.append(token)
        return " ".join(words)


def _rust_words(tokenizer: Tokenizer, text: str) -> list[str]:
    """The words a Rust tokenizer's normaliser and pretokenizer make of `text`."""
    if tokenizer.normalizer is not None:
        text = tokenizer.normalizer.normalize_str(text)
    if tokenizer.pre_tokenizer is None:
        return [text] if text else []
    return [word for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text)]


def _split_at_markers(ids: np.ndarray, marker_id: int, documents: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids of documents that each end with `marker_id` -> (ids without markers, offsets)."""
    is_marker = ids == marker_id
    ends = np.flatnonzero(is_marker)
    if len(ends) != documents:
        raise RuntimeError(f"internal error: expected {documents} document markers, found {len(ends)}")
    offsets = np.zeros(documents + 1, dtype=np.int64)
    offsets[1:] = ends - np.arange(len(ends))
    return ids[~is_marker], offsets


def _flatten(id_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    offsets = np.zeros(len(id_lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter(itertools.chain.from_iterable(id_lists), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def _merge_routes(routes: list[tuple[list[int], tuple[np.ndarray, np.ndarray]]], count: int) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """Put documents encoded by different routes back in their original order."""
    pieces: list[np.ndarray] = [np.empty(0, np.int32)] * count
    for indices, (flat, offsets) in routes:
        for rank, index in enumerate(indices):
            pieces[index] = flat[offsets[rank] : offsets[rank + 1]]
    return _flatten_arrays(pieces)


def _flatten_arrays(pieces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((p.size for p in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate(pieces).astype(np.int32, copy=False) if pieces else np.empty(0, np.int32)
    return flat, offsets


class TransformersWordPieceEncoder(WordPieceEncoder):
    """transformers' BERT tokenization, entirely in Rust: BertNormalizer (clean text, CJK spacing,
    `str.lower`-style lowercasing, accent stripping), BertPreTokenizer, WordPiece; special tokens
    written in the text are kept whole, as transformers does.

    keras_hub normalises differently (NFKC case folding), so checkpoints converted from
    transformers use this encoder to keep their token ids.
    """

    MAX_WORD_CHARACTERS = 100  # transformers' WordPiece limit

    def __init__(
        self,
        vocabulary: Sequence[str],
        *,
        lowercase: bool = True,
        strip_accents: bool = True,
        suffix_indicator: str = "##",
        oov_token: str = "[UNK]",
        special_tokens: Sequence[str] | None = None,
        **_: object,
    ) -> None:
        super().__init__(
            vocabulary, lowercase=lowercase, strip_accents=strip_accents, suffix_indicator=suffix_indicator,
            oov_token=oov_token, special_tokens=special_tokens, special_tokens_in_strings=True,
        )
        def pipeline(extra_special: list[str]) -> Tokenizer:
            tokenizer = Tokenizer(models.WordPiece(
                vocab=dict(self._ids), unk_token=oov_token, continuing_subword_prefix=suffix_indicator,
                max_input_chars_per_word=self.MAX_WORD_CHARACTERS,
            ))
            tokenizer.normalizer = normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
            )
            tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in [*extra_special,
                *self.protected_tokens]])
            return tokenizer

        self._transformers = pipeline([])
        self._joined = pipeline([DOCUMENT_MARKER])
        self._marker_id = self._joined.token_to_id(DOCUMENT_MARKER)
        self._word_cache = self._make_word_cache()

    def _make_word_cache(self) -> AsciiWordPieceCache:
        """transformers' text cleaning deletes ASCII control characters other than tab, newline and return."""
        controls = "".join(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
        return AsciiWordPieceCache(
            self._word_pieces, lowercase=self.lowercase, separator=CACHE_SEPARATOR, separator_id=self._marker_id,
            dropped_characters=controls,
        )

    def _uses_rust_pipeline(self, text: str) -> bool:
        return True  # every text goes through the Rust pipeline

    def words(self, text: str) -> list[str]:
        return _rust_words(self._transformers, text)

    def _rust_ready(self, text: str) -> str:
        return text  # BertNormalizer cleans control characters itself

    def _encode_id_lists(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self._transformers.encode_batch_fast(list(texts),
                                                                                  add_special_tokens=False)]
