"""Figures of the evaluation report for the documentation, from the real FER data.

Writes ``skmood.evaluation_report`` of a model (default: skmood's pretrained
model) on FER2013's ``val/`` folder into a temporary folder, then copies the
figures -- not the gallery of mistakes: FER2013's faces stay out of the
repository -- to ``docs/_static/report/``, re-encoded as small palette PNGs.
Prints the metrics and what it wrote. ``make report-figures`` runs it::

    python scripts/report_figures.py [--data ../shared/data/fer2013-happy-sad/val]
        [--model pretrained] [--out docs/_static/report]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "fer2013-happy-sad", "val")
#: The report's figures copied to the docs (the mistakes' thumbnails are not).
FIGURES = ("confusion_matrix.png", "roc_curve.png", "precision_recall.png", "reliability.png",
           "coverage.png", "training_curves.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA, help="labelled folder (default: FER val/)")
    parser.add_argument("--model", default="pretrained",
                        help="model file, or 'pretrained' (default)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "_static", "report"))
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        print(f"report_figures: no data at {args.data!r} (see ../shared/data/README)",
              file=sys.stderr)
        return 1

    import skmood
    from PIL import Image

    model = (skmood.load_pretrained() if args.model == "pretrained"
             else skmood.load(args.model, allow_pickle=True))
    X, y = skmood.load_image_folder(args.data)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="skmood-report-") as tmp:
        report = skmood.evaluation_report(model, X, y, tmp, max_mistakes=0)
        seconds = time.perf_counter() - start
        os.makedirs(args.out, exist_ok=True)
        for name in FIGURES:
            source = os.path.join(tmp, name)
            if not os.path.exists(source):
                continue
            target = os.path.join(args.out, name)
            with Image.open(source) as image:  # 256 colours are plenty for line plots
                image.convert("RGB").quantize(256).save(target, optimize=True)
            print(f"wrote {os.path.relpath(target, ROOT)} ({os.path.getsize(target) // 1024} kB)")
        shutil.rmtree(tmp, ignore_errors=True)
    keys = ("n_images", "accuracy", "balanced_accuracy", "roc_auc", "average_precision",
            "log_loss", "brier_score")
    print(json.dumps({"model": args.model, "data": os.path.relpath(args.data, ROOT),
                      "seconds": round(seconds, 1), **{k: report[k] for k in keys},
                      "coverage": report["coverage"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
