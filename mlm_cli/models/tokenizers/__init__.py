"""Tokenizers shared by several model families (WordPiece, SentencePiece, byte-level BPE), without keras."""
