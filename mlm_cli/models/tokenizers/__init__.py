"""Tokenizers shared by several model families (SentencePiece, byte-level BPE)."""
