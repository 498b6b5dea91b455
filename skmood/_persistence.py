"""Model files: the one module of skmood that writes and reads them.

Two formats, one writer and one reader:

- the **safe format** (``.skmood``): a zip archive holding ``model.keras``
  (Keras' native format, loaded in Keras' safe mode) and ``skmood.json``
  (estimator class, parameters, classes, training history), plus the LiteRT
  conversions of the network made before saving (``litert-int8.tflite``,
  ``litert.tflite``: data for LiteRT's built-in kernels, used at the first
  LiteRT prediction only if made from the same weights, free of TensorFlow
  and custom operators, and answering as the network does on probe images).
  Loading it runs no code from the file.
- **joblib** (a pickle): any estimator or pipeline, but loading it can run
  arbitrary code, so :func:`load` reads it only with ``allow_pickle=True``.

Every file is written by :func:`_atomic_write` (temporary file in the
destination folder, fsync, rename), so a crash never leaves a half-written
model. The command line and the server call :func:`save` and :func:`load`
only; fitted state is restored by the classifier itself
(``HappySadClassifier._restore_fitted``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any

import numpy as np
from sklearn.pipeline import Pipeline

from . import _paths
from ._classifier import HappySadClassifier
from ._predict import final_estimator
from ._validation import python_scalar
from ._version import __version__
from .exceptions import ModelFileError, NotFittedError, SkmoodWarning
from .transformers import ImageLoader, ImageResizer, PixelNormalizer

__all__ = ["FORMAT_VERSION", "FORMATS", "SAFE_EXTENSION", "format_for_path", "load", "read_info",
           "save"]

#: Version of the archive layout; bumped when it changes incompatibly.
FORMAT_VERSION = 1
#: What :func:`save` writes: the safe archive, or a joblib pickle.
FORMATS = ("skmood", "joblib")
#: Extension of the safe format. A file of this name is never unpickled.
SAFE_EXTENSION = ".skmood"
_FORMAT = "skmood-model"
_META, _NETWORK = "skmood.json", "model.keras"
_ZIP_MAGIC = b"PK\x03\x04"
_STEPS = {cls.__name__: cls for cls in (ImageLoader, ImageResizer, PixelNormalizer)}
_HINT = "expected a model file written by skmood.save or 'skmood train'"


def format_for_path(path: str | os.PathLike[str]) -> str:
    """``"skmood"`` for a path ending in ``.skmood``, else ``"joblib"`` (the CLI's rule)."""
    return "skmood" if os.fspath(path).lower().endswith(SAFE_EXTENSION) else "joblib"


# ------------------------------------------------------------------ parameters
def _tuple_params(estimator) -> set[str]:
    """Parameters stored as JSON lists that the estimator takes as tuples.

    Read off ``_parameter_constraints``: an ``"array-like"`` or ``tuple``
    constraint means a sequence parameter (``image_size``, ``conv_filters``, ...).
    """
    cls = estimator if isinstance(estimator, type) else type(estimator)
    constraints = getattr(cls, "_parameter_constraints", {})
    return {name for name, allowed in constraints.items()
            if any(c == "array-like" or c is tuple for c in allowed)}


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
        elif name == "distribution" and not (value is None or isinstance(value, str)):
            dropped.append(f"distribution={type(value).__name__} (a strategy object; "
                           "names such as 'mirrored' are stored)")
            value = None
        elif name == "class_weight" and isinstance(value, dict):
            value = {"__pairs__": [[python_scalar(k), float(v)] for k, v in value.items()]}
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, os.PathLike):  # e.g. weights=Path(...)
            value = os.fspath(value)
        params[name] = value
    return params, dropped


def _restore_params(cls: type, params: dict) -> dict:
    params = dict(params)
    for name in _tuple_params(cls):
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    cw = params.get("class_weight")
    if isinstance(cw, dict) and "__pairs__" in cw:
        params["class_weight"] = {k: v for k, v in cw["__pairs__"]}
    return params


