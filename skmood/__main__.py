"""Run the command line as ``python -m skmood``; see :mod:`skmood.cli`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
