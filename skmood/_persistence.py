"""Safe model files: Keras' native format plus JSON, no pickle.

``joblib``/``pickle`` files run code when loaded, so they must only be loaded
from trusted sources. :func:`save` and :func:`load` write and read a ``.skmood``
zip archive holding ``model.keras`` (loaded with Keras' safe mode) and
``skmood.json`` (estimator class, parameters, classes, training history).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from ._classifier import HappySadClassifier
from ._version import __version__
from .exceptions import ModelFileError, NotFittedError, SkmoodWarning
from .transformers import ImageLoader, ImageResizer, PixelNormalizer

__all__ = ["FORMAT_VERSION", "load", "save"]

#: Version of the archive layout; bumped when it changes incompatibly.
FORMAT_VERSION = 1
_FORMAT = "skmood-model"
_META, _NETWORK = "skmood.json", "model.keras"
_STEPS = {cls.__name__: cls for cls in (ImageLoader, ImageResizer, PixelNormalizer)}
#: Parameters that are tuples in the estimators (JSON has only lists).
_TUPLES = ("image_size", "conv_filters", "blocks_per_stage")


def _jsonable_params(estimator) -> tuple[dict, list[str]]:
    """Parameters as JSON values, and the names of those that cannot be stored."""
    params, dropped = {}, []
    for name, value in estimator.get_params(deep=False).items():
        if name == "model" and value is not None:
            dropped.append(f"model={getattr(value, '__qualname__', type(value).__name__)}")
            value = None
        elif name == "validation_data" and value is not None:
            dropped.append("validation_data")
            value = None
        elif name == "random_state" and not (value is None or isinstance(value, int)):
            dropped.append("random_state")
            value = None
        elif name == "class_weight" and isinstance(value, dict):
            value = {"__pairs__": [[_json_label(k), float(v)] for k, v in value.items()]}
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, os.PathLike):  # e.g. weights=Path(...)
            value = os.fspath(value)
        params[name] = value
    return params, dropped


def _json_label(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _restore_params(params: dict) -> dict:
    params = dict(params)
    for name in _TUPLES:
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    cw = params.get("class_weight")
    if isinstance(cw, dict) and "__pairs__" in cw:
        params["class_weight"] = {k: v for k, v in cw["__pairs__"]}
    return params


def _split(estimator) -> tuple[list, HappySadClassifier]:
    """``(transformer steps, classifier)`` of a classifier or a skmood Pipeline."""
    if isinstance(estimator, HappySadClassifier):
        return [], estimator
    if isinstance(estimator, Pipeline) and isinstance(estimator.steps[-1][1], HappySadClassifier):
        steps = estimator.steps[:-1]
        unknown = [type(s).__name__ for _, s in steps if type(s).__name__ not in _STEPS]
        if not unknown:
            return steps, estimator.steps[-1][1]
        raise TypeError(
            f"skmood.save: cannot store pipeline steps {unknown}; only "
            f"{sorted(_STEPS)} before a HappySadClassifier (use joblib for other pipelines)."
        )
    raise TypeError(
        "skmood.save: expected a fitted HappySadClassifier or a Pipeline of skmood "
        f"transformers ending in one, got {type(estimator).__name__}."
    )


def save(estimator, path: str | os.PathLike) -> None:
    """Write a fitted classifier (or skmood pipeline) to a safe ``.skmood`` file.

    Parameters
    ----------
    estimator : HappySadClassifier or Pipeline
        Fitted; a Pipeline may hold :class:`ImageLoader`, :class:`ImageResizer`
        and :class:`PixelNormalizer` steps before the classifier.
    path : str or os.PathLike
        File to write. It is written to a temporary file first and moved into
        place, so a crash never leaves a half-written model.

    See Also
    --------
    load : Read the file back, without unpickling anything.

    Notes
    -----
    A custom ``model=`` builder, ``validation_data`` and a ``RandomState``
    ``random_state`` are not stored (a :class:`SkmoodWarning` says so); the
    trained network itself always is.

    Examples
    --------
    >>> import os, tempfile
    >>> import skmood
    >>> from skmood.datasets import make_faces
    >>> X, y = make_faces(20, image_size=(16, 16), random_state=0)
    >>> clf = skmood.HappySadClassifier(image_size=(16, 16), conv_filters=(4,),
    ...                                 dense_units=4, epochs=1, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skmood")
    >>> skmood.save(clf, path)
    >>> (skmood.load(path).predict_proba(X) == clf.predict_proba(X)).all()
    np.True_
    """
    from . import _keras_backend as backend

    steps, clf = _split(estimator)
    if not hasattr(clf, "model_"):
        raise NotFittedError("skmood.save: the HappySadClassifier is not fitted yet.")
    params, dropped = _jsonable_params(clf)
    if dropped:
        warnings.warn(f"skmood.save: not stored: {', '.join(dropped)}; the trained network "
                      "is.", SkmoodWarning, stacklevel=2)
    meta = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "skmood_version": __version__,
        "keras_version": backend.keras_version(),
        "steps": [[name, type(step).__name__, _jsonable_params(step)[0]]
                  for name, step in steps],
        "classifier_name": estimator.steps[-1][0] if steps else None,
        "params": params,
        "classes": [_json_label(c) for c in clf.classes_],
        "input_shape": list(clf.input_shape_),
        "history": clf.history_,
        "n_iter": clf.n_iter_,
    }
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryDirectory() as tmp:
        network = os.path.join(tmp, _NETWORK)
        backend.save_model(clf.model_, network)
        fd, partial = tempfile.mkstemp(dir=folder, prefix=".skmood-", suffix=".part")
        os.close(fd)
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(_META, json.dumps(meta, indent=1))
                archive.write(network, _NETWORK)
            os.replace(partial, path)
        except BaseException:
            os.unlink(partial)
            raise


def _read_meta(archive: zipfile.ZipFile, path: str) -> dict:
    try:
        meta = json.loads(archive.read(_META))
    except KeyError:
        raise ModelFileError(f"skmood.load: {path!r} is not a skmood model file (a zip "
                             f"archive without {_META}).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"skmood.load: {path!r} has a corrupt {_META}: {exc}.") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ModelFileError(f"skmood.load: {path!r} is not a skmood model file "
                             f"(format {meta.get('format') if isinstance(meta, dict) else meta!r}).")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"skmood.load: {path!r} uses model file format {version!r}, written by skmood "
            f"{meta.get('skmood_version')}; this skmood ({__version__}) reads format "
            f"{FORMAT_VERSION} and older: upgrade skmood."
        )
    return meta


def load(path: str | os.PathLike):
    """Read a model written by :func:`save`, without unpickling anything.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.skmood`` file.

    Returns
    -------
    estimator : HappySadClassifier or Pipeline
        Fitted, giving the same predictions as the saved one.

    Raises
    ------
    ModelFileError
        If the file is corrupt, truncated, not a skmood model, or written in a
        newer format. A ``ValueError``.
    FileNotFoundError
        If there is no such file.
    """
    from . import _keras_backend as backend

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"skmood.load: no model file at {path!r}.")
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
            meta = _read_meta(archive, path)
            archive.extract(_NETWORK, tmp)
            model = backend.load_model(os.path.join(tmp, _NETWORK))
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as exc:
        raise ModelFileError(f"skmood.load: {path!r} is corrupt or truncated, or not a "
                             f"skmood model file: {exc}.") from exc
    except (ValueError, OSError, TypeError) as exc:
        raise ModelFileError(f"skmood.load: the network in {path!r} cannot be read: "
                             f"{exc}.") from exc
    if meta.get("skmood_version") != __version__:
        warnings.warn(f"skmood.load: {path!r} was written by skmood "
                      f"{meta.get('skmood_version')}, this is {__version__}.",
                      SkmoodWarning, stacklevel=2)
    clf = HappySadClassifier(**_restore_params(meta["params"]))
    clf.classes_ = np.array(meta["classes"], dtype=object if isinstance(
        meta["classes"][0], str) else None)
    clf.input_shape_ = tuple(meta["input_shape"])
    clf.history_ = meta["history"]
    clf.n_iter_ = meta["n_iter"]
    clf.model_ = model
    clf.keras_classifier_ = backend.wrap_fitted_model(
        model, X_probe=np.zeros((2, *clf.input_shape_), np.float32), y_probe=clf.classes_)
    if clf.jit_compile:  # Keras saves the compile arguments, not this later setting
        model.jit_compile = True
    if not meta["steps"]:
        return clf
    steps = [(name, _STEPS[kind](**_restore_params(params)))
             for name, kind, params in meta["steps"]]
    return Pipeline([*steps, (meta["classifier_name"], clf)])
