"""SentencePiece tokenizers with keras_hub's semantics, on the `sentencepiece` library (no TensorFlow).

Families (XLM-RoBERTa, ALBERT, DeBERTaV3, FNet) subclass `SentencePieceTokenizer` and
say which pieces are their start, end, padding and mask tokens; those whose ids differ
from the model file's (fairseq's remapping in XLM-R, an appended [MASK] in DeBERTaV3)
override `map_ids` / `vocabulary_size` / `get_vocabulary` / `id_to_token`.

The model file is a serialized protobuf, parsed by sentencepiece's C++ code: loading
it runs no Python from the file. Presets store it as `assets/tokenizer/vocabulary.spm`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.models.naming import snake_case
from mlm_cli.models.tokenizers.base import Tokenizer
from mlm_cli.models.tokenizers.sentencepiece_model_file import UNIGRAM, read_sentencepiece_model
from mlm_cli.models.tokenizers.sentencepiece_words import WORD_START, check_unigram, with_word_pieces, word_scores

PROTO_FILE = "vocabulary.spm"
MAX_PROTO_BYTES = 1 << 30  # far above any real model (XLM-R's is 5 MB); refuse before reading more


class SentencePieceEncoder:
    """Batch encoding for the data pipeline: raw sentencepiece ids, then the family's id mapping."""

    def __init__(self, tokenizer: "SentencePieceTokenizer"):
        self.tokenizer = tokenizer

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        flat, offsets = self.encode_batch_flat(texts)
        return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]

    def encode_batch_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids concatenated (int32) and the document offsets (int64, len(texts) + 1)."""
        id_lists = self.tokenizer.piece_ids(list(texts))
        lengths = np.fromiter((len(ids) for ids in id_lists), dtype=np.int64, count=len(id_lists))
        offsets = np.zeros(len(id_lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter(chain.from_iterable(id_lists), dtype=np.int32, count=int(offsets[-1]))
        return self.tokenizer.map_ids(flat), offsets


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece model plus a family's special tokens; token ids equal keras_hub's.

    Subclasses set the piece names of `start_token`, `end_token`, `pad_token` and
    `mask_token` (and `extra_special_tokens`); `special_token_ids` are never chosen for
    masking.

    The base of `AlbertTokenizer`, `DebertaV3Tokenizer`, `FNetTokenizer` and
    `XLMRobertaTokenizer`; build those. The model's pieces must include the family's
    special tokens (ValueError otherwise). `detokenize` drops the pad token.

    Args:
        proto: a serialized SentencePiece model (bytes), the path of a .spm / .model file,
            or None to set it later (`set_proto`, or a preset's assets/tokenizer/vocabulary.spm).
        sequence_length: None (the default) or a positive integer to truncate and pad every
            result to (padding with the pad token's id).
        add_bos: whether sentencepiece adds the model's beginning-of-sentence piece to every
            result. Default False.
        add_eos: the same for the end-of-sentence piece. Default False.
        name: default the class name in snake case (`f_net_tokenizer`, ...).
        config_file: the preset file the config is written to. Default "tokenizer.json".
        **kwargs: only `trainable` and `dtype`, which are ignored.

    Examples:

    A tiny word-level model trained in memory (`train_on`), with the pieces FNet and ALBERT expect:

    >>> from mlm_cli.models import FNetTokenizer
    >>> from mlm_cli.models.family_examples import SENTENCEPIECE_TEXTS as texts  # five short sentences
    >>> tokenizer = FNetTokenizer.train_on(texts, vocabulary_size=20, model_type="word")
    >>> ids = tokenizer("the quick fox")
    >>> ids.tolist(), tokenizer.detokenize(ids)
    ([6, 18, 9], 'the quick fox')
    >>> tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id
    (2, 3, 0, 4)
    >>> FNetTokenizer(proto=tokenizer.proto, sequence_length=5)(["the quick fox"]).tolist()
    [[6, 18, 9, 0, 0]]
    """

    start_token = "[CLS]"
    end_token = "[SEP]"
    pad_token = "<pad>"
    mask_token = "[MASK]"
    extra_special_tokens: tuple[str, ...] = ()
    asset_files = (PROTO_FILE,)
    # How `train_on` numbers the special pieces (sentencepiece trainer options), as the family's own models do.
    trainer_special_pieces: dict[str, Any] = dict(
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>", bos_piece="[CLS]",
        eos_piece="[SEP]", user_defined_symbols="[MASK]",
    )
    # Whether pieces appended to the model file take the next ids, every existing id unchanged (False where a family
    # numbers a token after the model's pieces that cannot become a piece there: XLM-R's <mask>, always the last id).
    appends_pieces = True

    @classmethod
    def train_on(cls, texts: Iterable[str], vocabulary_size: int, model_type: str = "unigram", lowercase: bool = False,
                 **options: Any) -> "SentencePieceTokenizer":
        """A tokenizer of this family with a new SentencePiece model learned from `texts`.

        The family's special pieces get the ids its released models give them; `model_type`
        is sentencepiece's ("unigram", "bpe", "word" or "char"); `lowercase` folds the text
        to lower case first; other `options` go to sentencepiece's trainer as they are (and
        override the special pieces). Training is single-threaded, so one input always gives
        the same model.
        """
        import sentencepiece

        model = io.BytesIO()
        trainer_options = {**cls.trainer_special_pieces, **options}
        if lowercase:
            trainer_options.setdefault("normalization_rule_name", "nmt_nfkc_cf")
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, vocab_size=int(vocabulary_size),
            model_type=model_type, num_threads=1, minloglevel=2, **trainer_options,
        )
        return cls(proto=model.getvalue())

    def __init__(self, proto: bytes | str | os.PathLike | None = None, sequence_length: int | None = None,
                 add_bos: bool = False, add_eos: bool = False, name: str | None = None,
                 config_file: str = "tokenizer.json", **kwargs: Any):
        super().__init__(name=name or snake_case(type(self).__name__), config_file=config_file,
                         sequence_length=sequence_length, **kwargs)
        self.add_bos = bool(add_bos)
        self.add_eos = bool(add_eos)
        self.proto: bytes | None = None
        self._processor = None
        self.encoder = SentencePieceEncoder(self)
        if proto is not None:
            self.set_proto(proto)

    # --- the model file ---------------------------------------------------------

    def set_proto(self, proto: bytes | str | os.PathLike) -> None:
        """Use a serialized SentencePiece model (bytes, or the path of a .spm/.model file)."""
        import sentencepiece

        if isinstance(proto, (str, os.PathLike)):
            proto = _read_bounded(Path(proto))
        if not isinstance(proto, (bytes, bytearray)) or not proto:
            raise ValueError("a SentencePiece model must be non-empty bytes or a file path")
        processor = sentencepiece.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(bytes(proto))
        except (RuntimeError, OSError, TypeError) as error:
            raise ValueError(f"not a valid SentencePiece model ({str(error).splitlines()[0][:200]})") from None
        self._processor = processor
        self.proto = bytes(proto)
        self._pieces = [processor.IdToPiece(i) for i in range(processor.GetPieceSize())]
        self._piece_ids = {piece: i for i, piece in enumerate(self._pieces)}
        self._unigram = read_sentencepiece_model(self.proto).model_type == UNIGRAM
        self.configure_special_tokens()

    def configure_special_tokens(self) -> None:
        """Look up the family's special tokens; a vocabulary without them is refused."""
        names = {"start": self.start_token, "end": self.end_token, "pad": self.pad_token, "mask": self.mask_token}
        vocabulary = set(self.get_vocabulary())
        missing = [token for token in [*names.values(), *self.extra_special_tokens] if token not in vocabulary]
        if missing:
            raise ValueError(f"the SentencePiece vocabulary lacks the special tokens {missing}")
        self.cls_token_id = self.token_to_id(self.start_token)
        self.sep_token_id = self.token_to_id(self.end_token)
        self.pad_token_id = self.token_to_id(self.pad_token)
        self.mask_token_id = self.token_to_id(self.mask_token)

    @property
    def processor(self):
        """The loaded sentencepiece model (ValueError until one is set)."""
        if self._processor is None:
            raise ValueError("this tokenizer has no SentencePiece model yet: pass `proto=` or load it from a preset")
        return self._processor

    @property
    def special_tokens(self) -> list[str]:
        tokens = [self.start_token, self.end_token, self.pad_token, self.mask_token, *self.extra_special_tokens]
        return list(dict.fromkeys(tokens))

    # --- vocabulary (subclasses with remapped ids override these four) -----------

    def vocabulary_size(self) -> int:
        return self.processor.GetPieceSize()

    def starts_word(self, token: str) -> bool:
        """SentencePiece: a piece that begins with "▁" (U+2581, the space marker) begins a word."""
        return token.startswith("\u2581")

    def get_vocabulary(self) -> list[str]:
        self.processor.GetPieceSize()  # raises until a model is set
        return list(self._pieces)

    def token_to_id(self, token: str) -> int:
        unknown = self.processor.unk_id()
        return self._piece_ids.get(token, unknown)

    def id_to_token(self, token_id: int) -> str:
        if not 0 <= int(token_id) < self.vocabulary_size():
            raise ValueError(f"token id must be in [0, {self.vocabulary_size() - 1}], got {token_id}")
        return self._pieces[int(token_id)]

    def map_ids(self, ids: np.ndarray) -> np.ndarray:
        """Model-file ids -> the family's token ids (identity unless the family remaps)."""
        return ids

    def unmap_ids(self, ids: np.ndarray) -> np.ndarray:
        """The family's token ids -> model-file ids (inverse of `map_ids`, for decoding)."""
        return ids

    # --- whole words (vocabulary extension; see sentencepiece_words) -------------------

    @property
    def adds_whole_words(self) -> bool:
        """Whether `with_added_words` works: a unigram model, in a family whose ids allow appended pieces."""
        return self.appends_pieces and self._processor is not None and self._unigram

    def proto_with_every_id(self) -> bytes:
        """The model file holding a piece for every id of this tokenizer (the one new pieces are appended to)."""
        return self.proto

    def text_words(self, text: str) -> list[str]:
        """The words of `text` as the model sees them: normalised by the model's rules, split at spaces."""
        return [word for word in self.processor.Normalize(text).split(WORD_START) if word]

    def word_piece_ids(self, words: Sequence[str]) -> list[list[int]]:
        """The token ids of each word (a normalised word, as `text_words` returns it)."""
        return [self.map_ids(np.asarray(ids, dtype=np.int32)).tolist() for ids in self._word_pieces(words)]

    def _word_pieces(self, words: Sequence[str]) -> list[list[int]]:
        """Model-file ids of each word alone, without the begin / end pieces `add_bos` / `add_eos` add."""
        ids = self.piece_ids(list(words))
        return [row[int(self.add_bos) : len(row) - int(self.add_eos)] for row in ids]

    def addable_words(self, words: list[str]) -> list[bool]:
        """Whether each word can become a piece: one normalised word, not a piece yet, with no unknown character."""
        unknown = self.processor.unk_id()
        return [WORD_START + word not in self._piece_ids and self.text_words(word) == [word] and unknown not in ids
                for word, ids in zip(words, self._word_pieces(words))]

    def with_added_words(self, words: Sequence[str]) -> "SentencePieceTokenizer":
        """A copy of this tokenizer whose model ends with a piece "▁" + word for each of `words` (ids from
        `vocabulary_size()` on), each scored to beat the pieces it replaces.

        Each word must be one normalised word, new to the model, with no unknown character (ValueError otherwise).
        Text without the substring "▁" + word (the word at a word start) keeps its ids.
        """
        if not self.adds_whole_words:
            raise ValueError(f"{type(self).__name__} cannot add whole words to this model")
        model = read_sentencepiece_model(self.proto)
        check_unigram(model)
        known = set(self._pieces)
        for word in words:
            if WORD_START + word in known:
                raise ValueError(f"{word!r} is already in the vocabulary (or given twice)")
            if self.text_words(word) != [word]:
                raise ValueError(f"{word!r} is not one normalised word of this tokenizer")
            known.add(WORD_START + word)
        splits = self._word_pieces(words)
        unknown = [word for word, ids in zip(words, splits) if self.processor.unk_id() in ids]
        if unknown:
            raise ValueError(f"{unknown[:5]} have characters the model does not know")
        scores = word_scores(model, [sum(self.processor.GetScore(i) for i in ids) for ids in splits])
        extended = type(self)(**{**self.get_config(), **self.extension_config(),
                                 "proto": with_word_pieces(self.proto_with_every_id(), words, scores)})
        first = self.vocabulary_size()
        wrong = [word for index, (word, ids) in enumerate(zip(words, extended.word_piece_ids(words)))
                 if ids != [first + index]]
        if wrong:
            raise ValueError(f"{wrong[:5]} would not be read as one token")
        return extended

    # --- tokenizing -----------------------------------------------------------------

    def piece_ids(self, texts: list[str]) -> list[list[int]]:
        """sentencepiece's ids for each text (before `map_ids`)."""
        return self.processor.Encode(texts, add_bos=self.add_bos, add_eos=self.add_eos)

    def _decode(self, ids: np.ndarray) -> str:
        """Ids -> text, as sentencepiece decodes them (the pad token dropped, ids unmapped)."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[~np.isin(ids, [self.pad_token_id])]
        return self.processor.Decode(self.unmap_ids(ids).tolist())

    # --- config and assets ----------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """keras_hub's SentencePieceTokenizer config; the model itself is an asset."""
        return {
            **super().get_config(),
            "proto": None,
            "sequence_length": self.sequence_length,
            "add_bos": self.add_bos,
            "add_eos": self.add_eos,
        }

    def save_assets(self, directory: str | os.PathLike) -> None:
        if self.proto is None:
            raise ValueError("this tokenizer has no SentencePiece model to save")
        (Path(directory) / PROTO_FILE).write_bytes(self.proto)

    def load_assets(self, directory: str | os.PathLike) -> None:
        self.set_proto(Path(directory) / PROTO_FILE)


def _read_bounded(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_PROTO_BYTES:
        raise ValueError(f"{path.name} is {size} bytes, too large for a SentencePiece model")
    return path.read_bytes()

