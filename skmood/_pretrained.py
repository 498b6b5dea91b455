"""The pretrained model shipped inside the package (``skmood.load_pretrained``).

The file ``skmood/data/happy_sad.skmood`` is made by
``scripts/train_pretrained.py`` from the training splits of the two data sets
beside the repository; its metadata (:func:`pretrained_info`) say which data,
command, commit, training time and scores. Nothing is downloaded, ever.
"""

from __future__ import annotations

import importlib.resources
import os

from ._persistence import load, read_info

__all__ = ["PRETRAINED_FILE", "load_pretrained", "pretrained_info", "pretrained_path"]

#: Name of the shipped model file, inside the package's ``data`` folder.
PRETRAINED_FILE = "happy_sad.skmood"


def pretrained_path() -> str:
    """Where the shipped model file is; ``FileNotFoundError`` if it is not installed."""
    path = os.fspath(importlib.resources.files("skmood") / "data" / PRETRAINED_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"skmood's pretrained model is not in this installation (no {path!r}); it is made "
            "by 'python scripts/train_pretrained.py' from the repository and shipped in the "
            "wheel. Give a model file of your own instead."
        )
    return path


def load_pretrained():
    """skmood's pretrained happy/sad model, ready to predict on photos.

    A :class:`~skmood.HappySadClassifier` that finds the largest face of each
    image itself (its ``face_detector``), read from the package's own data in
    the safe format: nothing is downloaded. It can be fine-tuned on your own
    photos with ``warm_start=True`` (or ``skmood train PHOTOS -o MINE
    --init pretrained``).

    Returns
    -------
    model : HappySadClassifier
        Fitted.

    See Also
    --------
    pretrained_info : What it was trained on, how, and its scores.

    Notes
    -----
    The weights were learned from FER2013 (released for research use) and
    from web image-search photos whose sources state no licence: judge your
    own use accordingly. :func:`pretrained_info` gives the details.
    """
    return load(pretrained_path())


def pretrained_info() -> dict:
    """What the shipped model was trained on, with which command, and its scores.

    Returns
    -------
    info : dict
        :func:`skmood.read_info` of the shipped file: its ``metadata`` hold
        ``data``, ``command``, ``commit``, ``training_seconds``, ``scores``
        and ``licence``.
    """
    return read_info(pretrained_path())