def _split(estimator, owner: str) -> tuple[list, HappySadClassifier]:
    """``(transformer steps, classifier)`` of a classifier or a skmood Pipeline."""
    if isinstance(estimator, HappySadClassifier):
        return [], estimator
    if isinstance(estimator, Pipeline) and isinstance(estimator.steps[-1][1], HappySadClassifier):
        steps = estimator.steps[:-1]
        unknown = [type(s).__name__ for _, s in steps if type(s).__name__ not in _STEPS]
        if not unknown:
            return steps, estimator.steps[-1][1]
        raise TypeError(
            f"{owner}: cannot store pipeline steps {unknown}; only "
            f"{sorted(_STEPS)} before a HappySadClassifier (use joblib for other pipelines)."
        )
    raise TypeError(
        f"{owner}: expected a fitted HappySadClassifier or a Pipeline of skmood "
        f"transformers ending in one, got {type(estimator).__name__}."
    )


# ---------------------------------------------------------------------- write
def _atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)``: temporary file, fsync, rename.

    The temporary file lives in the destination folder (so the rename is
    atomic) and gets the permissions a new file would (``mkstemp`` makes it
    readable by its owner only). On any failure it is removed and an existing
    ``path`` is left untouched. A URL (``s3://...``) is written to a local
    temporary file, then uploaded in one piece: object storage shows an
    object only once it is complete, so the same holds there.
    """
    if _paths.is_url(path):
        with tempfile.TemporaryDirectory(prefix="skmood-save-") as tmp:
            local = os.path.join(tmp, "model")
            with open(local, "wb") as fh:
                write(fh)
            _paths.upload(local, path)
        return
    folder = os.path.dirname(os.path.abspath(path))
    fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                   suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def save(estimator, path: str | os.PathLike, *, format: str = "skmood",
         metadata: dict | None = None, include_optimizer: bool = True) -> None:
    """Write a fitted classifier (or skmood pipeline) to a model file.

    Parameters
    ----------
    estimator : HappySadClassifier or Pipeline
        Fitted. For the safe format a Pipeline may hold :class:`ImageLoader`,
        :class:`ImageResizer` and :class:`PixelNormalizer` steps before the
        classifier; joblib takes any pipeline ending in a HappySadClassifier.
    path : str or os.PathLike
        File to write. It is written to a temporary file first and moved into
        place, so a crash never leaves a half-written model. A URL such as
        ``"s3://bucket/model.skmood"`` is uploaded through fsspec once
        written (see :ref:`object-storage`).
    format : {"skmood", "joblib"}, default="skmood"
        ``"skmood"``: the safe format (Keras file plus JSON in a zip archive;
        loading it runs no code from the file). ``"joblib"``: a pickle, for
        pipelines the safe format cannot hold; only load such files if you
        trust them.
    metadata : dict or None, default=None
        JSON-serialisable facts about the model (data, command, scores...),
        stored beside it in the safe format; :func:`read_info` reads them
        back without loading the network. Not stored by joblib.
    include_optimizer : bool, default=True
        Safe format: store the optimizer's state (e.g. Adam's moments), so
        that a warm start continues exactly. ``False`` stores a fresh
        optimizer of the same configuration instead: a file about a third as
        large, for models that are shared to predict or to be fine-tuned.

    See Also
    --------
    load : Read the file back.

    Notes
    -----
    A custom ``model=`` builder, ``validation_data``, a ``RandomState``
    ``random_state`` and a ``tf.distribute.Strategy`` object as
    ``distribution`` (its names, such as ``"mirrored"``, are stored) are not
    stored in the safe format (a :class:`SkmoodWarning` says so; they load as
    ``None``); the trained network itself always is.

    The safe format also stores the network's LiteRT conversions made in this
    process for its current weights (a prediction with ``inference=
    "litert-int8"`` or ``"litert"`` makes one): a process that loads the file
    then predicts without converting again (a few seconds of a cold start).
    Saving itself never converts.

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
    if format not in FORMATS:
        raise ValueError(f"skmood.save: format={format!r}; expected 'skmood' or 'joblib'.")
    if metadata is not None:
        try:
            json.dumps(metadata)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"skmood.save: metadata must be JSON-serialisable: {exc}.") from exc
    path = os.fspath(path)
    if format == "joblib":
        import joblib

        clf = final_estimator(estimator)
        if not isinstance(clf, HappySadClassifier):
            _split(estimator, "skmood.save")  # raises the TypeError naming what was given
        if not hasattr(clf, "model_"):
            raise NotFittedError("skmood.save: the HappySadClassifier is not fitted yet.")
        _atomic_write(path, lambda fh: joblib.dump(estimator, fh))
        return
    meta, network, conversions = _archive_contents(estimator, include_optimizer)
    if metadata is not None:
        meta["metadata"] = metadata

    def write(fh: IO[bytes]) -> None:
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_META, json.dumps(meta, indent=1))
            archive.writestr(_NETWORK, network)
            for entry, flatbuffer in conversions:
                archive.writestr(entry["file"], flatbuffer)

    _atomic_write(path, write)


