"""`python -m bridge` runs the same command line as `alertbridge`."""

from bridge.cli import main

raise SystemExit(main())
