"""Train the pretrained model shipped in the package (``skmood.load_pretrained``).

Data: the *training* splits of the two data sets beside the repository (never
a validation split): FER2013 happy/sad faces (``../shared/data/fer2013-happy-
sad/train``, 48x48 grayscale face crops, given their whole frame as the face)
and web image-search photos (``../shared/data/web-happy-sad/train``, whose
faces the model's own detector finds). The classifier is the recommended
configuration with the face detector inside the model; 10 % of the training
images are held out (seeded) to report accuracy while training, and the
held-out web photos are scored separately. Only then are both validation
splits scored once, for the record: nothing is chosen on them.

The metadata written into the model file (``skmood.pretrained_info()``) name
the data, this command, the commit, the training time and the scores. Run::

    python scripts/train_pretrained.py --out skmood/data/happy_sad.skmood
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
LICENCE = (
    "Learned from FER2013 (released for the ICML 2013 representation-learning challenge, "
    "for research use) and from web image-search photos collected by two public GitHub "
    "repositories that state no licence. Judge your own use accordingly."
)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _command(out: str) -> str:
    """This run's command line, with ``--out`` relative to the repository (no machine path)."""
    words = ["python", "scripts/train_pretrained.py"]
    for word in sys.argv[1:]:
        if os.path.isabs(word) and word == os.path.abspath(out):
            word = (os.path.relpath(word, ROOT) if word.startswith(str(ROOT))
                    else os.path.basename(word))
        words.append(word)
    return " ".join(words)


def image_folder(path, seed: int, limit: int | None = None):
    """``load_image_folder(path)``, or a seeded random ``limit`` of its images."""
    from skmood import load_image_folder

    X, y = load_image_folder(path)
    if limit is None:
        return X, y
    keep = np.random.default_rng(seed).permutation(len(X))[:limit]
    return X[keep], y[keep]


