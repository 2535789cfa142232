"""Checkpoint formats other than keras_hub presets (Hugging Face transformers)."""
