"""``skmood train``: fit on a folder, with per-epoch checkpoints, resume and warm start."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from typing import Any

from .. import _paths
from .. import _progress as progress
from .._classifier import HappySadClassifier
from .._persistence import format_for_path, load, save
from ..exceptions import SkmoodError, SkmoodWarning
from ._format import class_counts, prepare_output

__all__ = ["checkpoint_path", "cmd_train"]

logger = logging.getLogger(__name__)

#: Estimator parameters that are not ``skmood train`` options of the same name.
NOT_OPTIONS = ("model", "validation_data", "verbose", "warm_start")


def checkpoint_path(output: str) -> str:
    """Where ``skmood train -o OUTPUT`` keeps its per-epoch checkpoint."""
    return output + ".checkpoint.skmood"


def _checkpointer(clf: HappySadClassifier, path: str) -> Any:
    """A Keras callback writing ``clf`` (safe format) after every completed epoch.

    The classifier records ``history_`` and ``n_iter_`` itself before this
    callback runs, so the checkpoint holds the epoch that just ended.
    """
    from .. import _keras_backend as backend

    def on_epoch_end(epoch: int, logs: dict | None = None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkmoodWarning)  # "not stored" notes, once is enough
            save(clf, path)
        logger.debug("checkpoint after epoch %d: %r", clf.n_iter_, path)

    return backend.epoch_end_callback(on_epoch_end)


def _train_estimator(args: argparse.Namespace, params: dict, checkpoint: str
                     ) -> tuple[HappySadClassifier, int]:
    """The estimator to fit and how many epochs to run: new, resumed or warm-started."""
    if args.resume and _paths.exists(checkpoint):
        clf = load(checkpoint)
        target = params.get("epochs", clf.epochs)
        logger.info("resuming from %r after %d completed epoch(s) of %d", checkpoint,
                    clf.n_iter_, target)
        return clf.set_params(warm_start=True), max(target - clf.n_iter_, 0)
    if args.resume:
        logger.info("no checkpoint at %r: starting a new run", checkpoint)
    if args.init is not None:
        from ._commands import load_model

        clf = load_model(args.init)  # a file named on the command line, or "pretrained"
        if not isinstance(clf, HappySadClassifier):
            raise SkmoodError(f"--init {args.init!r} holds a pipeline; expected a model saved "
                              "by 'skmood train'.")
        logger.info("continuing the network of %r (warm start)", args.init)
        clf.set_params(**{k: v for k, v in params.items() if k not in ("image_size",
                                                                        "color_mode")})
        return clf.set_params(warm_start=True), clf.epochs
    clf = HappySadClassifier(**params)
    return clf, clf.epochs


def cmd_train(args: argparse.Namespace) -> int:
    """Fit a classifier on a folder of images and save it."""
    from .._native_log import start_tensorflow
    from ..datasets import load_image_folder

    output = prepare_output(args.output)  # fail before training, not after
    checkpoint = checkpoint_path(output)
    paths, labels = load_image_folder(args.data_dir)
    logger.info("found %d images in %r (%s)", len(paths), args.data_dir, class_counts(labels))
    start_tensorflow()
    # Options named after estimator parameters; those not given keep the estimator's
    # defaults. -v (verbose) is the CLI's own flag; validation_data comes from --val-dir.
    names = set(HappySadClassifier().get_params()) - set(NOT_OPTIONS)
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items()
              if k in names and v is not None}
    if args.crop_faces and "face_detector" not in params:
        params["face_detector"] = "haar"
    if len(params.get("blocks_per_stage", ())) == 1:  # one number: every stage
        params["blocks_per_stage"] = params["blocks_per_stage"][0]
    if args.preset == "recommended":  # explicit options override the preset's values
        from .._presets import recommended_params

        params = recommended_params(**params)
    if args.val_dir is not None:
        params["validation_data"] = load_image_folder(args.val_dir)
        logger.info("validation: %d images in %r", len(params["validation_data"][0]), args.val_dir)
    clf, epochs = _train_estimator(args, params, checkpoint)
    before = getattr(clf, "n_iter_", 0)
    if args.val_dir is not None:
        clf.set_params(validation_data=params["validation_data"])
    start = time.perf_counter()
    if epochs > 0:
        clf.set_params(epochs=epochs)
        # Keras' own per-batch bar within each epoch on a terminal; one log line per epoch
        # otherwise (piped, or -q).
        with progress.training_bar(enabled=progress.wanted(sys.stdout, args.quiet)) as bar:
            clf.fit(paths, labels, callbacks=[_checkpointer(clf, checkpoint), *bar])
    seconds = time.perf_counter() - start
    save(clf, output, format=format_for_path(output))
    size = _paths.size(output)
    _paths.remove(checkpoint)  # the run is complete: the model file supersedes it
    metrics = ", ".join(f"{k}={v[-1]:.4f}" for k, v in sorted(clf.history_.items()))
    print(
        f"trained HappySadClassifier on images from {args.data_dir}\n"
        f"images found:  {len(paths)} ({class_counts(labels)})\n"
        f"epochs run:    {clf.n_iter_} of {before + epochs}"
        f"{f' ({before} before this run)' if before else ''} ({seconds:.1f} s)\n"
        f"last epoch:    {metrics}\n"
        f"model saved:   {output} ({size / 1e6:.1f} MB)"
    )
    return 0
