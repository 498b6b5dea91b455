"""TensorFlow's thread pools in the worker processes of a cluster (private).

TensorFlow sizes two thread pools when its runtime starts in a process: the
intra-op pool (the threads one operation, e.g. a convolution, is split over)
and the inter-op pool (operations run side by side), each by default as
large as the machine has cores. Two worker processes on 2 cores, each with
TensorFlow's default pools, run 2 x 2 busy threads on 2 cores and slow each
other down. So each worker's pools must be sized to its share of the cores,
*before* TensorFlow starts in it: by environment variables the worker
inherits (:func:`worker_env`: Ray's ``runtime_env``, a Dask ``LocalCluster``'s
``env``, a job script), or by a Dask worker plugin
(:func:`configure_tensorflow_threads`) that sets them as each worker starts.
"""

from __future__ import annotations

import os
from typing import Any

from .._validation import is_positive_int
from ._dask import require_dask

__all__ = ["configure_tensorflow_threads", "usable_cores", "worker_env"]

#: The name the plugin is registered under (registering again replaces it).
PLUGIN_NAME = "skmood-tensorflow-threads"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _check_threads(value: Any, name: str) -> int:
    if not is_positive_int(value):
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return int(value)


def worker_env(threads: int = 1, *, inter_op_threads: int | None = None) -> dict[str, str]:
    """Environment variables sizing TensorFlow's thread pools in a worker process.

    Set them in a process before TensorFlow starts there (TensorFlow reads
    them once, when its runtime starts; later changes have no effect).

    Parameters
    ----------
    threads : int, default=1
        Threads of the intra-op pool (``TF_NUM_INTRAOP_THREADS``) and of
        OpenMP (``OMP_NUM_THREADS``): the worker's share of the cores, e.g. 1
        for one single-threaded worker per core, 4 for a 16-core machine
        running 4 workers.
    inter_op_threads : int or None, default=None
        Threads of the inter-op pool (``TF_NUM_INTEROP_THREADS``); None:
        ``min(threads, 2)`` (skmood's networks are chains of layers, with
        little to run side by side).

    Returns
    -------
    env : dict of str to str
        ``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS`` and
        ``OMP_NUM_THREADS``.

    See Also
    --------
    configure_tensorflow_threads : The same on every worker of a Dask cluster.

    Examples
    --------
    On Ray, every worker process gets them through the runtime environment:

    >>> from skmood.distributed import worker_env
    >>> worker_env(2)
    {'TF_NUM_INTRAOP_THREADS': '2', 'TF_NUM_INTEROP_THREADS': '2', 'OMP_NUM_THREADS': '2'}
    >>> import ray  # doctest: +SKIP
    >>> ray.init(runtime_env={"env_vars": worker_env(1)})  # doctest: +SKIP
    """
    threads = _check_threads(threads, "threads")
    inter = (min(threads, 2) if inter_op_threads is None
             else _check_threads(inter_op_threads, "inter_op_threads"))
    return {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(inter),
            "OMP_NUM_THREADS": str(threads)}


def _scheduler_workers(client) -> dict[str, dict]:
    try:
        return client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # distributed before 2025: every worker is listed
        return client.scheduler_info()["workers"]


def _worker_threads() -> int:
    """On a worker: the intra-op threads set for TensorFlow (0 when unset)."""
    return int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0"))


def configure_tensorflow_threads(client, threads: int | None = None, *,
                                 inter_op_threads: int | None = None) -> dict[str, int]:
    """Size TensorFlow's thread pools on every worker of a Dask cluster.

    Registers a worker plugin that, in each worker process (those running
    now and any that start later), sets :func:`worker_env`'s variables and,
    if TensorFlow is imported there already, its thread settings. Call it
    right after connecting, before the workers run TensorFlow: a worker whose
    TensorFlow has started keeps its pools (a warning in its log says so)
    until ``client.restart()``.

    Parameters
    ----------
    client : distributed.Client
        Connected to the cluster.
    threads : int or None, default=None
        Intra-op threads per worker. None: each host's cores divided by the
        threads of all the workers on that host (each worker thread runs one
        task, e.g. one fit, at a time), at least 1; a host that joins later
        divides its cores by the threads of its worker.
    inter_op_threads : int or None, default=None
        See :func:`worker_env`.

    Returns
    -------
    threads : dict of str to int
        The intra-op threads set on each worker, by worker address.

    Notes
    -----
    Dask's worker profiler, on by default, samples the stack of every thread
    of a worker every 10 ms; on the benchmark machine it made small fits
    take about twice as long. Start TensorFlow workers without it:
    ``dask.config.set({"distributed.worker.profile.enabled": False})`` before
    a ``LocalCluster``, or ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``
    in the environment of ``dask worker``.

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> from skmood.distributed import configure_tensorflow_threads  # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> configure_tensorflow_threads(client)  # on 2 cores  # doctest: +SKIP
    {'tcp://127.0.0.1:40417': 1, 'tcp://127.0.0.1:43621': 1}
    """
    require_dask("skmood.distributed.configure_tensorflow_threads")
    from ._plugin import TensorFlowThreads

    if threads is not None:
        threads = _check_threads(threads, "threads")
    if inter_op_threads is not None:
        inter_op_threads = _check_threads(inter_op_threads, "inter_op_threads")
    per_host: dict[str, int] = {}
    if threads is None:
        workers = _scheduler_workers(client)
        cores = client.run(usable_cores)
        host_threads: dict[str, int] = {}
        host_cores: dict[str, int] = {}
        for address, info in workers.items():
            host = info["host"]
            host_threads[host] = host_threads.get(host, 0) + int(info["nthreads"])
            host_cores[host] = max(host_cores.get(host, 1), int(cores.get(address, 1)))
        per_host = {host: max(1, host_cores[host] // host_threads[host]) for host in host_threads}
    client.register_plugin(TensorFlowThreads(threads, per_host=per_host,
                                             inter_op_threads=inter_op_threads),
                           name=PLUGIN_NAME)
    return client.run(_worker_threads)
