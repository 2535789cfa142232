"""The docstring examples every family's masked-LM task, preprocessor and backbone share in shape, written once.

A family's `XMaskedLM`, `XMaskedLMPreprocessor` and `XBackbone` examples differ from another family's only
in how the tokenizer is built, the backbone's sizes, the sample inputs and the preset's name. The
functions here write those examples for one family; the family's class appends the result to
its docstring with `append_to_doc`, so `help()` shows it and tests/test_docstring_examples.py
runs it, as if it were written out in the class.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import TypeVar

from mlm_cli.models.naming import snake_case

T = TypeVar("T")
INDENT = "    "
WIDTH = 116  # doctest lines stay within the 120-column limit once indented
WORDPIECE_WORDS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jumps", "over",
                   "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", ".")
SENTENCEPIECE_TEXTS = ("the quick brown fox", "the lazy dog", "a cat sat on the mat", "the fox jumps over the dog",
                       "a bird sang")


def append_to_doc(text: str) -> Callable[[T], T]:
    """Class decorator: the class docstring followed by `text` (indented as the docstring's body)."""

    def append(cls: T) -> T:
        cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n\n" + textwrap.indent(text.strip("\n"), INDENT) + "\n"
        return cls

    return append


def statement(code: str) -> str:
    """One doctest statement: `>>> ` and, where it is longer than a line, `... ` lines broken after commas
    outside string literals, aligned after the first opening bracket."""
    pieces, start, quote = [], 0, ""
    for index, char in enumerate(code):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "," and code[index + 1 : index + 2] == " ":
            pieces.append(code[start : index + 2])
            start = index + 2
    pieces.append(code[start:])
    opening = min((code.index(b) for b in "([{" if b in code), default=-1)
    lines, line = [], ""
    for piece in pieces:
        if line.strip() and len(line) + len(piece.rstrip()) > WIDTH - 4:
            lines.append(line.rstrip())
            line = " " * (opening + 1)
        line += piece
    lines.append(line)
    return "\n".join((">>> " if i == 0 else "... ") + text for i, text in enumerate(lines))


def imports(prefix: str, *roles: str) -> str:
    names = ", ".join(f"{prefix}{role}" for role in sorted(roles))
    return statement(f"from mlm_cli.models import ({names})" if len(names) > 80 else
                     f"from mlm_cli.models import {names}")


def wordpiece_setup(prefix: str) -> str:
    """A WordPiece tokenizer of 20 tokens (BERT's special tokens first), lowercasing."""
    return "\n".join([statement(f"vocabulary = {quoted(WORDPIECE_WORDS)}"),
                      statement(f"tokenizer = {prefix}Tokenizer(vocabulary=vocabulary, lowercase=True)")])


def sentencepiece_setup(prefix: str, vocabulary_size: int) -> str:
    """A word-level SentencePiece model learned from five sentences (`train_on`), numbered as the family's."""
    return "\n".join([statement(f"texts = {quoted(SENTENCEPIECE_TEXTS)}"), statement(
        f'tokenizer = {prefix}Tokenizer.train_on(texts, vocabulary_size={vocabulary_size}, model_type="word")')])


def byte_pair_setup(prefix: str) -> str:
    """A byte-level BPE tokenizer of 20 tokens (RoBERTa's special tokens first) and five merges."""
    return "\n".join([
        statement('vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3, "a": 4, "c": 5, "e": 6, "h": 7, "t": 8, '
                  '"Ġ": 9, "th": 10, "the": 11, "at": 12, "Ġc": 13, "Ġcat": 14, "d": 15, "g": 16, "o": 17, "s": 18, '
                  '"n": 19}'),
        statement(f'tokenizer = {prefix}Tokenizer(vocabulary=vocabulary, merges=["t h", "th e", "a t", "Ġ c", '
                  '"Ġc at"])'),
    ])


def protein_setup(prefix: str) -> str:
    """A residue vocabulary of 20 tokens, ESM's special tokens included."""
    residues = ("<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q",
                "N", "M", "<mask>")
    return "\n".join([statement(f"vocabulary = {quoted(residues)}"),
                      statement(f"tokenizer = {prefix}Tokenizer(vocabulary=vocabulary)")])


def backbone_example(prefix: str, sizes: str, inputs: dict[str, str], outputs: str) -> str:
    """Examples of a family's backbone: built at `sizes`, called on `inputs` (name -> numpy expression), the
    shapes of its `outputs`."""
    entries = ", ".join(f'"{name}": {value}' for name, value in inputs.items())
    return "\n".join([
        "Examples:", "",
        ">>> import numpy as np",
        f">>> from mlm_cli.models import {prefix}Backbone",
        statement(f"backbone = {prefix}Backbone(vocabulary_size=20, {sizes})"),
        statement(f"inputs = {{{entries}}}"),
        ">>> {key: tuple(value.shape) for key, value in backbone(inputs).items()}",
        outputs,
    ])


def masked_lm_example(prefix: str, setup: str, sizes: str, texts: Sequence[str], preset: str | None, *,
                      task: str = "MaskedLM", variable: str = "masked_lm", vocabulary_size: int = 20,
                      more: str = "") -> str:
    """Args and Examples of a family's masked-LM task: tokenizer (`setup`), preprocessor, backbone of `sizes`,
    the task's logits, and its preset."""
    name = f"{prefix}{task}"
    lines = [
        "Args:",
        f"{INDENT}backbone: {article(prefix)} `{prefix}Backbone`.",
        f"{INDENT}preprocessor: {article(prefix)} `{name}Preprocessor`, or None (the default) to feed preprocessed",
        f"{INDENT}{INDENT}batches.",
        f'{INDENT}name: default "{snake_case(name)}". Other keyword arguments go to `MaskedLM` and `keras.Model`.',
        "", "Examples:", "",
        imports(prefix, "Backbone", task, f"{task}Preprocessor", "Tokenizer"),
        setup,
        statement(f"preprocessor = {prefix}{task}Preprocessor(tokenizer, sequence_length=8, mask_selection_length=2, "
                  "seed=0)"),
        statement(f"backbone = {prefix}Backbone(vocabulary_size=tokenizer.vocabulary_size(), {sizes})"),
        statement(f"{variable} = {prefix}{task}(backbone, preprocessor=preprocessor)"),
        statement(f"x, y, sample_weight = preprocessor({quoted(texts)})"),
        f">>> tuple({variable}(x).shape)  # logits: [batch, mask_selection_length, vocabulary_size]",
        f"(2, 2, {vocabulary_size})",
    ]
    if preset:
        lines += ["", "From a preset (downloads it; not run here):", "",
                  f'{INDENT}{variable} = {prefix}{task}.from_preset("{preset}")']
    return "\n".join(lines) + (f"\n\n{more.strip(chr(10))}" if more else "")


def preprocessor_doc(prefix: str, tokenizer_holds: str, setup: str, texts: Sequence[str], keys: Sequence[str], *,
                     task: str = "MaskedLM", sequence_length: int = 8, more: str = "") -> str:
    """Args and Examples of a family's preprocessor: what its tokenizer holds, and the keys of its `x`."""
    name = f"{prefix}{task}Preprocessor"
    return "\n".join([
        "Args:",
        f"{INDENT}tokenizer: {article(prefix)} `{prefix}Tokenizer` with its {tokenizer_holds}.",
        f"{INDENT}The other arguments, and their defaults, are `MaskedLMPreprocessor`'s (sequence_length=512,",
        f'{INDENT}truncate="round_robin", mask_selection_rate=0.15, mask_selection_length=96,',
        f"{INDENT}mask_token_rate=0.8, random_token_rate=0.1, seed=None); `name` defaults to the class",
        f"{INDENT}name in snake case.",
        "", "Examples:", "",
        imports(prefix, f"{task}Preprocessor", "Tokenizer"),
        setup,
        statement(f"preprocessor = {name}(tokenizer, sequence_length={sequence_length}, mask_selection_length=2, "
                  "seed=0)"),
        statement(f"x, y, sample_weight = preprocessor({quoted(texts)})"),
        ">>> {key: value.shape for key, value in sorted(x.items())}",
        "{" + ", ".join(f"'{key}': {shape(key, sequence_length)}" for key in sorted(keys)) + "}",
        ">>> y.shape, sample_weight.shape  # the masked tokens' ids and weights",
        "((2, 2), (2, 2))",
    ]) + (f"\n\n{more.strip(chr(10))}" if more else "")


def article(name: str) -> str:
    """The indefinite article before a class name as read aloud (an `FNet...`, a `Bert...`)."""
    return "an" if name[0] in "AEFIOX" else "a"


def quoted(texts: Sequence[str]) -> str:
    """A list literal of `texts`, in double quotes."""
    return "[" + ", ".join(f'"{text}"' for text in texts) + "]"


def shape(key: str, sequence_length: int) -> str:
    return "(2, 2)" if key == "mask_positions" else f"(2, {sequence_length})"
