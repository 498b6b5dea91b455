"""Undo TensorFlow's malloc setting that slows training on Linux (private).

When a ``tf.data.Dataset.from_generator`` dataset runs (Keras builds one for
every ``fit`` on a :class:`keras.utils.PyDataset`, hence for every skmood fit),
TensorFlow 2.21 calls ``mallopt(M_TRIM_THRESHOLD, 128 KiB)`` ("Memory patch
applied" in its log) against memory growth in generator pipelines. Setting
any threshold by hand switches off glibc's *dynamic* thresholds, so the mmap
threshold stays at its initial 128 KiB: every tensor larger than that (a
batch of 64 48x48 images is 590 KiB, one activation map several MiB) is then
``mmap``-ed fresh and unmapped after use, and each step spends its time in
page faults. Measured on the 2-core benchmark machine: ``model.fit`` of the
recommended network on a PyDataset of in-memory batches ran about twice as
fast with the thresholds reset (kernel CPU per 4,096-image epoch 28 s before,
1.5 s after), and the estimator 1.58 times as fast on 2,048 synthetic faces
(``benchmarks/bench_malloc.py``). On another machine of the same kind,
where TensorFlow's setting caused 32 times fewer page faults, the same
script measured 1.05 times: the gain depends on the machine, never a loss.

:func:`restore_malloc_thresholds` sets both thresholds to the ceilings
glibc's dynamic rule would reach on 64-bit Linux (mmap 32 MiB, trim twice
that), so large buffers are reused from the heap again, and at most 64 MiB of
free memory stays mapped. skmood calls it as each training or validation
batch is built (after TensorFlow's setting), which costs about a microsecond.
It does nothing off glibc, or when the environment variable
``SKMOOD_MALLOC_TUNING`` is ``0``.
"""

from __future__ import annotations

import ctypes
import os
import platform
from functools import cache

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "restore_malloc_thresholds"]

#: glibc's ``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit systems: the largest mmap
#: threshold its dynamic rule reaches.
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Twice the mmap threshold, as glibc's dynamic rule sets it.
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3


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


def restore_malloc_thresholds() -> bool:
    """Set glibc's mmap and trim thresholds to 32 and 64 MiB; True if done.

    Returns False off glibc or when ``SKMOOD_MALLOC_TUNING=0``.
    """
    if os.environ.get("SKMOOD_MALLOC_TUNING", "1").strip() == "0":
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                & mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
