"""Subcommands of `alertbridge` that need more than a few lines."""
