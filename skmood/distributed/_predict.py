"""Batch prediction of image files on a Dask cluster: :func:`predict_paths` (private).

The paths are split into partitions; one task per partition predicts its
images with the fitted model (streaming them in batches, so a task's memory
is bounded by the batch, not by the partition) and returns a small pandas
frame, or writes it to the Parquet output. The model travels to each worker
once, wrapped in :class:`SharedModel` and scattered to every worker before
the tasks run; the tasks hold a reference to it, not a copy, and a worker
that receives the same model again (Dask re-sends dropped replicas) does not
unpickle it again.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import pickle
import threading
import uuid
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np

from .._classifier import ON_ERROR, HappySadClassifier
from .._image import read_image
from .._predict import final_estimator
from .._validation import check_image_paths, is_positive_int, python_scalar
from ..exceptions import ImageReadError, NotFittedError, SkmoodWarning
from ._dask import current_client, require_dask
from ._parquet import part_path, prepare_output, write_part

__all__ = ["SharedModel", "predict_partition", "predict_paths", "predictions_frame"]

logger = logging.getLogger(__name__)

_OWNER = "predict_paths"
#: How many times a SharedModel's payload was unpickled in this process.
_LOADED = 0
#: The models this process received last, by token: the payload of a model
#: that arrives again (Dask re-sends data whose replica it dropped) is not
#: unpickled again. Bounded, so that a long-lived worker does not keep every
#: model it ever served.
_RECEIVED: OrderedDict[str, Any] = OrderedDict()
_KEEP = 4
_RECEIVING = threading.Lock()


class SharedModel:
    """A fitted model sent to the workers once, and shared by their tasks.

    Scattered to every worker (``client.scatter(..., broadcast=True)``),
    where every task of :func:`predict_paths` uses the same object
    (predicting from several threads at once is safe). Dask may move or
    re-send the data: its Active Memory Manager drops replicas that no
    task waits for yet, and a worker that needs one later fetches it
    again. The model is therefore pickled as a payload with a token, and a
    worker unpickles a token's payload once: a copy that arrives again
    resolves to the model the process has already (the last four models a
    process received are kept). Its Dask token is its identity, so Dask
    never hashes the network's weights.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.token = uuid.uuid4().hex

    def __getstate__(self) -> dict:
        return {"token": self.token,
                "payload": pickle.dumps(self.model, protocol=pickle.HIGHEST_PROTOCOL)}

    def __setstate__(self, state: dict) -> None:
        global _LOADED
        self.token = state["token"]
        with _RECEIVING:  # two threads receiving the same model unpickle it once
            model = _RECEIVED.get(self.token)
            if model is None:
                model = pickle.loads(state["payload"])
                _LOADED += 1
                _RECEIVED[self.token] = model
                while len(_RECEIVED) > _KEEP:
                    _RECEIVED.popitem(last=False)
            else:
                _RECEIVED.move_to_end(self.token)
        self.model = model

    def __dask_tokenize__(self) -> tuple:
        return ("skmood.SharedModel", self.token)


def models_loaded() -> int:
    """How many shared models this process has unpickled (for tests and diagnostics)."""
    return _LOADED


def _fitted_classifier(model: Any) -> HappySadClassifier:
    clf = final_estimator(model)
    if not isinstance(clf, HappySadClassifier):
        raise TypeError(f"{_OWNER}: expected a fitted HappySadClassifier or a Pipeline ending "
                        f"in one, got {type(model).__name__}.")
    if not hasattr(clf, "model_"):
        raise NotFittedError(f"{_OWNER}: the HappySadClassifier is not fitted yet; fit it or "
                             "load a model file (skmood.load) first.")
    return clf


def proba_columns(classes) -> list[str]:
    """``proba_<class>``: the probability column of each class, in ``classes`` order."""
    return [f"proba_{c}" for c in classes]


def predictions_frame(index, paths: list[str], classes, proba: np.ndarray,
                      errors: list[str | None]):
    """The rows of one partition: ``path``, ``label``, ``proba_<class>``..., ``error``.

    A row with an ``error`` (the file could not be read) has no label and
    NaN probabilities.
    """
    import pandas as pd

    failed = [error is not None for error in errors]
    best = np.argmax(np.nan_to_num(proba, nan=0.0), axis=1) if len(proba) else []
    labels = [None if bad else python_scalar(classes[i]) for bad, i in zip(failed, best)]
    label_dtype = pd.array([python_scalar(c) for c in classes]).dtype
    if isinstance(label_dtype, pd.StringDtype):
        label_dtype = pd.StringDtype()
    columns = {"path": pd.array(paths, dtype=pd.StringDtype()),
               "label": pd.array(labels, dtype=label_dtype)}
    for j, name in enumerate(proba_columns(classes)):
        columns[name] = np.asarray(proba[:, j], dtype=np.float64)
    columns["error"] = pd.array(errors, dtype=pd.StringDtype())
    return pd.DataFrame(columns, index=index)


