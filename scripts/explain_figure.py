"""Make docs/_static/explain-synthetic.png: Grad-CAM maps of synthetic faces.

Trains the small VGG-style network of tests/test_explain.py (a few seconds on
a CPU), explains 12 new synthetic faces, draws each map over its face with the
mouth's box (where the class is drawn) in green, and prints the mouth
measurement of the test on 100 new faces. Synthetic faces only: the real data
sets beside the repository may not be copied into the docs.

    python scripts/explain_figure.py [--out docs/_static/explain-synthetic.png]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from PIL import Image, ImageDraw

from skmood import HappySadClassifier, make_faces, overlay_heatmap
from skmood.datasets._faces import make_faces_with_mouths

SIZE, TILE, COLUMNS = 32, 112, 6
OUT = os.path.join(os.path.dirname(__file__), "..", "docs", "_static", "explain-synthetic.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help="PNG file to write")
    args = parser.parse_args()
    start = time.perf_counter()
    X, y = make_faces(800, image_size=(SIZE, SIZE), random_state=0)
    clf = HappySadClassifier(architecture="vgg", image_size=(SIZE, SIZE),
                             conv_filters=(8, 16, 32), blocks_per_stage=1, batch_size=16,
                             epochs=6, learning_rate=3e-3, horizontal_flip=True,
                             random_state=0, precision="float32").fit(X, y)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    X_new, y_new, mouths = make_faces_with_mouths(100, image_size=(SIZE, SIZE), random_state=1)
    heat = clf.explain(X_new)
    proba = clf.predict_proba(X_new)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    inside = np.array([(xx >= a) & (xx <= c) & (yy >= b) & (yy <= d) for a, b, c, d in mouths])
    mean_in = np.array([h[m].mean() for h, m in zip(heat, inside)])
    mean_out = np.array([h[~m].mean() for h, m in zip(heat, inside)])
    print(f"accuracy {np.mean(clf.classes_[proba.argmax(1)] == y_new):.2f}; mean heat in the "
          f"mouth {mean_in.mean():.3f}, outside {mean_out.mean():.3f} (ratio "
          f"{mean_in.mean() / mean_out.mean():.2f}); hotter in the mouth for "
          f"{np.mean(mean_in > mean_out):.0%} of the faces")

    tiles = []
    for i in range(2 * COLUMNS):
        face = Image.fromarray(X_new[i]).resize((TILE, TILE), Image.Resampling.BICUBIC)
        overlay = Image.fromarray(overlay_heatmap(np.asarray(face), heat[i], alpha=0.5))
        tile = Image.new("RGB", (TILE, TILE + 18), "white")
        tile.paste(overlay, (0, 18))
        draw = ImageDraw.Draw(tile)
        k = TILE / SIZE
        x0, y0, x1, y1 = mouths[i]
        draw.rectangle([x0 * k, y0 * k + 18, x1 * k, y1 * k + 18], outline=(0, 220, 0), width=2)
        best = int(proba[i].argmax())
        draw.text((4, 3), f"{clf.classes_[best]} {proba[i][best]:.2f}", fill="black")
        tiles.append(np.asarray(tile))
    rows = [np.hstack(tiles[r * COLUMNS:(r + 1) * COLUMNS]) for r in range(2)]
    # A palette of 128 colours keeps the file small for the docs.
    Image.fromarray(np.vstack(rows)).quantize(128).save(args.out, optimize=True)
    print(f"wrote {os.path.normpath(args.out)} ({os.path.getsize(args.out) / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
