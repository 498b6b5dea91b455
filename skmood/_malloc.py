"""Undo TensorFlow's malloc setting that slows training on Linux (private).

The first ``tf.data.Dataset.from_generator`` dataset that runs in a process
(Keras builds one for every ``fit`` on a :class:`keras.utils.PyDataset`, hence
for every skmood fit) makes TensorFlow 2.21 call
``mallopt(M_MMAP_THRESHOLD, 128 KiB)``, once per process, against memory
growth in generator pipelines (its log line, "Memory patch applied:
M_TRIM_THRESHOLD=128 kb was set", names the other threshold). Setting any
threshold by hand switches off glibc's *dynamic* thresholds, so the mmap
threshold stays at 128 KiB: every tensor larger than that (a batch of 64 48x48
images is 590 KiB, one activation map several MiB) is then ``mmap``-ed fresh
and unmapped after use, and each step spends its time in page faults.
Measured on the 2-core benchmark machine: ``model.fit`` of the recommended
network on a PyDataset of in-memory batches ran about twice as fast with the
thresholds reset (kernel CPU per 4,096-image epoch 28 s before, 1.5 s after),
and the estimator 1.58 times as fast on 2,048 synthetic faces
(``benchmarks/bench_malloc.py``). On another machine of the same kind,
where TensorFlow's setting caused 32 times fewer page faults, the same
script measured 1.05 times: the gain depends on the machine, never a loss.

:func:`restore_malloc_thresholds` sets both thresholds to the ceilings
glibc's dynamic rule would reach on 64-bit Linux (mmap 32 MiB, trim twice
that), so large buffers are reused from the heap again, and at most 64 MiB of
free memory stays mapped. :func:`undo_tensorflow_setting` does that once per
process, at the first fit: it lets TensorFlow make its setting first (by
running a one-element ``from_generator`` dataset), so that no later dataset
makes it again. Nothing happens off glibc, or when the environment variable
``SKMOOD_MALLOC_TUNING`` is ``0`` (read at each fit until the reset is done).
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from collections.abc import Callable
from functools import cache

__all__ = [
    "MMAP_THRESHOLD",
    "TRIM_THRESHOLD",
    "restore_malloc_thresholds",
    "tuning_enabled",
    "undo_tensorflow_setting",
]

#: glibc's ``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit systems: the largest mmap
#: threshold its dynamic rule reaches.
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Twice the mmap threshold, as glibc's dynamic rule sets it.
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_undone = False  # set once the thresholds are restored after TensorFlow's setting


@cache
def _mallopt():
    """glibc's ``mallopt`` function, or None off glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - glibc always has it
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def tuning_enabled() -> bool:
    """False when the environment variable ``SKMOOD_MALLOC_TUNING`` is ``0``."""
    return os.environ.get("SKMOOD_MALLOC_TUNING", "1").strip() != "0"


def restore_malloc_thresholds() -> bool:
    """Set glibc's mmap and trim thresholds to 32 and 64 MiB; True if done.

    Returns False off glibc or when ``SKMOOD_MALLOC_TUNING=0``.
    """
    mallopt = _mallopt()
    if not tuning_enabled() or mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                & mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def undo_tensorflow_setting(start_generator_dataset: Callable[[], None]) -> bool:
    """Have TensorFlow make its malloc setting now, then undo it; once per process.

    ``start_generator_dataset`` runs a ``from_generator`` dataset: TensorFlow
    makes its setting as the process's first one starts, and never again.
    Returns True when the thresholds are restored (by this call or an earlier
    one); False off glibc or when ``SKMOOD_MALLOC_TUNING=0`` (then nothing
    runs, and a later call looks again).
    """
    global _undone
    if not tuning_enabled() or _mallopt() is None:
        return False
    with _lock:
        if not _undone:
            start_generator_dataset()
            _undone = restore_malloc_thresholds()
        return _undone
