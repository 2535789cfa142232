"""Global behaviour of the real `mlm` entry point: help, version, presets, start-up imports."""

import json

import pytest

from mlm_cli import __version__
from tests.support.imports import heavy_modules_imported


@pytest.mark.run_once  # --help and --version never import a backend (see the next test)
def test_help_and_version(mlm_in_process):
    mlm = mlm_in_process
    result = mlm("--help")
    assert result.code == 0
    for command in ("train", "eval", "export", "pull", "presets"):
        assert command in result.stdout
    for command in ("train", "eval", "export", "pull"):
        assert "Example" in mlm(command, "--help").stdout
    version = mlm("--version")
    assert version.code == 0 and version.stdout.strip() == f"mlm {__version__}"


def test_help_and_presets_list_never_import_heavy_modules():
    code = (
        "import sys\n"
        "from mlm_cli.cli.app import main\n"
        "for args in (['--help'], ['presets', 'list'], ['presets', 'list', '--json']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    assert heavy_modules_imported(code, timeout=60) == []


@pytest.mark.run_once  # presets list and show never import a backend
def test_presets_list_and_show(mlm_in_process):
    mlm = mlm_in_process
    listed = mlm("presets", "list", "--json")
    assert listed.code == 0
    rows = json.loads(listed.stdout)
    names = {row["name"] for row in rows}
    assert {"bert_base_en", "bert_tiny_en_uncased", "bert_tiny_scratch"} <= names
    tiny = next(row for row in rows if row["name"] == "bert_tiny_en_uncased")
    assert tiny["family"] == "bert" and tiny["parameters"] == 4385920 and tiny["cached"] is False
    assert tiny["handle"] == "kaggle://keras/bert/keras/bert_tiny_en_uncased/3"
    keras_hub_rows = [row for row in rows if not row["scratch"]]
    assert len(keras_hub_rows) == 61  # every keras-hub 0.32 masked-LM preset
    assert {row["family"] for row in keras_hub_rows} == {
        "albert", "bert", "deberta_v3", "distil_bert", "esm", "f_net", "roberta", "xlm_roberta"
    }
    esm = next(row for row in rows if row["name"] == "esm2_t6_8M")
    assert esm["handle"] == "kaggle://keras/esm-2/keras/esm2_t6_8M/1" and esm["parameters"] == 7408960
    table = mlm("presets", "list", "--family", "bert")
    assert table.code == 0 and "bert_base_en" in table.stdout and "roberta_base_en" not in table.stdout
    roberta = json.loads(mlm("presets", "list", "--family", "roberta", "--json").stdout)
    assert sorted(row["name"] for row in roberta) == ["roberta_base_en", "roberta_large_en"]
    for spelling in ("distilbert", "DistilBERT", "distil-bert"):
        distil = json.loads(mlm("presets", "list", "--family", spelling, "--json").stdout)
        assert {row["family"] for row in distil} == {"distil_bert"} and len(distil) == 3
    shown = mlm("presets", "show", "bert_tiny_scratch", "--json")
    assert shown.code == 0 and json.loads(shown.stdout)["config"]["num_layers"] == 2


@pytest.mark.run_once  # no backend
def test_presets_list_piped_is_one_line_per_preset(tmp_path):
    from typer.testing import CliRunner

    from mlm_cli.cli.app import app
    from mlm_cli.hub import builtin_presets

    runner = CliRunner(env={"MLM_CACHE_DIR": str(tmp_path)})
    listed = runner.invoke(app, ["presets", "list"])  # CliRunner's stdout is not a terminal, like `| less`
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["name", "family", "params", "cached", "description"]
    assert [line.split()[0] for line in lines[1:]] == list(builtin_presets())  # each preset on exactly one line
    assert all(len(line) <= 120 for line in lines) and not set("─│┃━┏┓└┘├┤┼╭╮╰╯") & set(listed.stdout)
    tiny = next(line for line in lines if line.startswith("bert_tiny_en_uncased "))
    assert tiny.split()[1:4] == ["bert", "4.4M", "no"] and "2-layer BERT" in tiny
    roberta = runner.invoke(app, ["presets", "list", "--family", "roberta"]).stdout.splitlines()
    assert [line.split()[0] for line in roberta] == ["name", "roberta_base_en", "roberta_large_en"]
    as_json = runner.invoke(app, ["presets", "list", "--json"])
    assert len(json.loads(as_json.stdout)) == len(lines) - 1


@pytest.mark.run_once  # no backend
def test_presets_list_on_a_terminal_is_a_table(tmp_path, monkeypatch):
    import io

    from rich.console import Console
    from typer.testing import CliRunner

    from mlm_cli.cli import console
    from mlm_cli.cli.app import app

    screen = io.StringIO()
    monkeypatch.setattr(console, "stdout", Console(file=screen, force_terminal=True, width=100, color_system=None))
    listed = CliRunner(env={"MLM_CACHE_DIR": str(tmp_path)}).invoke(app, ["presets", "list", "--family", "bert"])
    assert listed.exit_code == 0, listed.output
    lines = screen.getvalue().splitlines()
    assert "Trained on" in screen.getvalue() and "..." not in screen.getvalue()  # whole descriptions, wrapped
    assert len(lines) > len([line for line in lines if line.startswith("bert_")]) + 1


@pytest.mark.run_once  # no backend
def test_presets_bad_input(mlm_in_process):
    mlm = mlm_in_process
    unknown_family = mlm("presets", "list", "--family", "gpt")
    assert unknown_family.code == 2 and "unknown family" in unknown_family.stderr
    unknown = mlm("presets", "show", "bert_tiny_en")
    assert unknown.code == 2 and "bert_tiny_en_uncased" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_usage_error_exit_code(mlm):
    """The real process: a parser error exits 2 (click's own code), with no traceback."""
    result = mlm("train", "--batch-size", "many")
    assert result.code == 2
    assert "Traceback" not in result.stderr


@pytest.mark.run_once  # the entry point's error mapping does not depend on the backend
@pytest.mark.parametrize(
    "args",
    [
        ["train", "--batch-size", "many"],  # click's parser error
        ["presets", "show", "bert_tiny_en"],  # mlm's BadInputError, mapped by main()
        ["cache", "clean"],
    ],
)
def test_in_process_runner_sees_what_the_real_process_shows(mlm, mlm_in_process, args, tmp_path):
    """`mlm_in_process`, which the bad-input tests use, gives the exit code, stdout and stderr of a real `mlm`."""
    real, here = mlm(*args, cwd=tmp_path), mlm_in_process(*args)
    assert real.code == 2 and real.stderr.strip(), real
    assert (here.code, here.stdout, here.stderr) == (real.code, real.stdout, real.stderr)
