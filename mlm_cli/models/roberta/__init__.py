"""RoBERTa: byte-level BPE tokenizer, post-layer-norm encoder without segment embeddings, masked-LM task."""
