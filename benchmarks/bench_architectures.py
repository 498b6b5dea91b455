"""Every architecture from scratch on FER2013 happy/sad, at an equal training-time budget.

Each network of ``HappySadClassifier`` (``architecture=`` seed, vgg, resnet,
inception; ``backbone=`` mobilenetv2, efficientnetb0, resnet50, inceptionv3
with random weights) trains on ``train/`` of ``../shared/data/fer2013-happy-sad``
for the same wall-clock budget (training stops after the batch that crosses it),
with the same recipe: 48x48 grayscale (75x75 for inceptionv3, its minimum),
Adam 1e-3, batch 64, mirror augmentation, default widths (the recommended
configuration's widths for vgg). It then reports
validation accuracy on ``val/``, epochs done, parameters, model file size
(skmood's safe format) and prediction throughput from file paths (decode
included). Each network runs in its own process. Run::

    python benchmarks/bench_architectures.py --budget 150 --write docs/benchmarks.md
    python benchmarks/bench_architectures.py --budget 600 --networks seed,vgg,resnet,inception \
        --section bench_architectures_long --write docs/benchmarks.md

A short budget favours networks that learn fast per second; the recommended
configuration (``bench_real_faces.py``) shows what a full run reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import DATA, have_data, machine, run_child  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

NETWORKS = {
    "seed": {"architecture": "seed"},
    "vgg": {"architecture": "vgg"},  # default widths 32-256, two convolutions per stage
    "resnet": {"architecture": "resnet"},
    "inception": {"architecture": "inception"},
    "mobilenetv2": {"backbone": "mobilenetv2"},
    "efficientnetb0": {"backbone": "efficientnetb0"},
    "resnet50": {"backbone": "resnet50"},
    "inceptionv3": {"backbone": "inceptionv3", "image_size": (75, 75)},
}


def run_network(name: str, data: Path, budget: float) -> dict:
    import keras
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    from skmood import HappySadClassifier, load_image_folder, save

    class TimeBudget(keras.callbacks.Callback):
        """Stop after the batch that crosses ``budget`` seconds; count images seen."""

        def on_train_begin(self, logs=None):
            self.start, self.batches = time.perf_counter(), 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if time.perf_counter() - self.start >= budget:
                self.model.stop_training = True

    train_paths, train_labels = load_image_folder(str(data / "train"))
    val_paths, val_labels = load_image_folder(str(data / "val"))
    params = {"image_size": (48, 48), "color_mode": "grayscale", "horizontal_flip": True,
              "learning_rate": 1e-3, "batch_size": 64, "epochs": 1000, "random_state": 0,
              **NETWORKS[name]}
    clf = HappySadClassifier(**params)
    timer = TimeBudget()
    start = time.perf_counter()
    clf.fit(train_paths, train_labels, callbacks=[timer])
    fit_s = time.perf_counter() - start
    pred = clf.predict(val_paths)
    many = np.tile(np.asarray(val_paths, dtype=object), 2)
    clf.predict_proba(many[:256])  # warm up
    start = time.perf_counter()
    clf.predict_proba(many)
    predict_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        save(clf, os.path.join(tmp, "m.skmood"))
        file_mb = os.path.getsize(os.path.join(tmp, "m.skmood")) / 1e6
    return {
        "network": name, "image_size": list(clf.image_size),
        "params": clf.model_.count_params(), "fit_s": fit_s,
        "epochs": timer.batches * 64 / len(train_paths),
        "accuracy": accuracy_score(val_labels, pred),
        "balanced_accuracy": balanced_accuracy_score(val_labels, pred),
        "file_mb": file_mb, "predict_img_s": len(many) / predict_s,
    }


def _count(folder: Path) -> int:
    from skmood import load_image_folder

    return len(load_image_folder(str(folder))[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--budget", type=float, default=150.0, help="training seconds each")
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--write", metavar="MD")
    parser.add_argument("--section", default="bench_architectures",
                        help="name of the marked block that --write replaces")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="save each network's figures in DIR as it ends; reuse those there")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not have_data(args.data):
        return 2
    if args.child:
        with open(args.result, "w") as fh:
            json.dump(run_network(args.child, args.data, args.budget), fh)
        return 0
    child_args = ["--data", str(args.data), "--budget", str(args.budget)]
    results = [r for name in args.networks.split(",")
               if (r := run_child(__file__, name, child_args, args.keep)) is not None]
    if not results:
        print("every network failed", file=sys.stderr)
        return 1
    lines = [f"{'network':<16}{'input':>7}{'params':>12}{'epochs':>8}{'val acc':>9}"
             f"{'bal acc':>9}{'file MB':>9}{'predict img/s':>15}"]
    for r in results:
        lines.append(f"{r['network']:<16}{r['image_size'][0]:>7}{r['params']:>12,}"
                     f"{r['epochs']:>8.2f}{r['accuracy']:>9.3f}{r['balanced_accuracy']:>9.3f}"
                     f"{r['file_mb']:>9.1f}{r['predict_img_s']:>15.0f}")
    header = (f"{machine()}; training budget {args.budget:.0f} s each "
              f"(wall time incl. the input pipeline); val {_count(args.data / 'val'):,} images")
    text = header + "\n\n" + "\n".join(lines)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    if args.write:
        command = f"python benchmarks/bench_architectures.py --budget {args.budget:.0f}"
        if args.networks != parser.get_default("networks"):
            command += f" --networks {args.networks}"
        if args.section != parser.get_default("section"):
            command += f" --section {args.section}"
        write_section(args.write, args.section, text, command + " --write docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