def held_out_indices(X, y, fraction: float, seed: int) -> np.ndarray:
    """Indices of the training images that the fit holds out (as ``fit`` draws them)."""
    from skmood._training import validation_split
    from skmood._validation import check_images

    _, y_enc = np.unique(y, return_inverse=True)
    _, held = validation_split(check_images(X, "train_pretrained"), y_enc, None, fraction,
                               seed, "train_pretrained")
    return np.asarray(held.indices)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fer", default=str(SHARED / "fer2013-happy-sad"))
    parser.add_argument("--web", default=str(SHARED / "web-happy-sad"))
    parser.add_argument("--out", default=str(ROOT / "skmood" / "data" / "happy_sad.skmood"))
    parser.add_argument("--detector", default="mtcnn", choices=["haar", "mtcnn"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--face-margin", type=float, default=None, metavar="M",
                        help="margin around each detected face (default: the recommended 0.2)")
    parser.add_argument("--web-weight", type=float, default=3.0,
                        help="sample weight of a web photo (a FER face weighs 1)")
    parser.add_argument("--conv-filters", type=int, nargs="+", default=None, metavar="N",
                        help="widths of the network's stages (default: the recommended ones)")
    parser.add_argument("--backbone", choices=["onet"], default=None,
                        help="onet: start from MTCNN's face network (weights='mtcnn', "
                             "fine-tuned whole after one head-only epoch) instead of the "
                             "recommended network from scratch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fer-only", action="store_true",
                        help="train on FER2013 alone (the base of the fine-tuning study in "
                             "benchmarks/bench_finetune.py: web photos new to the model)")
    parser.add_argument("--joint-split", action="store_true",
                        help="with --fer-only: hold out the FER2013 faces that the joint fit "
                             "(both sets) holds out, so that the two models are scored on the "
                             "same held-out faces and neither was trained on them")
    parser.add_argument("--average", nargs="+", metavar="MODEL", default=None,
                        help="train nothing: average these model files, made by this script "
                             "with the same --seed (skmood.average_models), score the average "
                             "on the held-out training images and write it with its members' "
                             "metadata; flip averaging is kept only if it raises the held-out "
                             "accuracy")
    parser.add_argument("--no-val", action="store_true", help="skip scoring the val splits")
    parser.add_argument("--limit", type=int, default=None,
                        help="smoke test: only the first N images of each set and split")
    args = parser.parse_args(argv)

    commit = _commit()  # the code that trains, before anything can change it
    import skmood
    from skmood import HappySadClassifier, recommended_params

    def folder(path):
        return image_folder(path, args.seed, args.limit)

    if args.joint_split and not args.fer_only:
        parser.error("--joint-split goes with --fer-only")
    if args.average and (args.fer_only or len(args.average) < 2):
        parser.error("--average takes two model files or more, and no --fer-only")
    fer_X, fer_y = folder(Path(args.fer) / "train")
    web_X, web_y = folder(Path(args.web) / "train")
    if args.fer_only and not args.joint_split:
        web_X, web_y = web_X[:0], web_y[:0]
    X, y = np.concatenate([fer_X, web_X]), np.concatenate([fer_y, web_y])
    is_web = np.r_[np.zeros(len(fer_X), bool), np.ones(len(web_X), bool)]
    weights = np.where(is_web, args.web_weight, 1.0)
    # FER2013 images are 48x48 face crops: their face is the whole frame.
    boxes = [None if web else (0, 0, 48, 48) for web in is_web]
    params = recommended_params(face_detector=args.detector, jit_compile=False,
                                precision="auto", random_state=args.seed, verbose=2,
                                epochs=args.epochs)
    if args.conv_filters:
        params["conv_filters"] = tuple(args.conv_filters)
    if args.face_margin is not None:
        params["face_margin"] = args.face_margin
    if args.backbone == "onet":  # see docs/user_guide/architectures.rst, "onet"
        params.update(backbone="onet", weights="mtcnn", head_epochs=1,
                      fine_tune_layers="all", learning_rate=1e-3,
                      fine_tune_learning_rate=3e-4)
    # The held-out 10 % of the training images, as the joint fit draws them (same seed).
    idx = held_out_indices(X, y, params["validation_split"], args.seed)
    fit_X, fit_y, fit_boxes = X, y, boxes
    if args.joint_split:
        # FER2013 faces only; the joint fit's held-out faces validate, web photos are dropped.
        fit = np.setdiff1d(np.flatnonzero(~is_web), idx)
        val = idx[~is_web[idx]]
        fit_X, fit_y, weights = X[fit], y[fit], weights[fit]
        fit_boxes = [boxes[i] for i in fit]
        params.update(validation_split=0.0, validation_data=(X[val], y[val]))
        idx, web_X = val, web_X[:0]
    n_fer = int(np.sum(~is_web)) if not args.joint_split else len(fit_X)

    def held_out_scores(model) -> dict:
        pred = model.predict(X[idx])

        def accuracy(mask) -> float | None:
            return float(np.mean(pred[mask] == y[idx][mask])) if mask.any() else None

        return {
            "held_out_accuracy": accuracy(np.ones(len(idx), bool)),
            "held_out_web_accuracy": accuracy(is_web[idx]),
            "held_out_fer_accuracy": accuracy(~is_web[idx]),
            "n_held_out_web": int(is_web[idx].sum()),
        }

    members = None
    if args.average:
        members = [skmood.read_info(path)["metadata"] for path in args.average]
        models = [skmood.load(path) for path in args.average]
        seeds = sorted({model.random_state for model in models})
        if seeds != [args.seed]:  # the seed draws the held-out images
            parser.error(f"--average: the members were trained with --seed {seeds}, not "
                         f"{args.seed}: they did not hold out the same images")
        for path, member in zip(args.average, members):
            words = member.get("command", "").split()
            if "--fer-only" in words and "--joint-split" not in words:
                parser.error(f"--average: {path} was trained with --fer-only without "
                             "--joint-split: it held out other images than the joint fit")
        for path, model in zip(args.average, models):
            print(f"member {os.path.basename(path)}: {json.dumps(held_out_scores(model))}",
                  flush=True)
        clf = skmood.average_models(models)
        seconds = sum(member["training_seconds"] for member in members)
        scores = held_out_scores(clf.set_params(flip_averaging=False))
        flipped = held_out_scores(clf.set_params(flip_averaging=True))
        print(f"average: {json.dumps(scores)}\naverage, flip averaging: {json.dumps(flipped)}",
              flush=True)
        if flipped["held_out_accuracy"] > scores["held_out_accuracy"]:
            scores = flipped
        else:
            clf.set_params(flip_averaging=False)
    else:
        clf = HappySadClassifier(**params)
        print(f"training on {n_fer} FER2013 faces + {len(web_X)} web photos "
              f"(weight {args.web_weight:g}), {args.detector} faces", flush=True)
        start = time.perf_counter()
        clf.fit(fit_X, fit_y, sample_weight=weights, face_boxes=fit_boxes)
        seconds = time.perf_counter() - start
        scores = held_out_scores(clf)
    print(json.dumps({**scores, "flip_averaging": clf.flip_averaging}), flush=True)
    if not args.no_val:
        for name, val_dir in (("web_val_accuracy", Path(args.web) / "val"),
                              ("fer_val_accuracy", Path(args.fer) / "val")):
            Xv, yv = folder(val_dir)
            scores[name] = float(np.mean(clf.predict(Xv) == yv))
            print(name, f"{scores[name]:.4f}", flush=True)
    metadata = {
        "data": {
            "fer2013_train": {"images": n_fer, "folder": "fer2013-happy-sad/train"},
            "web_train": {"images": int(len(web_X)), "folder": "web-happy-sad/train",
                          "sample_weight": args.web_weight},
            "never_trained_on": ["fer2013-happy-sad/val", "web-happy-sad/val"],
        },
        "command": _command(args.out),
        "commit": commit,
        "training_seconds": round(seconds, 1),
        "machine": f"{os.cpu_count()} CPU cores",
        "face_detector": args.detector,
        "scores": scores,
        "licence": LICENCE,
    }
    if members is not None:  # the data of the members (all from the two train splits)
        data = {}
        for member in members:
            for key, value in member["data"].items():
                if isinstance(value, dict) and value.get("images", 0) < data.get(
                        key, {}).get("images", 0):
                    continue
                data[key] = value
        metadata["data"] = data  # each set as its largest share in a member
        metadata["flip_averaging"] = clf.flip_averaging
        metadata["flip_averaging_chosen_on"] = "the held-out training images scored here"
        metadata["members"] = [{key: member[key] for key in (
            "data", "command", "commit", "training_seconds", "machine", "scores")
            if key in member} for member in members]
    clf.set_params(verbose=0, validation_data=None)  # users' predictions print no progress bar
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    skmood.save(clf, args.out, metadata=metadata, include_optimizer=False)
    print(f"saved {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB) after "
          f"{seconds:.0f} s of training{' (its members)' if members else ''}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
