"""A token list indexed both ways, with the checks every vocabulary file gets (WordPiece, ESM residues)."""

from __future__ import annotations

from collections.abc import Sequence


class IndexedVocabulary:
    """`vocabulary` (token i has id i) with its token -> id index; refuses a repeated token or a missing oov token."""

    def __init__(self, vocabulary: Sequence[str], oov_token: str) -> None:
        self.vocabulary = list(vocabulary)
        self._ids: dict[str, int] = {}
        for index, token in enumerate(self.vocabulary):
            if token in self._ids:
                raise ValueError(
                    f"vocabulary has the token {token!r} twice (lines {self._ids[token] + 1} and {index + 1})")
            self._ids[token] = index
        if oov_token not in self._ids:
            raise ValueError(f"the oov token {oov_token!r} is not in the vocabulary")
        self.oov_token = oov_token

    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def token_to_id(self, token: str) -> int:
        if token not in self._ids:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return self._ids[token]

    def id_to_token(self, token_id: int) -> str:
        if not 0 <= int(token_id) < len(self.vocabulary):
            raise ValueError(f"token id {token_id} is outside the vocabulary (size {len(self.vocabulary)})")
        return self.vocabulary[int(token_id)]
