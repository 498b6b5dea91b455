"""How much of the face should a prediction see? The crop margin of a fitted model.

``face_margin`` grows the detected face box by that fraction on each side
before the crop is resized for the network. The shipped model was trained
with 0.2; this script scores it, unchanged, with other margins at prediction
time, on the training images that ``scripts/train_pretrained.py`` holds out
(same seed, so images the model never trained on; FER2013 faces and web
photos apart), and with ``--val`` on both val splits, for the record only:
a margin is chosen on the held-out images, never on val.

Run::

    python benchmarks/bench_margin.py --val --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "scripts"))
from _driver import machine  # noqa: E402
from bench_synthetic import markdown_table, publish  # noqa: E402
from train_pretrained import SHARED, held_out_indices, image_folder  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None,
                        help="a model file made by scripts/train_pretrained.py (default: the "
                             "shipped one)")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    parser.add_argument("--val", action="store_true",
                        help="also score both val splits at each margin (for the record)")
    parser.add_argument("--write", default=None)
    args = parser.parse_args(argv)

    import skmood

    model = skmood.load(args.model) if args.model else skmood.load_pretrained()
    name = Path(args.model).name if args.model else "the shipped model"
    trained_with = model.face_margin
    fer_X, fer_y = image_folder(SHARED / "fer2013-happy-sad" / "train", model.random_state)
    web_X, web_y = image_folder(SHARED / "web-happy-sad" / "train", model.random_state)
    X, y = np.concatenate([fer_X, web_X]), np.concatenate([fer_y, web_y])
    is_web = np.r_[np.zeros(len(fer_X), bool), np.ones(len(web_X), bool)]
    held = held_out_indices(X, y, model.validation_split, model.random_state)
    X, y, is_web = X[held], y[held], is_web[held]
    val = {}
    if args.val:
        for key, folder in (("web", "web-happy-sad"), ("fer", "fer2013-happy-sad")):
            val[key] = skmood.load_image_folder(SHARED / folder / "val")

    rows = []
    for margin in args.margins:
        start = time.perf_counter()
        model.set_params(face_margin=margin)
        right = model.predict(X) == y
        row = [f"{margin:g}" + (" (trained with)" if margin == trained_with else ""),
               f"{right.mean():.3f}", f"{right[~is_web].mean():.3f}",
               f"{right[is_web].mean():.3f} ({right[is_web].sum()})"]
        for key in ("web", "fer") if args.val else ():
            Xv, yv = val[key]
            row.append(f"{np.mean(model.predict(Xv) == yv):.3f}")
        rows.append(row)
        print(" | ".join(row), f"({time.perf_counter() - start:.0f} s)", flush=True)
    header = (f"# bench_margin: {name} (face_margin {trained_with:g} in training) at other "
              f"margins; held-out training images: {len(held)} ({int(is_web.sum())} web "
              f"photos); {machine()}")
    columns = ["margin at prediction", "held-out all", "held-out FER2013",
               f"held-out web (right of {int(is_web.sum())})"]
    columns += ["val web (record)", "val FER2013 (record)"] if args.val else []
    command = ("python benchmarks/bench_margin.py" + (" --val" if args.val else "")
               + " --write docs/benchmarks.md")
    publish([header, *markdown_table(columns, rows)], "bench_margin", command, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
