"""The Dask worker plugin of :func:`~skmood.distributed.configure_tensorflow_threads` (private).

Imports ``distributed``: only imported once :func:`require_dask` has passed.
"""

from __future__ import annotations

import logging
import os
import sys

from distributed import WorkerPlugin
from distributed.comm.addressing import get_address_host

from ._threads import PLUGIN_NAME, usable_cores, worker_env

__all__ = ["TensorFlowThreads"]

logger = logging.getLogger(__name__)


class TensorFlowThreads(WorkerPlugin):
    """Set :func:`~skmood.distributed.worker_env` in each worker as it starts.

    ``threads``: the intra-op threads of every worker; None: ``per_host``'s
    value for the worker's host, else its cores divided by its threads.
    """

    name = PLUGIN_NAME

    def __init__(self, threads=None, *, per_host=None, inter_op_threads=None):
        self.threads = threads
        self.per_host = dict(per_host or {})
        self.inter_op_threads = inter_op_threads

    def setup(self, worker):
        nthreads = getattr(getattr(worker, "state", worker), "nthreads", 1) or 1
        threads = (self.threads or self.per_host.get(get_address_host(worker.address))
                   or max(1, usable_cores() // nthreads))
        env = worker_env(threads, inter_op_threads=self.inter_op_threads)
        os.environ.update(env)
        if "tensorflow" in sys.modules:  # imported already: set it there too, if not started
            from .. import _keras_backend as backend

            if not backend.set_thread_pools(threads, int(env["TF_NUM_INTEROP_THREADS"])):
                logger.warning(
                    "skmood: TensorFlow has started in worker %s already; its thread pools "
                    "keep their size until the worker restarts (client.restart()).",
                    worker.address)
