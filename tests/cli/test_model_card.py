"""Every preset mlm writes carries a model card (README.md) saying how it was made."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.run_once  # the subprocess picks its backend; the card does not depend on it


def card_table(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", text, flags=re.M))


@pytest.mark.slow
def test_trained_and_exported_presets_have_model_cards(mlm, tiny_preset, corpus_files, tmp_path):
    output = tmp_path / "run"
    args = ["train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--validation-data",
            str(corpus_files / "heldout.txt"),
            "--output", str(output), "--max-steps", "6", "--batch-size", "4", "--sequence-length", "32",
            "--eval-batches", "2", "--log-every", "2", "--tensorboard", "--json"]
    done = mlm(*args)
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout)
    card = (output / "README.md").read_text()
    assert card.startswith("---\n") and 'pipeline_tag: "fill-mask"' in card
    table = card_table(card)
    assert table["base preset"] == f"`{tiny_preset}`"
    assert table["model family"] == "bert"
    assert table["steps"] == "6"
    assert table["tokens seen (non-padding)"] == f"{summary['tokens_seen']:,}"
    assert float(table["final training loss"]) == pytest.approx(summary["final_loss"], abs=1e-4)
    assert float(table["validation loss"]) == pytest.approx(summary["val_loss"], abs=1e-4)
    size = (corpus_files / "train.txt").stat().st_size
    assert f"`{corpus_files / 'train.txt'}`: 1 file(s), {size / 1000:.1f} KB" in card
    assert f"Held out for validation: `{corpus_files / 'heldout.txt'}`" in card
    assert "mlm train --preset" in card and "--max-steps 6" in card  # the full command line
    from mlm_cli import __version__

    assert f"mlm {__version__}" in card

    # the end of training also drew training.png and wrote TensorBoard events
    assert (output / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from tests.support.tensorboard import read_events, scalars

    (events,) = (output / "tensorboard").glob("events.out.tfevents.*")
    logged = [(event.step, scalars(event)) for event in read_events(events) if scalars(event)]
    metrics = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert [step for step, values in logged if "train/loss" in values] == [
        r["step"] for r in metrics if r["type"] == "train"] == [2, 4, 6]
    assert [values["validation/loss"] for _, values in logged if "validation/loss" in values] == pytest.approx(
        [summary["val_loss"]], rel=1e-6)

    exported = tmp_path / "exported"
    done = mlm("export", "--preset", str(output), "--output", str(exported), "--dtype", "bfloat16")
    assert done.code == 0, done.stderr
    exported_card = (exported / "README.md").read_text()
    assert exported_card.startswith(card.rstrip())  # the training card, then how it was exported
    assert "## Export" in exported_card and "bfloat16" in exported_card and "mlm export --preset" in exported_card
