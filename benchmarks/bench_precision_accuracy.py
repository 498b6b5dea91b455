"""Held-out accuracy of mixed bfloat16 against float32 training, over two seeds.

``bench_precision.py`` measures how much faster ``precision="mixed_bfloat16"``
trains; this script measures what it costs in accuracy. The recommended
configuration (``recommended_params()``, XLA on, decoded images cached) is
fitted on all of FER2013 ``train/`` for ``--epochs`` epochs (the cosine
schedule shortened to that length) in fresh processes, one per precision and
seed; the score is the accuracy on the 10 % of ``train/`` that the
classifier holds out (``validation_split=0.1``: the same faces for both
precisions of a seed). ``val/`` is not used. Run::

    python benchmarks/bench_precision_accuracy.py --keep runs/ --write docs/benchmarks.md

``--keep DIR`` keeps each fit's figures as it ends, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import DATA, child_options, have_data, machine, run_child  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16")


def child(folder: str, epochs: int, precision: str, seed: int) -> dict:
    from skmood import HappySadClassifier, load_image_folder, recommended_params

    paths, labels = load_image_folder(folder)
    clf = HappySadClassifier(**recommended_params(
        epochs=epochs, random_state=seed, verbose=0, precision=precision, cache=True))
    start = time.perf_counter()
    clf.fit(paths, labels)
    wall = time.perf_counter() - start
    return {"held_out_accuracy": float(clf.history_["val_accuracy"][-1]),
            "held_out_n": int(round(0.1 * len(paths))), "wall_s": wall,
            "policy": clf.model_.layers[1].dtype_policy.name}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each fit's figures here; reuse those already there")
    parser.add_argument("--write", metavar="MARKDOWN")
    args = child_options(parser).parse_args(argv)
    if args.child:
        precision, seed = args.child.rsplit("-seed", 1)
        with open(args.result, "w") as fh:
            json.dump(child(args.folder, args.epochs, precision, int(seed)), fh)
        return 0
    if not have_data(DATA):
        return 1

    runs: dict[tuple[str, int], dict] = {}
    for seed in args.seeds:
        for precision in PRECISIONS:
            name = f"{precision}-seed{seed}"
            keep = args.keep / f"e{args.epochs}" if args.keep else None
            result = run_child(__file__, name, ["--folder", str(DATA / "train"),
                                                "--epochs", str(args.epochs)], keep=keep)
            if result is None:
                return 1
            runs[precision, seed] = result

    lines = [
        f"# bench_precision_accuracy: recommended configuration, {args.epochs} epochs on "
        f"FER2013 train, accuracy on its held-out 10 % "
        f"({runs[PRECISIONS[0], args.seeds[0]]['held_out_n']} faces); val/ not used",
        f"# {machine()}",
        "| precision | " + " | ".join(f"seed {s}" for s in args.seeds)
        + " | mean | train s (mean) |",
        "|---|" + "---:|" * (len(args.seeds) + 2),
    ]
    means = {}
    for precision in PRECISIONS:
        scores = [runs[precision, s]["held_out_accuracy"] for s in args.seeds]
        means[precision] = sum(scores) / len(scores)
        wall = sum(runs[precision, s]["wall_s"] for s in args.seeds) / len(args.seeds)
        lines.append(f"| {precision} | " + " | ".join(f"{v:.4f}" for v in scores)
                     + f" | {means[precision]:.4f} | {wall:.0f} |")
    diff = means["mixed_bfloat16"] - means["float32"]
    per_seed = [runs["mixed_bfloat16", s]["held_out_accuracy"]
                - runs["float32", s]["held_out_accuracy"] for s in args.seeds]
    lines.append(f"\nbfloat16 minus float32: mean {diff:+.4f}; per seed "
                 + ", ".join(f"{d:+.4f}" for d in per_seed)
                 + f" (target: within 0.003 -> {'met' if abs(diff) <= 0.003 else 'not met'})")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "bench_precision_accuracy", text,
                      " ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
