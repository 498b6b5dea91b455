"""Keep TensorFlow's and LiteRT's native start-up lines off the console (private).

Starting TensorFlow prints, from C++ and whatever ``TF_CPP_MIN_LOG_LEVEL``
says, two "All log messages before absl::InitializeLog()" warnings, two
"Could not find cuda drivers" lines and, on a machine without a GPU, "failed
call to cuInit"; every LiteRT interpreter announces its XNNPACK delegate.
They are harmless and users of the command line read them as errors.

:func:`native_stderr_filtered` runs a block with the process's file
descriptor 2 sent to a temporary file, then writes back every line except
those known start-up lines (:data:`NOISE`, matched whole): an unknown line,
a real error among them, reaches the console unchanged and in order, only
after the block. It is active only once :func:`enable` was called (the
``skmood`` command does; the Python API leaves the console to its user), and
the blocks it wraps are short: starting TensorFlow
(:func:`start_tensorflow`) and allocating a LiteRT interpreter's tensors
(where its delegate is created).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

__all__ = ["NOISE", "enable", "native_stderr_filtered", "start_tensorflow", "without_noise"]

#: The native start-up lines dropped (each a whole line).
NOISE = tuple(re.compile(pattern) for pattern in (
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    rb"I\d{4} [\d:.]+ +\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, "
    rb"GPU will not be used\.",
    rb"E\d{4} [\d:.]+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit: .*",
    rb"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
))

_enabled = False
#: One window at a time: two threads swapping descriptor 2 at once could leave it
#: pointing at a closed temporary file.
_lock = threading.RLock()


def enable() -> None:
    """Filter the native start-up lines from now on in this process (the CLI)."""
    global _enabled
    _enabled = True


def without_noise(data: bytes) -> bytes:
    """``data`` without the lines that match one of :data:`NOISE` whole.

    Examples
    --------
    >>> without_noise(b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\nreal\\n")
    b'real\\n'
    """
    lines = data.splitlines(keepends=True)
    return b"".join(line for line in lines
                    if not any(p.fullmatch(line.rstrip(b"\r\n")) for p in NOISE))


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Run the block with file descriptor 2 filtered (a no-op unless :func:`enable`\\ d)."""
    if not _enabled:
        yield
        return
    with _lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable stderr: nothing to filter
            yield
            return
        with _filtered(saved):
            yield


@contextlib.contextmanager
def _filtered(saved: int) -> Iterator[None]:
    """Descriptor 2 to a temporary file; back to ``saved``, kept lines written, after."""
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = without_noise(captured.read())
            if kept:
                os.write(2, kept)


def start_tensorflow() -> None:
    """Import TensorFlow and list its devices, printing only what is not start-up noise."""
    with native_stderr_filtered():
        from . import _keras_backend

        _keras_backend.list_devices()