def _archive_contents(estimator, include_optimizer: bool = True
                      ) -> tuple[dict, bytes, list[tuple[dict, bytes]]]:
    """``(skmood.json contents, model.keras bytes, LiteRT conversions)`` of the safe format."""
    from . import _keras_backend as backend

    steps, clf = _split(estimator, "skmood.save")
    if not hasattr(clf, "model_"):
        raise NotFittedError("skmood.save: the HappySadClassifier is not fitted yet.")
    params, dropped = _jsonable_params(clf)
    if dropped:
        warnings.warn(f"skmood.save: not stored: {', '.join(dropped)}; the trained network "
                      "is.", SkmoodWarning, stacklevel=3)
    meta = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "skmood_version": __version__,
        "keras_version": backend.keras_version(),
        "steps": [[name, type(step).__name__, _jsonable_params(step)[0]]
                  for name, step in steps],
        "classifier_name": estimator.steps[-1][0] if steps else None,
        "params": params,
        "classes": [python_scalar(c) for c in clf.classes_],
        "input_shape": list(clf.input_shape_),
        "history": clf.history_,
        "n_iter": clf.n_iter_,
    }
    conversions = _cached_conversions(clf)
    if conversions:
        meta["litert"] = [entry for entry, _ in conversions]
    return meta, backend.network_to_bytes(clf.model_, include_optimizer), conversions


def _cached_conversions(clf) -> list[tuple[dict, bytes]]:
    """The LiteRT conversions of ``clf``'s network made in this process, for the archive.

    Only conversions already cached for the current weights (a prediction
    through LiteRT made them): saving never converts, so checkpoints stay
    cheap. Each entry names its file and the fingerprint of the weights.
    """
    from . import _litert

    weights, found = _litert.cached_flatbuffers(clf.model_)
    names = {False: "litert.tflite", True: "litert-int8.tflite"}
    return [({"file": names[quantize], "quantize": quantize, "weights": weights}, flatbuffer)
            for quantize, flatbuffer in found.items()]


def _offer_conversions(archive: zipfile.ZipFile, meta: dict, network) -> None:
    """Hand the archive's LiteRT conversions to :mod:`skmood._litert` (checked at first use)."""
    from . import _litert

    entries = meta.get("litert") or []
    for entry in entries if isinstance(entries, list) else []:
        try:
            _litert.offer_flatbuffer(network, archive.read(entry["file"]),
                                     str(entry["weights"]), bool(entry["quantize"]))
        except Exception:  # an optional cache: the network is converted when first used
            continue


# ----------------------------------------------------------------------- read
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


def read_info(path: str | os.PathLike) -> dict:
    """What a ``.skmood`` file says about its model, without loading the network.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save` in the safe format.

    Returns
    -------
    info : dict
        ``skmood_version``, ``keras_version``, ``params``, ``classes``,
        ``input_shape``, ``history``, ``n_iter`` and ``metadata`` (``{}`` when
        none was saved); ``litert`` when the file stores LiteRT conversions
        (each one's ``file``, ``quantize`` and ``weights`` fingerprint).

    Raises
    ------
    ModelFileError
        If the file is not a readable safe-format model file.
    """
    path = os.fspath(path)
    source = _model_source(path, "skmood.read_info")
    try:
        with zipfile.ZipFile(source) as archive:
            meta = _read_meta(archive, path)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ModelFileError(f"skmood.read_info: {path!r} is not a safe .skmood model file: "
                             f"{exc}.") from exc
    info = {k: v for k, v in meta.items() if k not in ("format", "format_version", "steps",
                                                      "classifier_name")}
    return {"metadata": {}, **info}


