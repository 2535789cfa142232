"""The `mlm` entry point: global options, sub-commands and the single error boundary."""

from __future__ import annotations

import errno
import sys
import traceback

import typer

from mlm_cli import __version__
from mlm_cli.cli import console
from mlm_cli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, MlmError

app = typer.Typer(
    name="mlm",
    help="Fine-tune and continue pretraining of masked language models (BERT family) on Keras 3.",
    epilog=(
        "Examples:\n\n"
        "  mlm presets list --family bert\n\n"
        "  mlm train --preset bert_tiny_en_uncased --data corpus.txt --output my-bert\n\n"
        "  mlm eval --preset my-bert --data heldout.txt --json\n\n"
        "  mlm export --preset my-bert --output shareable-bert --dtype bfloat16"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.stdout.print(f"mlm {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def global_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More detail on stderr."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    console.settings.quiet = quiet
    console.settings.verbose = verbose
    console.settings.debug = debug
    console.configure_logging()


def _register_commands() -> None:
    from mlm_cli.cli import (
        cache_cmd,
        eval_cmd,
        export_cmd,
        predict_cmd,
        presets_cmd,
        pull_cmd,
        push_cmd,
        report_cmd,
        train_cmd,
    )

    app.add_typer(presets_cmd.presets_app, name="presets")
    app.command("pull", epilog=pull_cmd.EPILOG)(pull_cmd.pull)
    app.command("train", epilog=train_cmd.EPILOG)(train_cmd.train)
    app.command("eval", epilog=eval_cmd.EPILOG)(eval_cmd.evaluate)
    app.command("predict", epilog=predict_cmd.EPILOG)(predict_cmd.predict)
    app.command("report", epilog=report_cmd.EPILOG)(report_cmd.report)
    app.command("export", epilog=export_cmd.EPILOG)(export_cmd.export)
    app.command("push", epilog=push_cmd.EPILOG)(push_cmd.push)
    app.add_typer(cache_cmd.cache_app, name="cache")


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure becomes one line on stderr and a meaningful exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if not debug:
        # Errors raised in destructors (h5py closing a file on a full disk prints one traceback per
        # object) are noise after mlm's own error line; every real error is caught below.
        sys.unraisablehook = lambda unraisable: None
        sys.excepthook = lambda kind, value, trace: None
    try:
        command = typer.main.get_command(app)
        code = command.main(args=args, prog_name="mlm", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        console.error_line("interrupted")
        _fail(EXIT_INTERRUPTED)
    except MlmError as failure:
        if debug:
            traceback.print_exc()
        console.error_line(str(failure))
        _fail(failure.exit_code)
    except OSError as failure:  # disk full, read-only or vanished output: runtime conditions, not bugs
        if debug:
            traceback.print_exc()
        where = f" ({failure.filename})" if failure.filename else ""
        advice = " (check free disk space and permissions)" if failure.errno in WRITE_ERRNOS else ""
        console.error_line(f"{failure.strerror or failure}{where}{advice}")
        _fail(EXIT_RUNTIME)
    except Exception as failure:  # noqa: BLE001 - the one boundary for unexpected errors
        if _is_click_error(failure):  # usage errors from typer's command parser (click or typer's own copy)
            failure.show()
            sys.exit(EXIT_USAGE if failure.exit_code == EXIT_USAGE else failure.exit_code)
        if debug:
            traceback.print_exc()
        detail = str(failure).splitlines()[0] if str(failure) else ""
        console.error_line(f"{type(failure).__name__}: {detail} (run with --debug for the traceback)")
        _fail(EXIT_RUNTIME)


def _fail(code: int) -> None:
    """Exit with `code`; a failed process of a multi-host run leaves at once (see leave_abruptly_if_distributed)."""
    from mlm_cli.distributed.cluster import leave_abruptly_if_distributed

    leave_abruptly_if_distributed(code)
    sys.exit(code)


WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _is_click_error(error: Exception) -> bool:
    """Click-style parser errors (typer may bundle its own click, so match by shape, not class)."""
    return callable(getattr(error, "show", None)) and isinstance(getattr(error, "exit_code", None), int)
