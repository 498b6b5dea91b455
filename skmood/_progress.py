"""Progress bars of long work: training epochs and predictions over many files (private).

The command line shows them when the stream they draw on is a terminal and
``-q`` is not given (:func:`wanted`): Keras' own per-batch bar within each
training epoch (:func:`training_bar`, on stdout, where Keras prints it), and
a bar of files done, images per second and time left while predicting
(:func:`file_progress`, :func:`predict_progress`, on stderr, drawn by tqdm).
The Python API keeps Keras' ``verbose`` semantics: an estimator with
``verbose=1`` draws Keras' bar itself, and :func:`batch_progress` lets it.
Nothing here imports Keras or tqdm before a bar is drawn.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

__all__ = ["batch_progress", "file_progress", "predict_progress", "training_bar", "wanted"]

#: Attribute of the per-epoch log records (``_keras_backend.EpochLogger``).
EPOCH_LINE = "skmood_epoch_line"

#: While :func:`predict_progress` is active: ``n_images -> advance(n)`` for a new bar.
_new_bar: contextvars.ContextVar[Callable[[int], Callable[[int], None]] | None] = (
    contextvars.ContextVar("skmood_progress_bar", default=None))


def is_terminal(stream: IO[str] | Any) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def wanted(stream: IO[str] | Any, quiet: bool = False) -> bool:
    """Whether the command line draws a bar on ``stream``: a terminal, and no ``-q``."""
    return not quiet and is_terminal(stream)


def _no_progress(n: int) -> None:
    """What :func:`file_progress` yields when no bar is drawn."""


@contextlib.contextmanager
def file_progress(total: int, *, enabled: bool, desc: str = "images",
                  stream: IO[str] | None = None) -> Iterator[Callable[[int], None]]:
    """A bar of ``total`` files: files done, images per second, time left.

    Parameters
    ----------
    total : int
        Files (images) to process.
    enabled : bool
        Draw the bar (see :func:`wanted`); otherwise nothing is drawn or
        imported.
    desc : str, default="images"
        Text before the bar.
    stream : file-like or None, default=None
        Where to draw; ``None`` is ``sys.stderr`` at the time of the call.

    Yields
    ------
    advance : callable
        ``advance(n)``: ``n`` more files are done. The bar is closed (its last
        state kept on one line) when the block ends.

    Examples
    --------
    >>> with file_progress(3, enabled=False) as advance:
    ...     advance(3)
    """
    if not enabled or total <= 0:
        yield _no_progress
        return
    from tqdm import tqdm

    stream = stream or sys.stderr
    # tqdm draws nothing on a terminal that reports no size (a bare pseudo-terminal).
    size = {} if _has_size(stream) else {"ncols": 80, "nrows": 24}
    with tqdm(total=total, desc=desc, unit="img", file=stream, smoothing=0.1,
              dynamic_ncols=not size, **size) as bar:
        yield bar.update


def _has_size(stream: IO[str] | Any) -> bool:
    """Whether ``stream`` is a terminal that reports its width and height."""
    try:
        columns, lines = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file, or not a terminal
        return False
    return columns > 0 and lines > 0


@contextlib.contextmanager
def predict_progress(*, enabled: bool, desc: str = "predicting") -> Iterator[None]:
    """While active, :meth:`HappySadClassifier.predict_proba` draws :func:`file_progress`.

    One bar per call of ``predict_proba`` (of an estimator with
    ``verbose=0``; with ``verbose`` Keras' bar is drawn instead), advanced
    after every batch of images. Bars are closed when the block ends, also
    when it ends with an error. Only the calling thread sees it.
    """
    if not enabled:
        yield
        return
    with contextlib.ExitStack() as bars:
        def new_bar(n_images: int) -> Callable[[int], None]:
            return bars.enter_context(file_progress(n_images, enabled=True, desc=desc))

        token = _new_bar.set(new_bar)
        try:
            yield
        finally:
            _new_bar.reset(token)


def batch_progress(n_batches: int, n_images: int, batch_size: int, verbose: Any
                   ) -> Callable[[int], None] | None:
    """What prediction calls with the number of batches done, or None for no progress.

    With ``verbose`` (an estimator's parameter): Keras' progress bar, over
    batches, as Keras' own ``predict`` draws it. Otherwise, inside
    :func:`predict_progress`: a bar over the ``n_images`` images, batches of
    ``batch_size``. Otherwise None.
    """
    if n_batches == 0:
        return None
    if verbose:
        from . import _keras_backend as backend

        return backend.progress_bar(n_batches, verbose)
    new_bar = _new_bar.get()
    if new_bar is None:
        return None
    advance, shown = new_bar(n_images), [0]

    def update(done_batches: int) -> None:
        done = n_images if done_batches >= n_batches else min(done_batches * batch_size,
                                                              n_images)
        advance(done - shown[0])
        shown[0] = done

    return update


class _HoldEpochLines(logging.Filter):
    """Drop the per-epoch log lines while Keras' bar shows the same metrics."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, EPOCH_LINE, False)


@contextlib.contextmanager
def training_bar(*, enabled: bool) -> Iterator[list]:
    """Keras callbacks drawing Keras' own per-batch bar within each training epoch.

    Parameters
    ----------
    enabled : bool
        Draw it (see :func:`wanted`, on ``sys.stdout``: Keras prints there);
        otherwise yields no callback, and the per-epoch log lines of the
        ``skmood`` logger stay the progress.

    Yields
    ------
    callbacks : list of keras.callbacks.Callback
        To pass to ``fit(callbacks=...)``. The estimator's ``verbose`` is not
        touched. While the block runs, the ``skmood`` logger holds back its
        per-epoch lines (the bar's last line of each epoch has the same
        metrics).
    """
    if not enabled:
        yield []
        return
    from . import _keras_backend as backend

    log = logging.getLogger("skmood")
    hold = _HoldEpochLines()
    log.addFilter(hold)
    try:
        yield [backend.KerasProgressBar()]
    finally:
        log.removeFilter(hold)
