"""Speed of the default model on synthetic faces, against plain Keras in the same run.

Writes N synthetic faces (default 1,000 at 128x128 RGB, the recipe's size) as
PNG files, then measures on this machine, in one process:

* ``keras``: the same network (``skmood.models.build_cnn``) compiled and fitted
  directly with ``keras.Model.fit`` on the same streaming input pipeline
  (``skmood``'s PyDataset over file paths): the baseline.
* ``skmood``: ``HappySadClassifier()`` with default parameters on the paths.

It prints training and prediction throughput (images/s, decode included) and
the wrapper's overhead as a ratio against the baseline. Run::

    python benchmarks/bench_synthetic.py [--n-samples 1000] [--epochs 2] \
        [--write docs/benchmarks.md]

With ``--write``, the printed section replaces the block between the
``<!-- bench_synthetic:start -->`` and ``<!-- bench_synthetic:end -->``
markers of that Markdown file (appended when the markers are absent).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def keras_baseline(paths, y_enc, *, image_size, epochs, batch_size, seed):
    """Plain Keras: same builder, same optimizer, same streaming dataset."""
    import keras

    from skmood._sequence import ImageSequence
    from skmood._validation import check_images
    from skmood.models import build_cnn

    start = time.perf_counter()  # build + compile + fit, as HappySadClassifier.fit does
    keras.utils.set_random_seed(seed)
    model = build_cnn((*image_size, 3))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    data = check_images(paths, "bench")
    train = ImageSequence(data, image_size=image_size, color_mode="rgb", y=y_enc,
                          batch_size=batch_size, shuffle=True, seed=seed, workers=2)
    model.fit(train, epochs=epochs, verbose=0)
    fit_s = time.perf_counter() - start
    test = ImageSequence(data, image_size=image_size, color_mode="rgb", batch_size=256,
                         workers=2)
    start = time.perf_counter()
    model.predict(test, verbose=0)
    return fit_s, time.perf_counter() - start


def skmood_default(paths, labels, *, epochs, seed):
    from skmood import HappySadClassifier

    clf = HappySadClassifier(epochs=epochs, random_state=seed)
    start = time.perf_counter()
    clf.fit(paths, labels)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    clf.predict_proba(paths)
    return fit_s, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--image-size", type=int, nargs=2, default=(128, 128))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--write", metavar="MARKDOWN",
                        help="also write the results into this Markdown file")
    parser.add_argument("--repeats", type=int, default=2,
                        help="alternate baseline and skmood this many times; best time kept")
    args = parser.parse_args(argv)

    from skmood.datasets import make_faces

    size = tuple(args.image_size)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths, labels = make_faces(args.n_samples, image_size=size, random_state=0,
                                   directory=tmp)
        gen_s = time.perf_counter() - start
        y_enc = (labels == "sad").astype(np.int64)
        results = {"keras": [], "skmood": []}
        # Warm-up (TensorFlow start, graph tracing) outside the timings.
        keras_baseline(paths[:64], y_enc[:64], image_size=size, epochs=1, batch_size=32, seed=0)
        for _ in range(args.repeats):
            results["keras"].append(keras_baseline(paths, y_enc, image_size=size,
                                                   epochs=args.epochs, batch_size=32, seed=0))
            results["skmood"].append(skmood_default(paths, labels, epochs=args.epochs, seed=0))

    n = args.n_samples
    lines = []
    print = lines.append  # noqa: A001  (collected, then printed and written)
    print(f"# bench_synthetic: {n} synthetic faces {size[0]}x{size[1]} RGB PNG, "
          f"{args.epochs} epochs, best of {args.repeats}")
    print(f"# {time.strftime('%Y-%m-%d')}, {platform.platform()}, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}; faces generated in {gen_s:.1f} s")
    print("| model | fit s | train images/s | predict s | predict images/s (decode incl.) |")
    print("|---|---:|---:|---:|---:|")
    best = {}
    for name, runs in results.items():
        fit_s = min(r[0] for r in runs)
        pred_s = min(r[1] for r in runs)
        best[name] = (fit_s, pred_s)
        print(f"| {name} | {fit_s:.1f} | {n * args.epochs / fit_s:.0f} | {pred_s:.2f} | "
              f"{n / pred_s:.0f} |")
    overhead = best["skmood"][0] / best["keras"][0] - 1
    print(f"\nwrapper fit overhead vs plain Keras: {overhead:+.1%} "
          f"(predict: {best['skmood'][1] / best['keras'][1] - 1:+.1%})")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    if args.write:
        write_section(args.write, "bench_synthetic", text, " ".join(["python", *sys.argv]))
    return 0


def markdown_table(columns: list[str], rows) -> list[str]:
    """The lines of a Markdown table: the first column left-aligned, the others right."""
    lines = ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def publish(lines: list[str], name: str, command: str, path: str | None) -> str:
    """Print a result table and, given a Markdown ``path``, write it as section ``name``."""
    table = "\n".join(lines)
    print(table)
    if path:
        write_section(path, name, table, command)
    return table


def write_section(path: str, name: str, text: str, command: str) -> None:
    """Replace (or append) the marked ``name`` section of a Markdown file."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\nCommand: `{command}`\n\n```text\n{text}\n```\n{end}"
    try:
        with open(path, encoding="utf-8") as fh:
            doc = fh.read()
    except FileNotFoundError:
        doc = "# Benchmarks\n"
    if start in doc and end in doc:
        doc = doc[: doc.index(start)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc)


if __name__ == "__main__":
    sys.exit(main())
