"""``skmood predict --dask SCHEDULER`` and ``--output FILE.parquet``.

Batch prediction through :func:`skmood.distributed.predict_paths`: on a Dask
cluster (a scheduler address, or ``local`` for one on this machine), and/or
into a resumable Parquet folder. Without either option ``skmood predict``
predicts in this process as before.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..exceptions import SkmoodError
from ._format import format_predictions

__all__ = ["LOCAL", "check_options", "is_parquet", "predict_with_dask", "wants_dask"]

logger = logging.getLogger(__name__)

#: ``--dask`` value that starts a cluster on this machine.
LOCAL = "local"


def is_parquet(output: str | None) -> bool:
    """Whether ``--output`` names a Parquet folder (``.parquet``)."""
    return output is not None and os.fspath(output).lower().endswith(".parquet")


def wants_dask(args: argparse.Namespace) -> bool:
    return bool(args.dask) or is_parquet(args.output)


def check_options(args: argparse.Namespace) -> None:
    """Refuse what batch prediction does not do, before the model loads."""
    if args.crop_faces or args.all_faces:
        raise SkmoodError(
            "--crop-faces and --all-faces predict in this process only, not with --dask or a "
            ".parquet --output; a model trained with --face-detector crops faces itself, on "
            "the workers too."
        )


@contextlib.contextmanager
def _client(address: str | None) -> Iterator[Any]:
    """None, a client of the scheduler at ``address``, or of a new local cluster."""
    if not address:
        yield None
        return
    from ..distributed._dask import require_dask

    require_dask("skmood predict --dask")
    from distributed import Client, LocalCluster

    from ..distributed import configure_tensorflow_threads
    from ..distributed._threads import usable_cores

    if address != LOCAL:
        with Client(address) as client:
            logger.info("connected to the Dask scheduler at %s (%d workers)", address,
                        len(client.nthreads()))
            yield client
        return
    import dask

    cores = usable_cores()
    # Dask's worker profiler samples every thread's stack every 10 ms: it made small
    # TensorFlow fits take twice as long (docs/benchmarks.md, "Scaling out").
    with dask.config.set({"distributed.worker.profile.enabled": False}), \
            LocalCluster(n_workers=cores, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        configure_tensorflow_threads(client)
        logger.info("started a local Dask cluster: %d single-threaded workers", cores)
        yield client


def predict_with_dask(args: argparse.Namespace, model: Any, files: list[str],
                      write) -> int:
    """Predict ``files`` through Dask; print or ``write`` the result."""
    from ..distributed import predict_paths

    on_error = args.on_error or "skip"
    with _client(args.dask) as client:
        if is_parquet(args.output):
            frame = predict_paths(model, files, client, partition_size=args.partition_size,
                                  output=args.output, on_error=on_error)
            errors = frame["error"].count().compute()  # the non-empty ones
            print(f"wrote {len(files)} prediction(s) to {args.output} ({int(errors)} "
                  "unreadable image(s))")
            return 0
        frame = predict_paths(model, files, client, partition_size=args.partition_size,
                              on_error=on_error)
        result = (client.compute(frame).result() if client is not None
                  else frame.compute(scheduler="sync"))
    classes = model.classes_
    proba = result[[f"proba_{c}" for c in classes]].to_numpy(dtype=np.float64)
    write(format_predictions(result["path"].tolist(), classes, proba, args.format),
          args.output, f"{len(result)} prediction(s)")
    return 0
