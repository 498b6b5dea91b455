"""Scaling out: batch prediction on a Dask cluster, TensorFlow's threads per worker.

Needs the ``dask`` extra (``pip install 'skmood[dask]'``); ``import skmood``
never imports Dask, and the functions that need it say how to install it
when it is missing. Model selection on Dask or Ray needs nothing from here
but :func:`worker_env` / :func:`configure_tensorflow_threads`: it runs
through joblib's backends (see the user guide, "Scaling out").
"""

from ._predict import predict_paths
from ._threads import configure_tensorflow_threads, worker_env

__all__ = ["configure_tensorflow_threads", "predict_paths", "worker_env"]
