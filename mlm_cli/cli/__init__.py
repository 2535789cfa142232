"""The `mlm` command line: Typer commands that parse options, call a workflow, render with rich."""
