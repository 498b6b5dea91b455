"""A thread-based micro-batcher: one network call for the images of many requests.

``HappySadClassifier.predict_proba`` has a fixed cost per call of about 60 ms
(Keras builds a ``tf.data`` pipeline each time) whatever the batch size, so a
server that called it once per request would spend most of its time on that
overhead. Here each request submits its images and gets a future; a worker
thread takes everything that is waiting, runs one call on the concatenated
images and hands each request its rows. Requests that arrive while the worker
is busy are grouped into the next batch, so batches grow with the load; a
lone request waits for nothing. That fixed cost is mostly Python holding the
GIL, so one worker (the server's default) beats two, which only split the
batches; the other core decodes uploads, finds faces and runs TensorFlow's
kernels meanwhile.

It is independent of any event loop, so it works the same under uvicorn,
FastAPI's test client and plain threads.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

__all__ = ["MicroBatcher", "ServerBusyError"]

logger = logging.getLogger(__name__)


class ServerBusyError(RuntimeError):
    """More images are waiting for the network than the batcher accepts."""


class MicroBatcher:
    """Batch ``fn`` calls on arrays submitted from many threads or tasks.

    Parameters
    ----------
    fn : callable
        ``fn(X) -> Y`` with ``len(Y) == len(X)``, row ``i`` of ``Y`` for row
        ``i`` of ``X``; ``X`` is the concatenation (axis 0) of submitted arrays.
    threads : int, default=1
        Worker threads, each running one ``fn`` call at a time.
    max_batch_size : int, default=64
        A worker stops collecting once it has this many rows (a single larger
        submission still runs whole).
    max_pending : int, default=1024
        :meth:`submit` raises :class:`ServerBusyError` when more rows than this
        are waiting, instead of queueing without bound.
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], *, threads: int = 1,
                 max_batch_size: int = 64, max_pending: int = 1024) -> None:
        self._fn = fn
        self._n_threads = threads
        self._max_batch_size = max_batch_size
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._threads: list[threading.Thread] = []
        #: Number of ``fn`` calls and of rows run so far (for tests and logs).
        self.n_calls = 0
        self.n_rows = 0

    def submit(self, X: np.ndarray) -> Future:
        """Queue the rows of ``X``; the future's result is ``fn``'s rows for them."""
        future: Future = Future()
        with self._lock:
            if self._pending + len(X) > self._max_pending and self._pending:
                raise ServerBusyError(
                    f"{self._pending} images are waiting for the network already; retry later."
                )
            self._pending += len(X)
            if not self._threads:  # started on first use, and again after close()
                for i in range(self._n_threads):
                    thread = threading.Thread(target=self._work, args=(self._queue,),
                                              name=f"skmood-batcher-{i}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
            self._queue.put((X, future))
        return future

    def close(self) -> None:
        """Let the workers finish what is queued, then stop them.

        A later :meth:`submit` starts new workers, so an application whose
        lifespan runs more than once (as under some test clients) keeps working.
        """
        with self._lock:
            threads, self._threads = self._threads, []
            old, self._queue = self._queue, queue.SimpleQueue()
        for _ in threads:
            old.put(None)
        for thread in threads:
            thread.join(timeout=30)

    def _work(self, jobs: queue.SimpleQueue) -> None:
        while True:
            item = jobs.get()
            if item is None:
                return
            batch, rows = [item], len(item[0])
            while rows < self._max_batch_size:
                try:
                    item = jobs.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: run this batch, then stop
                    jobs.put(None)
                    break
                batch.append(item)
                rows += len(item[0])
            self._run(batch)

    def _run(self, batch: list[tuple[np.ndarray, Future]]) -> None:
        with self._lock:
            self._pending -= sum(len(X) for X, _ in batch)
        live = [(X, f) for X, f in batch if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            out = self._fn(np.concatenate([X for X, _ in live]) if len(live) > 1 else live[0][0])
        except BaseException as exc:  # handed to every waiting request
            logger.exception("MicroBatcher: a batch of %d request(s) failed", len(live))
            for _, future in live:
                future.set_exception(exc)
            return
        start = 0
        for X, future in live:
            future.set_result(out[start:start + len(X)])
            start += len(X)
        with self._lock:
            self.n_calls += 1
            self.n_rows += start
