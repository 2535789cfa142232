"""BERT: WordPiece tokenizer, post-layer-norm encoder, masked-LM task."""
