"""Command groups of the `alertbridge` command line, one module per group."""
