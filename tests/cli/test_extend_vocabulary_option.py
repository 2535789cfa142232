"""`mlm train --extend-vocabulary N` through the entry point: an extended preset is published, exported and resumed."""

from __future__ import annotations

import json
import random

import pytest

from tests.support.cli import run_mlm_in_process
from tests.support.corpus import sample_sentences

DOMAIN_WORDS = ["kubectl", "systemd", "grep", "chmod", "sudo"]  # several pieces each in the tiny vocabulary


@pytest.fixture()
def domain_corpus(tmp_path):
    """Sentences of the tiny vocabulary's words with a domain word in most of them (each well over 20 times)."""
    rng = random.Random(3)
    documents = [f"{sentence} {rng.choice(DOMAIN_WORDS)} {rng.choice(DOMAIN_WORDS)}"
                 for sentence in sample_sentences(240, seed=2)]
    path = tmp_path / "domain.txt"
    path.write_text("\n".join(documents) + "\n", encoding="utf-8")
    return path


def train(preset, corpus, tmp_path, *extra: str):
    return run_mlm_in_process(
        "train", "--preset", str(preset), "--data", str(corpus), "--output", str(tmp_path / "run"), "--batch-size",
        "4", "--sequence-length", "32", "--save-every", "2", *extra, env={"MLM_CACHE_DIR": str(tmp_path / "cache")},
    )


@pytest.mark.slow  # trains twice (a run, then its resumption) and exports
def test_extended_vocabulary_is_trained_published_exported_and_kept_on_resume(tiny_preset, domain_corpus, tmp_path):
    import numpy as np

    from mlm_cli.models import MaskedLM

    base = MaskedLM.from_preset(tiny_preset).preprocessor.tokenizer
    done = train(tiny_preset, domain_corpus, tmp_path, "--max-steps", "4", "--extend-vocabulary", "50")
    assert done.code == 0, done.stderr
    size = base.vocabulary_size()
    added = len(DOMAIN_WORDS)  # the only words of at least 20 occurrences that the tiny vocabulary splits
    assert f"extended the vocabulary by {added} words ({size} → {size + added})" in done.stderr
    run = tmp_path / "run"
    assert json.loads((run / "train_config.json").read_text())["extend_vocabulary"] == 50
    assert json.loads((run / "config.json").read_text())["config"]["vocabulary_size"] == size + added
    assert (f"| vocabulary | {size + added:,} tokens, {added} of them whole words of the corpus added by "
            "`--extend-vocabulary 50`") in (run / "README.md").read_text()
    rows = (run / "added_words.tsv").read_text().splitlines()
    assert rows[0] == "word\tcount\tpieces" and sorted(row.split("\t")[0] for row in rows[1:]) == sorted(DOMAIN_WORDS)

    published = MaskedLM.from_preset(run)
    tokenizer = published.preprocessor.tokenizer
    assert sorted(tokenizer.get_vocabulary()[size:]) == sorted(DOMAIN_WORDS)
    assert len(tokenizer("sudo kubectl")) == 2 and tokenizer("the model").tolist() == base("the model").tolist()

    exported = run_mlm_in_process("export", "--preset", str(run), "--format", "hf", "--output",
                                  str(tmp_path / "hf"), env={"MLM_CACHE_DIR": str(tmp_path / "cache")})
    assert exported.code == 0, exported.stderr
    import transformers

    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert hf_tokenizer("sudo kubectl", add_special_tokens=False)["input_ids"] == tokenizer("sudo kubectl").tolist()
    assert transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").config.vocab_size == size + added

    refused = train(tiny_preset, domain_corpus, tmp_path, "--max-steps", "6", "--extend-vocabulary", "10", "--resume")
    assert refused.code == 2 and "extend-vocabulary" in refused.stderr and "Traceback" not in refused.stderr
    resumed = train(tiny_preset, domain_corpus, tmp_path, "--max-steps", "6", "--extend-vocabulary", "50", "--resume")
    assert resumed.code == 0, resumed.stderr
    assert "extended the vocabulary" not in resumed.stderr  # the checkpoint's vocabulary, not learned again
    again = MaskedLM.from_preset(run).preprocessor.tokenizer
    assert again.get_vocabulary() == tokenizer.get_vocabulary()
    assert not np.array_equal(again("sudo kubectl"), base("sudo kubectl"))


