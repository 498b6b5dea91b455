"""Which floating-point precision the network trains in (private).

The classifier's ``precision`` parameter names a Keras dtype policy:
``"float32"``, or a mixed policy (``"mixed_bfloat16"``, ``"mixed_float16"``)
whose layers compute in 16 bits while their weights, the output layer and the
loss stay float32. ``"auto"`` takes ``"mixed_bfloat16"`` only where the
hardware runs it fast, and ``"float32"`` elsewhere (never a slowdown):

* on a GPU (when TensorFlow sees one): compute capability 8.0 or higher
  (Ampere and later have bfloat16 tensor cores);
* on the CPU: the ``avx512_bf16`` or ``amx_bf16`` flag of ``/proc/cpuinfo``
  (bfloat16 dot products; without them bfloat16 is emulated, and slower).
  On a 2-core ``avx512_bf16`` machine (TensorFlow 2.21) the recommended
  network trained 1.35 times as fast in bfloat16 with XLA and 1.25 times
  without (``benchmarks/bench_precision.py``, idle machine; an earlier probe
  on a loaded machine had suggested XLA made bfloat16 slower: it did not
  hold).

Pure functions taking an ``owner`` name for their messages; the detection
(:func:`cpu_flags`, :func:`gpu_compute_capabilities`) is replaceable in tests.
Importing this module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

__all__ = ["BF16_CPU_FLAGS", "PRECISIONS", "choose_precision", "cpu_flags",
           "gpu_compute_capabilities", "resolve_precision"]

logger = logging.getLogger(__name__)

#: The values of ``precision``.
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
#: Lowest GPU compute capability with fast bfloat16 (NVIDIA Ampere).
BF16_GPU_CAPABILITY = (8, 0)


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags of the first processor in ``path`` (empty if unknown).

    Examples
    --------
    >>> from skmood._precision import cpu_flags
    >>> isinstance(cpu_flags("/no/such/file"), frozenset), len(cpu_flags("/no/such/file"))
    (True, 0)
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each GPU TensorFlow sees (empty without a GPU).

    Does not import TensorFlow when nothing has imported it yet: then no
    network is about to train on a GPU of this process.
    """
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return []
    capabilities = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
    return capabilities


def choose_precision(precision: str, owner: str, *, own_model: bool = False
                     ) -> tuple[str, str]:
    """``(dtype policy, reason)`` for the ``precision`` parameter.

    With ``own_model`` (the user's ``model`` builder, whose output layer
    skmood cannot keep float32) ``"auto"`` is ``"float32"``. Raises ``ValueError`` naming ``owner`` for a value outside
    :data:`PRECISIONS` (possible through ``set_params``, which skips ``fit``'s
    check).

    Examples
    --------
    >>> from skmood._precision import choose_precision
    >>> choose_precision("mixed_float16", "HappySadClassifier")
    ('mixed_float16', 'asked for')
    """
    if precision not in PRECISIONS:
        *others, last = map(repr, PRECISIONS)
        raise ValueError(f"{owner}: precision={precision!r}; expected {', '.join(others)} or "
                         f"{last}.")
    if precision != "auto":
        return precision, "asked for"
    if own_model:
        return "float32", "a model of your own: mixed precision only when asked for"
    gpus = gpu_compute_capabilities()
    if gpus:
        if all(capability >= BF16_GPU_CAPABILITY for capability in gpus):
            return "mixed_bfloat16", (f"GPU compute capability "
                                      f"{'.'.join(map(str, min(gpus)))} >= 8.0")
        return "float32", (f"GPU compute capability {'.'.join(map(str, min(gpus)))} < 8.0, "
                           "no fast bfloat16")
    flags = sorted(set(BF16_CPU_FLAGS) & cpu_flags())
    if flags:
        return "mixed_bfloat16", f"the processor has {' and '.join(flags)}"
    return "float32", f"the processor has none of {', '.join(BF16_CPU_FLAGS)}"


def resolve_precision(precision: str, owner: str, *, own_model: bool = False,
                      report: Callable[[str], None] | None = None) -> str:
    """The Keras dtype policy ``precision`` names, and say which and why.

    The choice is logged at INFO level and, when given, passed to ``report``
    (the classifier's ``verbose`` output) as one line.

    Examples
    --------
    >>> from skmood._precision import resolve_precision
    >>> resolve_precision("float32", "HappySadClassifier", report=print)
    HappySadClassifier: precision='float32': training in float32 (asked for).
    'float32'
    """
    policy, reason = choose_precision(precision, owner, own_model=own_model)
    message = f"{owner}: precision={precision!r}: training in {policy} ({reason})."
    logger.info(message)
    if report is not None:
        report(message)
    return policy
