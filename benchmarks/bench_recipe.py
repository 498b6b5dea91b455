"""What each part of the recommended configuration buys, on FER2013 happy/sad.

Starting from ``skmood.recommended_params()``, each variant changes one
ingredient (augmentation, label smoothing, the cosine schedule, weight decay,
the network's width) and trains from scratch on ``train/`` of ``../shared/data/fer2013-happy-sad``
for the preset's schedule. It is scored on 10 % of ``train/`` held out (stratified,
the same images for every variant): the ``val/`` folder is not read, so that
choosing the recipe never looks at the images the final table reports on.
A second seed of the unchanged configuration shows the run-to-run noise.
Each variant runs in its own process. Run::

    python benchmarks/bench_recipe.py --write docs/benchmarks.md

(``--epochs`` changes the schedule of every variant; by default the preset's.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import DATA, have_data, machine, run_child  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

#: name -> (what it changes, parameters overriding the recommended ones)
VARIANTS = {
    "recommended": ("nothing (recommended_params)", {}),
    "seed_1": ("random_state=1 (noise)", {"random_state": 1}),
    "no_augmentation": ("no flip/rotation/zoom/shift",
                        {"horizontal_flip": False, "rotation": 0.0, "zoom": 0.0, "shift": 0.0}),
    "no_label_smoothing": ("label_smoothing=0", {"label_smoothing": 0.0}),
    "constant_lr": ("constant learning rate 1e-3", {"lr_schedule": "constant",
                                                     "learning_rate": 1e-3}),
    "no_weight_decay": ("weight_decay=0 (Adam)", {"weight_decay": 0.0}),
    "narrow_24": ("conv_filters=(24, 48, 96, 192)", {"conv_filters": (24, 48, 96, 192)}),
}


def run_variant(name: str, data: Path, epochs: int, limit: int | None) -> dict:
    from sklearn.model_selection import train_test_split

    from skmood import HappySadClassifier, load_image_folder, recommended_params

    paths, labels = load_image_folder(str(data / "train"))
    if limit:
        paths, _, labels, _ = train_test_split(paths, labels, train_size=limit,
                                               stratify=labels, random_state=0)
    fit_paths, held_paths, fit_labels, held_labels = train_test_split(
        paths, labels, test_size=0.1, stratify=labels, random_state=0)
    params = recommended_params(epochs=epochs, validation_split=0.0,
                                validation_data=(held_paths, held_labels), random_state=0)
    params.update(VARIANTS[name][1])
    clf = HappySadClassifier(**params)
    start = time.perf_counter()
    clf.fit(fit_paths, fit_labels)
    fit_s = time.perf_counter() - start
    plain = clf.score(held_paths, held_labels)  # what the final table will report, and
    flipped = clf.set_params(flip_averaging=True).score(held_paths, held_labels)  # with TTA
    return {"variant": name, "epochs": clf.n_iter_, "fit_s": fit_s,
            "train_img_s": clf.n_iter_ * len(fit_paths) / fit_s,
            "held_out_accuracy": float(clf.history_["val_accuracy"][-1]),
            "held_out_loss": float(clf.history_["val_loss"][-1]),
            "best_held_out_accuracy": float(max(clf.history_["val_accuracy"])),
            "held_out_accuracy_plain": float(plain),
            "held_out_accuracy_flip": float(flipped),
            "n_fit": len(fit_paths), "n_held_out": len(held_paths)}


def _flip_gain(result: dict) -> str:
    """Held-out accuracy gained by test-time flip averaging (same model), or "-"."""
    if "held_out_accuracy_flip" not in result:  # kept from a run before this column
        return "-"
    return f"{result['held_out_accuracy_flip'] - result['held_out_accuracy_plain']:+.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every variant (default: the preset's)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--limit", type=int, help="use this many training images (quick checks)")
    parser.add_argument("--write", metavar="MD")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="save each variant's figures in DIR as it ends; reuse those there")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; expected some of {list(VARIANTS)}")
    if not have_data(args.data):
        return 2
    if args.epochs is None:
        from skmood import recommended_params

        args.epochs = recommended_params()["epochs"]
    if args.child:
        with open(args.result, "w") as fh:
            json.dump(run_variant(args.child, args.data, args.epochs, args.limit), fh)
        return 0
    child_args = ["--data", str(args.data), "--epochs", str(args.epochs)]
    if args.limit:
        child_args += ["--limit", str(args.limit)]
    results = [r for name in args.variants.split(",")
               if (r := run_child(__file__, name, child_args, args.keep)) is not None]
    if not results:
        print("every variant failed", file=sys.stderr)
        return 1
    base = next((r for r in results if r["variant"] == "recommended"), None)
    lines = [f"{'variant':<20}{'changes':<30}{'held-out acc':>13}{'vs recommended':>16}"
             f"{'held-out loss':>14}{'flip avg':>9}{'train s':>9}{'img/s':>7}"]
    for r in results:
        delta = (f"{r['held_out_accuracy'] - base['held_out_accuracy']:+.3f}"
                 if base is not None else "-")
        lines.append(f"{r['variant']:<20}{VARIANTS[r['variant']][0]:<30}"
                     f"{r['held_out_accuracy']:>13.3f}{delta:>16}{r['held_out_loss']:>14.3f}"
                     f"{_flip_gain(r):>9}"
                     f"{r['fit_s']:>9.0f}{r['train_img_s']:>7.0f}")
    header = (f"{machine()}; {results[0]['epochs']} epochs each on {results[0]['n_fit']:,} "
              f"training images, scored on {results[0]['n_held_out']:,} held out of train/")
    text = header + "\n\n" + "\n".join(lines)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    if args.write:
        command = f"python benchmarks/bench_recipe.py --epochs {args.epochs}"
        if args.limit:
            command += f" --limit {args.limit}"
        if args.variants != ",".join(VARIANTS):
            command += f" --variants {args.variants}"
        write_section(args.write, "bench_recipe", text, command + " --write docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