def test_a_family_without_words_is_refused_in_one_line(domain_corpus, tmp_path):
    from mlm_cli.models import ESMBackbone, ESMMaskedPLM, ESMMaskedPLMPreprocessor, ESMTokenizer
    from tests.family_sizes import TINY_SIZES

    vocabulary = ["<pad>", "<cls>", "<eos>", "<unk>", "L", "A", "G", "V", "<mask>"]
    tokenizer = ESMTokenizer(vocabulary=vocabulary)
    backbone = ESMBackbone(vocabulary_size=len(vocabulary), **TINY_SIZES["esm"], max_sequence_length=64)
    ESMMaskedPLM(backbone, preprocessor=ESMMaskedPLMPreprocessor(tokenizer, sequence_length=32)).save_to_preset(
        tmp_path / "esm")
    refused = train(tmp_path / "esm", domain_corpus, tmp_path, "--max-steps", "2", "--extend-vocabulary", "5")
    assert refused.code == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "esm models cannot add whole words" in lines[0] and "bert, distil_bert" in lines[0]
    assert not (tmp_path / "run").exists()


def test_from_scratch_presets_are_refused(domain_corpus, tmp_path):
    refused = train("bert_tiny_scratch", domain_corpus, tmp_path, "--max-steps", "2", "--extend-vocabulary", "5")
    assert refused.code == 2 and "--extend-vocabulary applies to pretrained presets" in refused.stderr


# The tokenizer and the model's growth are tested on both backends in tests/models, and the BERT run above goes
# end to end on both: this family's whole run once is enough.
@pytest.mark.run_once
@pytest.mark.slow  # trains in a subprocess and exports
def test_an_albert_preset_gains_sentencepiece_words_end_to_end(domain_corpus, tmp_path):
    import numpy as np
    import transformers

    from mlm_cli.models import AlbertMaskedLM, AlbertTokenizer, MaskedLM
    from tests.family_sizes import TINY_SIZES
    from tests.models.family_checks import build_masked_lm
    from tests.models.sentencepiece_fixtures import albert_proto
    from tests.support.cli import run_mlm

    base = AlbertTokenizer(proto=albert_proto(), normalization="transformers")
    sizes = {**TINY_SIZES["albert"], "max_sequence_length": 64}
    build_masked_lm(AlbertMaskedLM, base, sizes, sequence_length=32, mask_selection_length=8).save_to_preset(
        tmp_path / "albert")
    env = {"MLM_CACHE_DIR": str(tmp_path / "cache"), "KERAS_BACKEND": "torch"}
    done = run_mlm("train", "--preset", str(tmp_path / "albert"), "--data", str(domain_corpus), "--output",
                   str(tmp_path / "run"), "--batch-size", "4", "--sequence-length", "32", "--max-steps", "2",
                   "--extend-vocabulary", "50", env=env)
    assert done.code == 0, done.stderr
    size = base.vocabulary_size()
    tokenizer = MaskedLM.from_preset(tmp_path / "run").preprocessor.tokenizer
    added = tokenizer.get_vocabulary()[size:]
    assert {"\u2581" + word for word in DOMAIN_WORDS} <= set(added)
    assert f"extended the vocabulary by {len(added)} words ({size} → {size + len(added)})" in done.stderr
    assert tokenizer.get_vocabulary()[:size] == base.get_vocabulary()
    assert len(tokenizer("Sudo kubectl")) == 2 and tokenizer("the model").tolist() == base("the model").tolist()
    exported = run_mlm("export", "--preset", str(tmp_path / "run"), "--format", "hf", "--output",
                       str(tmp_path / "hf"), env=env)
    assert exported.code == 0, exported.stderr
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert hf_tokenizer("Sudo kubectl", add_special_tokens=False)["input_ids"] == tokenizer("Sudo kubectl").tolist()
    hf_model = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf")
    assert hf_model.config.vocab_size == size + len(added)
    assert not np.array_equal(tokenizer("sudo chmod"), base("sudo chmod"))


