"""What each command does, as plain functions with typed options (usable without the CLI)."""
