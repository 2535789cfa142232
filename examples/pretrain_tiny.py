"""Pretrain a tiny BERT from scratch on mlm's embedded sample corpus, fully offline.

    python examples/pretrain_tiny.py [OUTPUT_DIR]

Trains a WordPiece vocabulary on the corpus, fits a 2-layer BERT for a few epochs,
reports held-out masked-token loss and accuracy before and after, and saves the
result as a keras_hub-format preset that `MaskedLM.from_preset` (or keras_hub) loads.
"""

from __future__ import annotations

import sys
import time
from importlib import resources

import keras  # noqa: E402

from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer, MaskedLM

# Import mlm before keras: it selects mlm's default backend (PyTorch) unless KERAS_BACKEND is set.
from mlm_cli.models.tokenizers.wordpiece_vocabulary_trainer import train_wordpiece_vocabulary
from mlm_cli.seeding import set_seed


def main(output_dir: str = "tiny-bert") -> None:
    set_seed(0)
    corpus = resources.files("mlm_cli.samples").joinpath("corpus.txt").read_text(encoding="utf-8").splitlines()
    train_texts, heldout_texts = corpus[:-300], corpus[-300:]

    vocabulary = train_wordpiece_vocabulary(train_texts, vocabulary_size=1000)
    tokenizer = BertTokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = BertMaskedLMPreprocessor(tokenizer, sequence_length=64, mask_selection_length=12, seed=0)
    backbone = BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=64, intermediate_dim=128,
        max_sequence_length=64,
    )
    model = BertMaskedLM(backbone, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.AdamW(2e-3, weight_decay=0.01))
    print(
        f"backend {keras.backend.backend()}, {backbone.parameter_count():,} parameters, {len(train_texts)} training "
        "documents")

    before = model.evaluate(heldout_texts, batch_size=64, verbose=0, return_dict=True)
    start = time.perf_counter()
    model.fit(train_texts, batch_size=32, epochs=3, verbose=2)
    seconds = time.perf_counter() - start
    after = model.evaluate(heldout_texts, batch_size=64, verbose=0, return_dict=True)
    print(f"held-out masked loss {before['loss']:.3f} -> {after['loss']:.3f}, "
          f"accuracy {before['sparse_categorical_accuracy']:.3f} -> {after['sparse_categorical_accuracy']:.3f} "
          f"({seconds:.1f} s of training)")

    model.save_to_preset(output_dir, overwrite=True)
    reloaded = MaskedLM.from_preset(output_dir)
    print(f"saved {output_dir}/ ({type(reloaded).__name__}, loads back with MaskedLM.from_preset)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
