"""Fine-tuning on your own photos: how much it buys, and how many photos it needs.

A user's photos are new to the model they start from. To measure that
situation honestly the study starts from a model that has never seen a web
photo: the shipped recipe trained on FER2013 alone
(``python scripts/train_pretrained.py --fer-only --out fer_only.skmood``).
It then fine-tunes that model (``warm_start``) on ``n`` photos of
``../shared/data/web-happy-sad/train`` and scores ``web-happy-sad/val`` and
FER2013 ``val`` (never trained on, never used to choose):

1. *Choose on train*: 20 % of web train is held out (stratified, seeded); the
   base is fine-tuned on the other 80 % at each candidate learning rate, and
   the learning rate and epoch count with the best held-out accuracy are kept.
2. *Learning curve*: with that recipe, the base is fine-tuned on nested
   stratified subsets of web train (``--sizes``), each from the base again,
   and scored on both val splits, with its wall time.
3. The shipped model (``skmood.load_pretrained()``, which saw web train
   already) gets the same recipe on all of web train, for comparison.

Faces are found once (MTCNN, the models' own detector, on the photos decoded
in grey as the grayscale models decode them), their boxes kept in ``--boxes``
(a JSON file, reused by the next run), and the crops fed to a copy of each
model whose ``face_detector`` is off: the same pixels the in-model pipeline
crops (it has no crop jitter), without detecting again per fit.

Run::

    python benchmarks/bench_finetune.py --base fer_only.skmood --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine  # noqa: E402
from bench_synthetic import publish  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
WEB, FER = SHARED / "web-happy-sad", SHARED / "fer2013-happy-sad"
#: The models' colour mode: a grayscale model decodes, finds faces and crops in grey.
COLOR_MODE = "grayscale"


def face_boxes(paths, cache: Path | None) -> list:
    """MTCNN's largest face of each photo (None: none found), cached by file name."""
    from skmood import FaceCropper, ImageLoader

    known = json.loads(cache.read_text()) if cache and cache.exists() else {}
    todo = [p for p in paths if os.path.relpath(p, SHARED) not in known]
    cropper = FaceCropper(detector="mtcnn")
    for start in range(0, len(todo), 64):
        chunk = todo[start:start + 64]
        boxes = cropper.detect(ImageLoader(color_mode=COLOR_MODE).transform(chunk))
        known.update({os.path.relpath(p, SHARED): None if b is None else list(map(int, b))
                      for p, b in zip(chunk, boxes)})
        print(f"  faces found in {start + len(chunk)}/{len(todo)} photos", flush=True)
        if cache:
            cache.write_text(json.dumps(known))
    return [known[os.path.relpath(p, SHARED)] for p in paths]


def crops(paths, boxes) -> list[np.ndarray]:
    """Each photo's face with the models' margin (the whole photo without a face)."""
    from skmood import FaceCropper, ImageLoader

    cropper = FaceCropper(detector="mtcnn")
    out = []
    for path, box in zip(paths, boxes):
        image = ImageLoader(color_mode=COLOR_MODE).transform([path])[0]
        out.append(image if box is None else cropper.crop([image], [tuple(box)])[0])
    return out


def crop_model(load):
    """A fresh copy of a fitted model (``load()``) that takes face crops: detector off."""
    return load().set_params(face_detector=None)


