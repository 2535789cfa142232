"""SentencePiece model files at the level the `sentencepiece` library does not expose.

transformers rebuilds ALBERT's tokenizer from the model's pieces (with their types), its
unknown-token id and its normalisation table (`precompiled_charsmap`); sentencepiece's
Python API gives neither the piece types nor the table. A checkpoint saved by recent
transformers may carry only its tokenizer.json, from which a model file is written back.
The file is a protobuf message, read and written here with a small bounds-checked
wire-format codec: no protobuf package, no code from the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

# Field numbers in sentencepiece's sentencepiece_model.proto.
MODEL_PIECES, MODEL_TRAINER_SPEC, MODEL_NORMALIZER_SPEC = 1, 2, 3
PIECE_TEXT, PIECE_SCORE, PIECE_TYPE = 1, 2, 3
TRAINER_MODEL_TYPE, TRAINER_UNK_ID = 3, 40
NORMALIZER_NAME, NORMALIZER_CHARSMAP, NORMALIZER_DUMMY_PREFIX = 1, 2, 3
NORMALIZER_REMOVE_SPACES, NORMALIZER_ESCAPE_SPACES = 4, 5

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM = 1
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Piece:
    text: str
    score: float
    type: int  # NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED or BYTE


@dataclass(frozen=True)
class SentencePieceModel:
    pieces: list[Piece]
    model_type: int  # 1 unigram, 2 BPE, 3 word, 4 char
    unk_id: int
    precompiled_charsmap: bytes


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated or malformed SentencePiece model")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for every field of one message; lengths are checked against the data."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        field, wire = key >> 3, key & 7
        if wire == VARINT:
            value, position = _varint(data, position)
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if position + size > len(data):
                raise ValueError("truncated SentencePiece model")
            value, position = data[position : position + size], position + size
        elif wire == LENGTH_DELIMITED:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise ValueError("truncated SentencePiece model")
            value, position = data[position : position + length], position + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in the SentencePiece model")
        yield field, wire, value


def _piece(data: bytes) -> Piece:
    text, score, kind = "", 0.0, NORMAL
    for field, wire, value in _fields(data):
        if field == PIECE_TEXT and wire == LENGTH_DELIMITED:
            text = bytes(value).decode("utf-8")
        elif field == PIECE_SCORE and wire == FIXED32:
            (score,) = struct.unpack("<f", value)
        elif field == PIECE_TYPE and wire == VARINT:
            kind = int(value)
    return Piece(text, float(score), kind)


def read_sentencepiece_model(proto: bytes) -> SentencePieceModel:
    """Pieces, model type, unknown id and normalisation table of a serialized SentencePiece model."""
    pieces: list[Piece] = []
    model_type, unk_id, charsmap = UNIGRAM, 0, b""
    try:
        for field, wire, value in _fields(proto):
            if wire != LENGTH_DELIMITED:
                continue
            if field == MODEL_PIECES:
                pieces.append(_piece(value))
            elif field == MODEL_TRAINER_SPEC:
                for inner, inner_wire, inner_value in _fields(value):
                    if inner == TRAINER_MODEL_TYPE and inner_wire == VARINT:
                        model_type = int(inner_value)
                    elif inner == TRAINER_UNK_ID and inner_wire == VARINT:
                        unk_id = int(inner_value)
            elif field == MODEL_NORMALIZER_SPEC:
                for inner, inner_wire, inner_value in _fields(value):
                    if inner == NORMALIZER_CHARSMAP and inner_wire == LENGTH_DELIMITED:
                        charsmap = bytes(inner_value)
    except UnicodeDecodeError:
        raise ValueError("a SentencePiece piece is not valid UTF-8") from None
    return SentencePieceModel(pieces, model_type, unk_id, charsmap)


def _encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative values are not written into SentencePiece models")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes | int) -> bytes:
    key = _encode_varint(number << 3 | wire)
    if wire == VARINT:
        return key + _encode_varint(int(payload))
    if wire == LENGTH_DELIMITED:
        return key + _encode_varint(len(payload)) + payload
    return key + payload


def piece_field(piece: Piece) -> bytes:
    """One serialized `pieces` entry of a model message (text, score and type)."""
    body = _field(PIECE_TEXT, LENGTH_DELIMITED, piece.text.encode("utf-8"))
    body += _field(PIECE_SCORE, FIXED32, struct.pack("<f", piece.score))
    body += _field(PIECE_TYPE, VARINT, piece.type)
    return _field(MODEL_PIECES, LENGTH_DELIMITED, body)


def write_sentencepiece_model(model: SentencePieceModel) -> bytes:
    """A serialized unigram SentencePiece model with these pieces and normalisation table.

    Whitespace is handled as SentencePiece's own models do (dummy prefix, extra spaces
    removed, spaces escaped to "▁"); the unknown, control and user-defined pieces are
    marked by their types.
    """
    out = bytearray()
    for piece in model.pieces:
        out += piece_field(piece)
    trainer = _field(TRAINER_MODEL_TYPE, VARINT, model.model_type) + _field(TRAINER_UNK_ID, VARINT, model.unk_id)
    out += _field(MODEL_TRAINER_SPEC, LENGTH_DELIMITED, trainer)
    normalizer = _field(NORMALIZER_NAME, LENGTH_DELIMITED, b"nmt_nfkc" if model.precompiled_charsmap else b"identity")
    normalizer += _field(NORMALIZER_CHARSMAP, LENGTH_DELIMITED, model.precompiled_charsmap)
    for number in (NORMALIZER_DUMMY_PREFIX, NORMALIZER_REMOVE_SPACES, NORMALIZER_ESCAPE_SPACES):
        normalizer += _field(number, VARINT, 1)
    out += _field(MODEL_NORMALIZER_SPEC, LENGTH_DELIMITED, normalizer)
    return bytes(out)
