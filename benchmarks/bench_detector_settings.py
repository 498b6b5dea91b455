"""Would a more permissive MTCNN find more faces, and would that help accuracy?

A face the detector misses is classified whole, and the network does worse on
whole photos (``bench_robustness.py``). This script runs MTCNN with lower
stage thresholds and a smaller minimum face on web-happy-sad *train* photos
(a stratified subset; never ``val/``) and scores the crops with a model that
never saw those photos: the FER2013-only base of ``bench_finetune.py``
(``python scripts/train_pretrained.py --fer-only --out fer_only.skmood``).
The table gives, per setting, the share of photos with a face found,
accuracy overall, with a face and without, and detection speed. The settings
are passed to ``mtcnn``'s ``detect_faces``; skmood keeps mtcnn's defaults
(the first row) unless a row here beats them.

Run::

    python benchmarks/bench_detector_settings.py --base fer_only.skmood --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine  # noqa: E402
from bench_finetune import WEB, stratified  # noqa: E402
from bench_synthetic import markdown_table, publish  # noqa: E402

#: (name, keyword arguments of mtcnn's detect_faces, skmood's minimum face side in px).
SETTINGS = [
    ("mtcnn defaults (thresholds 0.6/0.7/0.8, min face 20 px)", {}, 24),
    ("output threshold 0.7", {"threshold_onet": 0.7}, 24),
    ("thresholds 0.6/0.6/0.6", {"threshold_rnet": 0.6, "threshold_onet": 0.6}, 24),
    ("thresholds 0.5/0.6/0.6",
     {"threshold_pnet": 0.5, "threshold_rnet": 0.6, "threshold_onet": 0.6}, 24),
    ("min face 12 px", {"min_face_size": 12}, 12),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="a model never trained on web photos")
    parser.add_argument("--n", type=int, default=800, help="web train photos (stratified)")
    parser.add_argument("--settings", default=None,
                        help="comma-separated row numbers to run (default: all)")
    parser.add_argument("--write", default=None)
    args = parser.parse_args(argv)

    import skmood
    import skmood._faces as faces
    from skmood import ImageLoader, load_image_folder

    X, y = load_image_folder(WEB / "train")
    idx = stratified(y, args.n, 3)
    X, y = X[idx], y[idx]
    images = list(ImageLoader(color_mode="rgb").transform(X))
    model = skmood.load(args.base).set_params(face_detector=None)
    detector = faces._mtcnn()
    detect_faces = detector.detect_faces
    chosen = (range(len(SETTINGS)) if args.settings is None
              else [int(i) for i in args.settings.split(",")])
    rows = []
    try:
        for i in chosen:
            name, kwargs, min_side = SETTINGS[i]
            detector.detect_faces = lambda batch, _kw=kwargs: detect_faces(batch, **_kw)
            finder = faces.FaceFinder(detector="mtcnn", min_face_size=min_side)
            start = time.perf_counter()
            boxes = finder.detect(images)  # batched by shape inside, MTCNN_BATCH at a time
            seconds = time.perf_counter() - start
            pred = model.predict(list(finder.crop(images, boxes)))
            found = np.array([box is not None for box in boxes])
            right = pred == y
            rows.append((name, float(found.mean()), float(right.mean()),
                         float(right[found].mean()), float(right[~found].mean()),
                         len(y) / seconds))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        detector.detect_faces = detect_faces
    header = (f"# bench_detector_settings: {len(y)} web-happy-sad train photos, "
              f"model {Path(args.base).name} (never trained on web photos); {machine()}")
    table = markdown_table(
        ["MTCNN setting", "face found", "accuracy", "with a face", "without", "detect img/s"],
        [(name, f"{found:.1%}", f"{acc:.3f}", f"{face:.3f}", f"{whole:.3f}", f"{speed:.1f}")
         for name, found, acc, face, whole, speed in rows])
    publish([header, *table], "bench_detector_settings",
            "python benchmarks/bench_detector_settings.py --base fer_only.skmood "
            "--write docs/benchmarks.md",
            args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
