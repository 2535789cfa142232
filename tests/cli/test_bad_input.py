"""Every bad-input case: one line naming the problem and the fix, the right exit code, nothing written.

The cases run in-process through the real entry point (`mlm_in_process`); the network failure, and the runs that
succeed once the input is fixed, start a real process.
"""

import shutil

import pytest


def listing(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else None


def assert_one_error_line(result, code, *expect) -> str:
    """Exit `code`, exactly one `error:` line on stderr containing each of `expect`, no traceback, nothing on stdout."""
    assert result.code == code, (result.code, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for text in expect:
        assert text in errors[0], errors[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == "", result.stdout
    return errors[0]


@pytest.fixture()
def check(mlm_in_process, tmp_path):
    """Run mlm in-process, assert `assert_one_error_line`, and that nothing is new in tmp_path/out."""

    def run(args, code, *expect):
        out = tmp_path / "out"
        before = listing(tmp_path)
        line = assert_one_error_line(mlm_in_process(*args), code, *expect)
        assert listing(tmp_path) == before or not out.exists()
        return line

    return run


def train_args(preset, data, out, *extra):
    return ["train", "--preset", str(preset), "--data", str(data), "--output", str(out), "--max-steps", "2",
            "--batch-size", "4", "--sequence-length", "32", *extra]


def test_missing_data_file(check, tiny_preset, tmp_path):
    check(train_args(tiny_preset, tmp_path / "nope.txt", tmp_path / "out"), 2, "nope.txt")


def test_empty_corpus(check, tiny_preset, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    check(train_args(tiny_preset, empty, tmp_path / "out"), 2, "empty")


@pytest.mark.slow
@pytest.mark.run_once  # decoding the corpus is backend-free; the fixed input trains in a subprocess
def test_invalid_utf8_names_file_and_line(check, mlm, tiny_preset, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nanother fine line\nbroken \xff\xfe here\n")
    line = check(train_args(tiny_preset, bad, tmp_path / "out"), 2, "bad.txt", "--encoding-errors replace")
    assert "3" in line
    ok = mlm(*train_args(tiny_preset, bad, tmp_path / "out", "--encoding-errors", "replace", "--precision", "float32"))
    assert ok.code == 0, ok.stderr


def test_unknown_preset_suggests_names(check, corpus_files, tmp_path):
    check(train_args("bert_tiny_en_uncasd", corpus_files / "train.txt", tmp_path / "out"), 2, "bert_tiny_en_uncased")


def test_preset_directory_missing_files(check, tiny_preset, corpus_files, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_preset, broken)
    (broken / "model.weights.h5").unlink()
    check(train_args(broken, corpus_files / "train.txt", tmp_path / "out"), 2, "model.weights.h5")


def test_sequence_length_above_maximum(check, tiny_preset, corpus_files, tmp_path):
    args = train_args(tiny_preset, corpus_files / "train.txt", tmp_path / "out")
    args[args.index("--sequence-length") + 1] = "128"
    check(args, 2, "64")


def test_existing_output_without_overwrite(check, tiny_preset, corpus_files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    check(train_args(tiny_preset, corpus_files / "train.txt", out), 2, "--overwrite")
    assert (out / "precious.txt").read_text() == "keep me"
    check(["export", "--preset", str(tiny_preset), "--output", str(out)], 2, "--overwrite")
    assert (out / "precious.txt").read_text() == "keep me"


def test_network_failure_is_one_clear_line(mlm):
    result = mlm("pull", "kaggle://keras/bert/keras/bert_tiny_en_uncased/3")  # a real process: exit 1, one line
    line = assert_one_error_line(result, 1, "bert_tiny_en_uncased")
    assert "KAGGLE" in line or "network" in line or "offline" in line


def test_eval_bad_inputs(check, tiny_preset, tmp_path):
    check(["eval", "--preset", str(tiny_preset), "--data", str(tmp_path / "missing.jsonl")], 2, "missing.jsonl")
    check(["eval", "--preset", str(tmp_path / "no-such-preset"), "--data", str(tmp_path)], 2, "no-such-preset")


@pytest.mark.slow
@pytest.mark.run_once  # reading JSONL is backend-free; the fixed input trains in a subprocess
def test_broken_jsonl_lines_are_refused_or_skipped_and_counted(check, mlm, tiny_preset, tmp_path):
    data = tmp_path / "notes.jsonl"
    lines = []
    for i in range(60):
        lines.append('{"text": "the model trained on note %d"}' % i)
        if i % 4 == 0:
            lines.append('{"text": "cut off in the mid')
    data.write_text("\n".join(lines) + "\n")
    check(train_args(tiny_preset, data, tmp_path / "out"), 2, "notes.jsonl", "--skip-bad-lines")
    result = mlm("train", "--preset", str(tiny_preset), "--data", str(data), "--output", str(tmp_path / "run"),
                 "--batch-size", "4",
                 "--sequence-length", "32", "--skip-bad-lines", "--json")
    assert result.code == 0, result.stderr
    assert "skipped 15 bad lines" in result.stderr
    import json

    assert json.loads(result.stdout)["skipped_lines"] == 15
