"""mlm: fine-tune and continue pretraining of masked language models on Keras 3."""

__version__ = "0.1.0"
