"""`python -m mlm_cli`: the same as the `mlm` command."""

from mlm_cli.cli.app import main

main()