def finetune(load, X, y, learning_rate: float, epochs: int, validation=None, seed: int = 0):
    """A fresh copy of ``load()`` trained ``epochs`` more epochs on face crops ``X``."""
    model = crop_model(load)
    model.set_params(warm_start=True, epochs=epochs, learning_rate=learning_rate,
                     lr_schedule="constant", validation_split=0.0, validation_data=validation,
                     early_stopping=False, random_state=seed, verbose=0)
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def stratified(y, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` items with the class shares of ``y`` (nested as n grows)."""
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)])
    ranks = np.empty(len(y))
    for c in np.unique(y):  # interleave the classes by rank within each class
        members = order[np.isin(order, np.flatnonzero(y == c))]
        ranks[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.sort(np.argsort(ranks, kind="stable")[:n])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="a model that never saw a web photo")
    parser.add_argument("--boxes", default=None, help="JSON file caching the face boxes")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3])
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[125, 250, 500, 1000, 1965])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", default=None)
    args = parser.parse_args(argv)

    import skmood
    from skmood import load_image_folder

    print(machine(), flush=True)
    train_X, train_y = load_image_folder(WEB / "train")
    val_X, val_y = load_image_folder(WEB / "val")
    fer_X, fer_y = load_image_folder(FER / "val")
    cache = Path(args.boxes) if args.boxes else None
    print("finding faces (MTCNN, once)", flush=True)
    train_c = crops(train_X, face_boxes(train_X, cache))
    val_c = crops(val_X, face_boxes(val_X, cache))

    def scores(model) -> tuple[float, float]:
        web = float(np.mean(model.predict(val_c) == val_y))
        return web, float(np.mean(model.predict(fer_X) == fer_y))

    def load_base():
        return skmood.load(args.base)

    base = crop_model(load_base)
    rows = [("base (FER2013 only), no fine-tuning", 0, "", "", *scores(base))]
    print(rows[-1], flush=True)

    # 1. Choose the learning rate and the epochs on held-out web *train* photos.
    held = stratified(train_y, len(train_y) // 5, args.seed + 1)
    fit_idx = np.setdiff1d(np.arange(len(train_y)), held)
    held_c, held_y = [train_c[i] for i in held], train_y[held]
    choice, trials = None, []
    for lr in args.learning_rates:
        model, seconds = finetune(load_base, [train_c[i] for i in fit_idx], train_y[fit_idx], lr,
                                  args.max_epochs, validation=(held_c, held_y), seed=args.seed)
        curve = model.history_["val_accuracy"][-args.max_epochs:]
        best = int(np.argmax(curve))
        trials.append((lr, [round(float(a), 3) for a in curve], seconds))
        print(f"lr {lr:g}: held-out accuracy by epoch {trials[-1][1]} ({seconds:.0f} s)",
              flush=True)
        if choice is None or curve[best] > choice[2]:
            choice = (lr, best + 1, float(curve[best]))
    lr, epochs, held_acc = choice
    base_held = float(np.mean(base.predict(held_c) == held_y))

    # 2. The learning curve, each size from the base again.
    for n in args.sizes:
        idx = stratified(train_y, min(n, len(train_y)), args.seed)
        model, seconds = finetune(load_base, [train_c[i] for i in idx], train_y[idx], lr, epochs,
                                  seed=args.seed)
        rows.append((f"base + fine-tuning on {len(idx):,} web photos", len(idx),
                     f"{seconds:.0f}", f"{epochs}", *scores(model)))
        print(rows[-1], flush=True)

    # 3. The shipped model (web train seen already) with the same recipe.
    shipped = crop_model(skmood.load_pretrained)
    rows.append(("shipped model, no fine-tuning", 0, "", "", *scores(shipped)))
    model, seconds = finetune(skmood.load_pretrained, train_c, train_y, lr, epochs, seed=args.seed)
    rows.append((f"shipped model + fine-tuning on {len(train_y):,} web photos", len(train_y),
                 f"{seconds:.0f}", f"{epochs}", *scores(model)))

    lines = [f"# bench_finetune: fine-tuning on web photos new to the model; {machine()}",
             f"# base: {os.path.basename(args.base)} ({base.get_params()['epochs']} epochs "
             "on FER2013 train)",
             f"# recipe chosen on 20 % of web train held out ({len(held)} photos; base "
             f"{base_held:.3f} there): learning rate {lr:g}, {epochs} epochs, constant "
             f"(held-out accuracy {held_acc:.3f})"]
    for trial_lr, curve, seconds in trials:
        lines.append(f"#   lr {trial_lr:g}: held-out accuracy after each epoch {curve}")
    lines += ["| model | web photos | fine-tuning s | epochs | web-happy-sad val | FER2013 val |",
              "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {n:,} | {s} | {e} | {w:.3f} | {f:.3f} |"
              for name, n, s, e, w, f in rows]
    publish(lines, "bench_finetune",
            "python benchmarks/bench_finetune.py --base fer_only.skmood "
            "--boxes boxes.json --write docs/benchmarks.md",
            args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
