"""DistilBERT: BERT's WordPiece tokenizer, a BERT encoder without segments or pooler, masked-LM task."""