def _with_on_error(model: Any, on_error: str) -> Any:
    """``model`` whose classifier has ``on_error`` (a shallow copy sharing the network)."""
    clf = final_estimator(model)
    if clf.on_error == on_error:
        return model
    copied = copy.copy(clf)
    copied.on_error = on_error
    if model is clf:
        return copied
    pipeline = copy.copy(model)
    pipeline.steps = [*model.steps[:-1], (model.steps[-1][0], copied)]
    return pipeline


def _read_error(path: str, color_mode: str) -> str | None:
    """The message of ``path``'s decoding error, or None if it decodes."""
    try:
        read_image(path, color_mode=color_mode)
    except ImageReadError as exc:
        return str(exc)
    return None


def _proba_and_errors(model: Any, values: list[str], on_error: str
                      ) -> tuple[np.ndarray, list[str | None]]:
    clf = final_estimator(model)
    n, k = len(values), len(clf.classes_)
    if n == 0:
        return np.empty((0, k)), []
    if on_error == "raise":
        return np.asarray(_with_on_error(model, "raise").predict_proba(values), float), [None] * n
    color_mode = "grayscale" if clf.input_shape_[2] == 1 else "rgb"
    skipping = _with_on_error(model, "skip")
    errors: list[str | None] = [None] * n
    with warnings.catch_warnings():  # the error column names each file instead
        warnings.simplefilter("ignore", SkmoodWarning)
        try:
            proba = np.asarray(skipping.predict_proba(values), dtype=float)
        except ImageReadError:  # a pipeline's ImageLoader stops at the first unreadable file
            errors = [_read_error(p, color_mode) for p in values]
            readable = [i for i, error in enumerate(errors) if error is None]
            proba = np.full((n, k), np.nan)
            if readable:
                proba[readable] = skipping.predict_proba([values[i] for i in readable])
            return proba, errors
    for i in np.flatnonzero(np.isnan(proba).any(axis=1)):
        errors[i] = _read_error(values[i], color_mode) or f"{values[i]!r} could not be read."
    return proba, errors


def predict_partition(shared: Any, paths, on_error: str = "skip"):
    """Predict one partition of paths (a pandas Series); the task each worker runs."""
    model = shared.model if isinstance(shared, SharedModel) else shared
    values = [os.fspath(p) for p in paths]
    proba, errors = _proba_and_errors(model, values, on_error)
    return predictions_frame(paths.index, values, final_estimator(model).classes_, proba,
                             errors)


def _predict_and_write(shared: Any, paths, on_error: str, output: str, index: int) -> int:
    """Predict one partition and write it to the Parquet output; return its row count."""
    return write_part(predict_partition(shared, paths, on_error), output, index)


def _as_series(values, start: int):
    """A Bag partition as a Series numbered from ``start``."""
    import pandas as pd

    values = list(values)
    return pd.Series(values, index=pd.RangeIndex(start, start + len(values)), dtype=object,
                     name="path")


def _path_partitions(paths: Any, partition_size: int) -> tuple[list, tuple | None, dict]:
    """``(one Delayed pandas Series per partition, divisions or None, manifest facts)``."""
    import dask
    import dask.bag as db
    import dask.dataframe as dd
    import pandas as pd

    if isinstance(paths, dd.DataFrame):
        raise TypeError(f"{_OWNER}: paths is a Dask DataFrame; pass its column of paths, "
                        "e.g. df['path'].")
    if isinstance(paths, dd.Series):
        divisions = paths.divisions if paths.known_divisions else None
        return paths.to_delayed(), divisions, {"input": "dask"}
    if isinstance(paths, db.Bag):  # counted first, so that the rows get global numbers
        lengths = [int(n) for n in paths.map_partitions(lambda part: [len(list(part))]).compute()]
        starts = [int(s) for s in np.cumsum([0, *lengths])]
        parts = [dask.delayed(_as_series)(part, start)
                 for part, start in zip(paths.to_delayed(), starts)]
        # Divisions: each partition's first row number, then the last row's.
        divisions = None if 0 in lengths else (*starts[:-1], starts[-1] - 1)
        return parts, divisions, {"input": "dask"}
    values = check_image_paths(paths, _OWNER)
    series = pd.Series(values, dtype=object, name="path")
    frame = dd.from_pandas(series, chunksize=partition_size, sort=True)
    digest = hashlib.sha256("\n".join(values).encode("utf-8", "surrogatepass")).hexdigest()
    return frame.to_delayed(), frame.divisions, {
        "input": "paths", "n_paths": len(values), "partition_size": partition_size,
        "paths_sha256": digest}


