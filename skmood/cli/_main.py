"""``skmood`` itself: parse, configure logging, run the command, report errors.

Progress (one line per training epoch, files found) goes to stderr through
the ``skmood`` logger; results go to stdout. Expected failures are one
``skmood: error: ...`` line and exit code 1; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from ..exceptions import SkmoodError, SkmoodWarning
from ._parser import COMMANDS, build_parser

__all__ = ["main"]

#: Failures reported as one ``skmood: error: ...`` line (exit code 1).
_EXPECTED_ERRORS = (SkmoodError, ValueError, TypeError, OSError, ImportError)


class _ConsoleHandler(logging.StreamHandler):
    """Write to the current ``sys.stderr``: INFO (progress) as is, others as ``level: msg``."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # looked up per record: tests and callers may swap it
        super().emit(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


def _log_warning(message: Warning | str, category: type[Warning], *args: Any,
                 **kwargs: Any) -> None:
    """``warnings.showwarning`` replacement: one ``warning:`` line, no source excerpt."""
    name = "" if issubclass(category, SkmoodWarning) else f"{category.__name__}: "
    logging.getLogger("skmood").warning("%s%s", name, message)


@contextlib.contextmanager
def _console_logging(level: int) -> Iterator[None]:
    """Show the ``skmood`` logger and Python warnings on stderr, then restore both."""
    log = logging.getLogger("skmood")
    handler = _ConsoleHandler()
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _log_warning
            yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


#: What a lean install (``pip install --no-deps skmood`` and the runtime's
#: requirements, for exported models) lacks.
_FULL_INSTALL = {"keras", "scikeras", "scipy", "sklearn", "tensorflow"}


def _error_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _FULL_INSTALL:
        return (f"{message}: this command needs skmood's full install (pip install skmood); "
                "this environment runs exported models only (skmood predict/serve on "
                ".onnx and .tflite files)")
    if isinstance(exc, _EXPECTED_ERRORS):
        return message
    return f"unexpected {type(exc).__name__}: {message} (run with --debug for the traceback)"


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` runs (its first word that is not an option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skmood`` command line.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    code : int
        0 on success (also for ``--help`` and ``--version``), 1 when the
        command fails (a one-line ``skmood: error: ...`` on stderr; the
        traceback too with ``--debug``), 2 for usage errors and 130 when
        interrupted.

    Examples
    --------
    >>> from skmood.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    skmood ...
    0
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    from .._native_log import enable

    enable()  # TensorFlow's and LiteRT's harmless native start-up lines stay off stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    # Only the options of the command that runs: predict/serve on an exported model then
    # import neither scikit-learn nor TensorFlow.
    try:
        parser = build_parser(commands=() if command is None else (command,))
    except ImportError as exc:  # train's options need scikit-learn: a lean install lacks it
        print(f"skmood: error: {_error_line(exc)}", file=sys.stderr)
        return 1
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    with _console_logging(level):
        try:
            return int(args.func(args))
        except KeyboardInterrupt:
            if args.debug:
                traceback.print_exc()
            print("skmood: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if args.debug:
                traceback.print_exc()
            print(f"skmood: error: {_error_line(exc)}", file=sys.stderr)
            return 1