def _model_source(path: str, owner: str) -> str | io.BytesIO:
    """What to read a model from: the local ``path`` checked, or a URL's bytes.

    Raises ``FileNotFoundError`` or ``IsADirectoryError`` naming ``path``.
    """
    if _paths.is_url(path):
        try:
            return io.BytesIO(_paths.read_bytes(path))
        except IsADirectoryError:
            is_dir = True
        except FileNotFoundError:
            is_dir = False
    elif os.path.isfile(path):
        return path
    else:
        is_dir = os.path.isdir(path)
    if is_dir:
        raise IsADirectoryError(f"{owner}: model path {path!r} is a directory; {_HINT}.")
    raise FileNotFoundError(f"{owner}: no model file at {path!r} (it does not exist); {_HINT}.")


def _is_zip(source: str | io.BytesIO) -> bool:
    if not isinstance(source, str):
        magic = source.read(len(_ZIP_MAGIC))
        source.seek(0)
        return magic == _ZIP_MAGIC
    with open(source, "rb") as fh:
        return fh.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC


def load(path: str | os.PathLike, *, allow_pickle: bool = False):
    """Read a model file written by :func:`save` or ``skmood train``.

    The format is recognised from the file's contents: a safe ``.skmood``
    archive is read without running any code from it; a joblib (pickle) file
    only with ``allow_pickle=True``. A file whose name ends in ``.skmood`` is
    never unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        The model file, local or a URL such as ``"s3://bucket/model.skmood"``
        (read through fsspec, see :ref:`object-storage`).
    allow_pickle : bool, default=False
        Also read joblib/pickle files. Unpickling can run arbitrary code from
        the file: only for files you trust (as :func:`numpy.load`'s
        parameter of the same name).

    Returns
    -------
    estimator : HappySadClassifier or Pipeline
        Fitted, giving the same predictions as the saved one.

    Raises
    ------
    ModelFileError
        If the file is corrupt, truncated, not a skmood model, written in a
        newer format, or a pickle while ``allow_pickle=False``. A
        ``ValueError``.
    FileNotFoundError
        If there is no such file.
    IsADirectoryError
        If ``path`` is a folder.
    """
    path = os.fspath(path)
    source = _model_source(path, "skmood.load")
    if _is_zip(source) or format_for_path(path) == "skmood":
        model = _load_archive(path, source)
    elif allow_pickle:
        model = _load_joblib(path, source)
    else:
        raise ModelFileError(
            f"skmood.load: {path!r} is not a safe .skmood model file; if it is a joblib "
            "file you trust, pass allow_pickle=True (unpickling can run code from the file)."
        )
    clf = final_estimator(model)
    if not isinstance(clf, HappySadClassifier):
        raise ModelFileError(
            f"skmood.load: {path!r} is not a skmood model: it holds a {type(model).__name__}; "
            "expected a fitted HappySadClassifier or a Pipeline ending in one."
        )
    if not hasattr(clf, "model_"):
        raise ModelFileError(f"skmood.load: {path!r} holds an unfitted HappySadClassifier; "
                             f"{_HINT}.")
    return model


def _load_joblib(path: str, source: str | io.BytesIO) -> Any:
    import joblib

    try:
        return joblib.load(source)
    except Exception as exc:  # a foreign or corrupt file can fail in many ways
        raise ModelFileError(
            f"skmood.load: {path!r} is not a skmood model: it cannot be loaded "
            f"({type(exc).__name__}: {exc}); {_HINT}."
        ) from exc


def _load_archive(path: str, source: str | io.BytesIO):
    from . import _keras_backend as backend

    try:
        with zipfile.ZipFile(source) as archive:
            meta = _read_meta(archive, path)
            network = backend.network_from_bytes(archive.read(_NETWORK))
            _offer_conversions(archive, meta, network)
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
                      SkmoodWarning, stacklevel=3)
    clf = HappySadClassifier(**_restore_params(HappySadClassifier, meta["params"]))
    classes = np.array(meta["classes"],
                       dtype=object if isinstance(meta["classes"][0], str) else None)
    clf._restore_fitted(network, classes=classes, input_shape=meta["input_shape"],
                        history=meta["history"])
    if not meta["steps"]:
        return clf
    steps = [(name, _STEPS[kind](**_restore_params(_STEPS[kind], params)))
             for name, kind, params in meta["steps"]]
    return Pipeline([*steps, (meta["classifier_name"], clf)])