def predict_paths(model: Any, paths: Any, client: Any = None, *, partition_size: int = 4096,
                  output: str | os.PathLike | None = None, on_error: str = "skip"):
    """Predict image files on a Dask cluster: one row per path, in order.

    The paths are split into partitions of ``partition_size``, one task
    each; the fitted model is sent to every worker once (scattered before
    the tasks run), never once per task. A task streams its images in
    batches, so a worker's memory is bounded by the batch (256 images) and
    its partition's result, whatever the number of paths. A file that cannot
    be read keeps its row, with its error, and the job goes on.

    Parameters
    ----------
    model : HappySadClassifier or Pipeline
        Fitted (e.g. :func:`skmood.load`); a Pipeline ends with a
        HappySadClassifier. Its own ``inference``, ``flip_averaging`` and
        ``face_detector`` apply on the workers.
    paths : array-like of str, dask.dataframe.Series or dask.bag.Bag
        Image paths, readable from every worker (a shared file system; for
        object storage see the user guide on data). A Dask Series keeps its
        partitions and its index; a Bag keeps its partitions, which are
        counted first (one pass) to number the rows.
    client : distributed.Client or None, default=None
        The cluster. None: the default client if there is one, else Dask's
        local scheduler in this process (the model is then not copied).
    partition_size : int, default=4096
        Paths per task (array input only): the unit of scheduling and of
        resumption. From 4,096 images up, ``inference="auto"`` predicts
        with LiteRT (converted once per worker).
    output : str, os.PathLike or None, default=None
        A folder to write the predictions to as Parquet
        (``"preds.parquet"``: one file per partition), readable from the
        workers and this process. The prediction then runs now, and running
        again on the same output skips the partitions already written (e.g.
        after a crash or an interruption); an output written for other paths,
        partitions or model weights is refused. None: nothing runs until
        the frame is computed.
    on_error : {"skip", "raise"}, default="skip"
        ``"skip"``: an unreadable file gets a row with an empty label, NaN
        probabilities and its error message. ``"raise"``: the job stops with
        the :class:`~skmood.ImageReadError` of the first one. The model's own
        ``on_error`` is not used.

    Returns
    -------
    predictions : dask.dataframe.DataFrame
        Columns ``path``, ``label`` (the most probable class),
        ``proba_<class>`` for each class of ``classes_`` (in that order, e.g.
        ``proba_happy``, ``proba_sad``) and ``error`` (None, or why the file
        could not be read). Indexed by the paths' positions (an array or a
        Bag) or the Series' index. Lazy without ``output``; with it, read
        from the Parquet files.

    Examples
    --------
    >>> import tempfile
    >>> from skmood import HappySadClassifier, make_faces
    >>> from skmood.distributed import predict_paths
    >>> paths, y = make_faces(20, image_size=(16, 16), random_state=0,
    ...                       directory=tempfile.mkdtemp())
    >>> clf = HappySadClassifier(image_size=(16, 16), conv_filters=(4,), dense_units=4,
    ...                          epochs=1, random_state=0).fit(paths, y)
    >>> df = predict_paths(clf, [*paths[:3], "missing.png"], partition_size=2)
    >>> df.npartitions, list(df.columns)
    (2, ['path', 'label', 'proba_happy', 'proba_sad', 'error'])
    >>> result = df.compute()
    >>> result["label"].isna().tolist(), result["error"].notna().tolist()
    ([False, False, False, True], [False, False, False, True])
    """
    require_dask(f"skmood.distributed.{_OWNER}")
    import dask
    import dask.dataframe as dd

    clf = _fitted_classifier(model)
    if on_error not in ON_ERROR:
        raise ValueError(f"{_OWNER}: on_error={on_error!r}; expected 'skip' or 'raise'.")
    if not is_positive_int(partition_size):
        raise ValueError(f"{_OWNER}: partition_size must be a positive int, got "
                         f"{partition_size!r}.")
    parts, divisions, facts = _path_partitions(paths, int(partition_size))
    meta = predictions_frame([], [], clf.classes_, np.empty((0, len(clf.classes_))), [])
    client = current_client(client)
    shared = SharedModel(model)
    ref = client.scatter([shared], broadcast=True, hash=False)[0] if client else shared
    if output is None:
        tasks = [dask.delayed(predict_partition, pure=False)(ref, part, on_error)
                 for part in parts]
        return dd.from_delayed(tasks, meta=meta, divisions=divisions, verify_meta=False)

    from .._litert import fingerprint

    folder, done = prepare_output(output, {
        **facts, "n_partitions": len(parts), "on_error": on_error,
        "classes": [str(c) for c in clf.classes_], "weights": fingerprint(clf.model_)})
    tasks = [dask.delayed(_predict_and_write, pure=False)(ref, part, on_error, folder, i)
             for i, part in enumerate(parts) if i not in done]
    logger.info("%s: %d of %d partitions written already in %r; predicting %d", _OWNER,
                len(done), len(parts), folder, len(tasks))
    if tasks and client is not None:
        client.gather(client.compute(tasks))
    elif tasks:  # TensorFlow uses every core within a task: one task at a time
        dask.compute(*tasks, scheduler=dask.config.get("scheduler", None) or "sync")
    return dd.read_parquet([part_path(folder, i) for i in range(len(parts))])
