"""Real photos, degraded: how the shipped model copes with what users' photos go through.

Each photo of ``../shared/data/web-happy-sad/val`` is degraded one way (grey,
thumbnail, upscaled to 12 megapixels, blur, JPEG artefacts, dark, bright, low
contrast), written to a file as a user would have it, and predicted from its
path by ``skmood.load_pretrained()`` (its own detector finds the face in the
degraded photo). The table gives accuracy, its change against the photos as
they are, and the share of photos where a face was found (speed: see
``bench_photos.py``). Nothing
is trained or chosen here: this measures where the model is fragile, so that
augmentations are added where it is, not by guess.

Run::

    python benchmarks/bench_robustness.py --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine  # noqa: E402
from bench_synthetic import publish  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
WEB = SHARED / "web-happy-sad"


def _resize_longest(image, side: int):
    from PIL import Image

    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _megapixels(image, mp: float):
    from PIL import Image

    scale = (mp * 1e6 / (image.width * image.height)) ** 0.5
    return image.resize((round(image.width * scale), round(image.height * scale)),
                        Image.Resampling.BICUBIC)


def degradations() -> dict:
    """Name -> (function of a PIL RGB image, file suffix, JPEG quality or None)."""
    from PIL import ImageEnhance, ImageFilter

    return {
        "as is": (lambda im: im, ".png", None),
        "grey (one channel)": (lambda im: im.convert("L"), ".png", None),
        "thumbnail, longest side 64 px": (lambda im: _resize_longest(im, 64), ".png", None),
        "upscaled to 12 megapixels": (lambda im: _megapixels(im, 12), ".jpg", 92),
        "blur, radius 1 % of the longest side": (
            lambda im: im.filter(ImageFilter.GaussianBlur(max(im.size) / 100)), ".png", None),
        "JPEG quality 10": (lambda im: im, ".jpg", 10),
        "dark (brightness x0.4)": (lambda im: ImageEnhance.Brightness(im).enhance(0.4),
                                   ".png", None),
        "bright (brightness x1.8)": (lambda im: ImageEnhance.Brightness(im).enhance(1.8),
                                     ".png", None),
        "low contrast (x0.4)": (lambda im: ImageEnhance.Contrast(im).enhance(0.4),
                                ".png", None),
    }


def write_degraded(paths, fn, suffix: str, quality, folder: str) -> list[str]:
    from PIL import Image, ImageOps

    out = []
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            image = fn(ImageOps.exif_transpose(im).convert("RGB"))
        target = os.path.join(folder, f"{i:04d}{suffix}")
        image.save(target, **({"quality": quality} if quality else {}))
        out.append(target)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-large", type=int, default=100,
                        help="photos upscaled to 12 megapixels (every k-th of val)")
    parser.add_argument("--write", default=None)
    args = parser.parse_args(argv)

    from skmood import load_image_folder, load_pretrained, predict_faces

    X, y = load_image_folder(WEB / "val")
    model = load_pretrained()
    model.predict(X[:2])  # warm up: network, detector
    rows, base = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (fn, suffix, quality) in degradations().items():
            # The 12-megapixel files are large: every k-th photo, both classes alike.
            step = -(-len(X) // args.n_large) if "12 megapixels" in name else 1
            pick = np.arange(0, len(X), step)
            folder = os.path.join(tmp, str(len(rows)))
            os.makedirs(folder)
            files = write_degraded(X[pick], fn, suffix, quality, folder)
            proba, boxes, _ = predict_faces(model, files)
            correct = model.classes_[proba.argmax(1)] == y[pick]
            found = np.array([b is not None for b in boxes])
            if name == "as is":
                base = {"correct": correct, "found": found}
            rows.append((name, len(pick), float(np.mean(correct)),
                         float(np.mean(correct) - np.mean(base["correct"][pick])),
                         float(np.mean(found)), float(np.mean(base["found"][pick]))))
            print(rows[-1], flush=True)
    lines = [f"# bench_robustness: shipped model on degraded web-happy-sad val photos; "
             f"{machine()}",
             "| photos | n | accuracy | vs as is (same photos) | face found | as is |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {n} | {acc:.3f} | {delta:+.3f} | {found:.0%} | {ref:.0%} |"
              for name, n, acc, delta, found, ref in rows]
    found, correct = base["found"], base["correct"]
    lines.append(f"\nas is, by whether the detector found a face: {found.sum()} photos with a "
                 f"face {np.mean(correct[found]):.3f}, {(~found).sum()} without "
                 f"{np.mean(correct[~found]):.3f} (classified whole)")
    publish(lines, "bench_robustness",
            "python benchmarks/bench_robustness.py --write docs/benchmarks.md",
            args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