# The tokenizer and the model's growth are tested on both backends in tests/models, and the BERT run above goes
# end to end on both: this family's whole run once is enough.
@pytest.mark.run_once
@pytest.mark.slow  # trains twice (a run, then its resumption) and exports
def test_a_roberta_preset_gains_byte_level_words_end_to_end(domain_corpus, tmp_path):
    import transformers

    from mlm_cli.models import MaskedLM, RobertaMaskedLM, RobertaTokenizer
    from tests.family_sizes import TINY_SIZES
    from tests.models.family_checks import build_masked_lm
    from tests.models.test_roberta import read_bpe, tiny_bpe

    tiny_bpe(tmp_path / "bpe")
    vocabulary, merges = read_bpe(tmp_path / "bpe")
    base = RobertaTokenizer(vocabulary=vocabulary, merges=merges, normalization="transformers")
    sizes = {**TINY_SIZES["roberta"], "max_sequence_length": 64}
    build_masked_lm(RobertaMaskedLM, base, sizes, sequence_length=32, mask_selection_length=8).save_to_preset(
        tmp_path / "roberta")
    done = train(tmp_path / "roberta", domain_corpus, tmp_path, "--max-steps", "2", "--extend-vocabulary", "50")
    assert done.code == 0, done.stderr
    run = tmp_path / "run"
    words = [row.split("\t")[0] for row in (run / "added_words.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert {"\u0120" + word for word in DOMAIN_WORDS} <= set(words)  # byte-level words: "Ġ" is the space before
    tokenizer = MaskedLM.from_preset(run).preprocessor.tokenizer
    size, new_size = base.vocabulary_size(), tokenizer.vocabulary_size()
    intermediate = new_size - size - len(words)
    assert intermediate > 0
    assert (f"extended the vocabulary by {len(words)} words and {intermediate} intermediate tokens "
            f"({size} → {new_size})") in done.stderr
    assert f"{len(words)} of them whole words of the corpus and {intermediate} intermediate tokens" in (
        run / "README.md").read_text()
    assert tokenizer.get_vocabulary()[:size] == base.get_vocabulary() and tokenizer.merges[:len(merges)] == merges
    assert len(tokenizer(" sudo kubectl")) == 2 and tokenizer("the model").tolist() == base("the model").tolist()

    exported = run_mlm_in_process("export", "--preset", str(run), "--format", "hf", "--output",
                                  str(tmp_path / "hf"), env={"MLM_CACHE_DIR": str(tmp_path / "cache")})
    assert exported.code == 0, exported.stderr
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    for text in [" sudo kubectl", "chmod grep systemd <mask> the model"]:
        assert hf_tokenizer(text, add_special_tokens=False)["input_ids"] == tokenizer(text).tolist()
    assert transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").config.vocab_size == new_size

    resumed = train(tmp_path / "roberta", domain_corpus, tmp_path, "--max-steps", "4", "--extend-vocabulary", "50",
                    "--resume")
    assert resumed.code == 0, resumed.stderr
    assert "extended the vocabulary" not in resumed.stderr  # the checkpoint's vocabulary, not learned again
    again = MaskedLM.from_preset(run).preprocessor.tokenizer
    assert again.get_vocabulary() == tokenizer.get_vocabulary() and again.merges == tokenizer.merges
    assert f"and {intermediate} intermediate tokens" in (run / "README.md").read_text()
