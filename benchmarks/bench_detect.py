"""Face detection speed: MTCNN one image per call against batched calls.

``FaceCropper(detector="mtcnn")`` sends the images of one shape to MTCNN in
one call (up to ``MTCNN_BATCH``). This script times, in the same process and
on the same decoded images, one call per image (the former behaviour) against
:meth:`FaceCropper.detect_all`, and checks that both find the same boxes.
FER2013 faces all share one shape (48x48); web photos mostly differ, so they
gain little. Alternates the two ``--repeats`` times and keeps the best. Run::

    python benchmarks/bench_detect.py --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import DATA, machine  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

WEB = DATA.parent / "web-happy-sad"


def _images(folder: Path, n: int):
    import numpy as np

    from skmood import load_image_folder
    from skmood._image import read_image

    paths, _ = load_image_folder(folder)
    keep = np.random.default_rng(0).permutation(len(paths))[:n]
    return [read_image(p, color_mode="rgb") for p in paths[keep]]


def measure(images, repeats: int) -> dict:
    from skmood import FaceCropper

    cropper = FaceCropper(detector="mtcnn")
    cropper.detect_all(images[:2])  # load the detector, trace its functions
    single, batched = float("inf"), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        one = [cropper.detect_all([image])[0] for image in images]
        single = min(single, time.perf_counter() - start)
        start = time.perf_counter()
        many = cropper.detect_all(images)
        batched = min(batched, time.perf_counter() - start)
    same = sum(a == b for a, b in zip(one, many))
    return {"n": len(images), "single": len(images) / single, "batched": len(images) / batched,
            "same": same}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="images per data set")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--write", metavar="MD", help="write the table into this Markdown file")
    args = parser.parse_args(argv)
    sets = {"FER2013 val (48x48)": DATA / "val", "web photos val": WEB / "val"}
    lines = [f"Measured {machine()}; MTCNN, {args.n} images a set, best of {args.repeats}.", "",
             "| images | one call per image, img/s | batched, img/s | ratio | same boxes |",
             "|---|---:|---:|---:|---:|"]
    for name, folder in sets.items():
        if not folder.is_dir():
            print(f"no data at {folder}: skipped", file=sys.stderr)
            continue
        r = measure(_images(folder, args.n), args.repeats)
        lines.append(f"| {name} | {r['single']:.1f} | {r['batched']:.1f} | "
                     f"{r['batched'] / r['single']:.2f}x | {r['same']}/{r['n']} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "bench_detect", text, " ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
