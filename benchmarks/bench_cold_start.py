"""Cold start: ``skmood predict photo.jpg`` with and without the stored LiteRT conversion.

A model file in the safe format carries the LiteRT conversions of its network
that were made before it was saved (``litert-int8.tflite``); a process that
loads it predicts without converting again. This script times the whole
command in fresh processes (process start to answer) on one synthetic photo,
alternating two copies of the same model file: one as written by
``skmood.save`` after a prediction (with the conversion), one with the
conversion removed (as every file was before). Runs alternate so that a
change in machine load hits both rows alike; the ratio of the medians is the
result. A first untimed run warms the disk cache.

Run::

    python benchmarks/bench_cold_start.py --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine  # noqa: E402
from bench_synthetic import markdown_table, publish  # noqa: E402


def without_conversions(source: str, target: str) -> None:
    """Copy the model file ``source`` to ``target`` without its LiteRT conversions."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w",
                                                         zipfile.ZIP_DEFLATED) as zout:
        meta = json.loads(zin.read("skmood.json"))
        stored = {entry["file"] for entry in meta.pop("litert", [])}
        zout.writestr("skmood.json", json.dumps(meta, indent=1))
        for name in zin.namelist():
            if name not in stored and name != "skmood.json":
                zout.writestr(name, zin.read(name))


def cold_predict(model: str, photo: str) -> float:
    """Seconds from process start to answer of ``skmood predict --model MODEL PHOTO``."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "skmood", "predict", "--model", model, photo],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"skmood predict failed:\n{proc.stderr}")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None,
                        help="model file (default: the shipped pretrained model)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per file")
    parser.add_argument("--write", default=None, help="Markdown file to write the table into")
    args = parser.parse_args(argv)

    import numpy as np
    from PIL import Image

    import skmood
    from skmood._pretrained import pretrained_path

    source = args.model or pretrained_path()
    with tempfile.TemporaryDirectory(prefix="skmood-bench-") as tmp:
        photo = os.path.join(tmp, "photo.jpg")
        face = skmood.make_faces(1, image_size=(256, 256), random_state=0)[0][0]
        Image.fromarray(np.asarray(face)).save(photo)
        with_conv = os.path.join(tmp, "with.skmood")
        model = skmood.load(source)
        model.predict_proba(face[None])  # converts (the model's inference engine)
        info = skmood.read_info(source)
        skmood.save(model, with_conv, metadata=info.get("metadata"), include_optimizer=False)
        stored = [e["file"] for e in skmood.read_info(with_conv).get("litert", [])]
        if not stored:
            raise SystemExit(f"{source}: its inference={model.inference!r} makes no LiteRT "
                             "conversion to store; nothing to compare.")
        plain = os.path.join(tmp, "without.skmood")
        without_conversions(with_conv, plain)
        cold_predict(plain, photo)  # untimed: disk cache, byte-compiled modules
        times: dict[str, list[float]] = {"with": [], "without": []}
        load_before = os.getloadavg()
        for _ in range(args.repeats):
            times["without"].append(cold_predict(plain, photo))
            times["with"].append(cold_predict(with_conv, photo))
        load_after = os.getloadavg()
        sizes = {name: os.path.getsize(path) / 1e6 for name, path in
                 (("with", with_conv), ("without", plain))}

    med = {name: statistics.median(values) for name, values in times.items()}
    rows = [
        ("without the stored conversion (converted at first prediction)", f"{med['without']:.2f}",
         " ".join(f"{t:.1f}" for t in times["without"]), f"{sizes['without']:.1f}"),
        (f"with it ({', '.join(stored)})", f"{med['with']:.2f}",
         " ".join(f"{t:.1f}" for t in times["with"]), f"{sizes['with']:.1f}"),
    ]
    lines = [
        f"# bench_cold_start: `skmood predict --model FILE photo.jpg` in a fresh process, "
        f"{args.repeats} alternating runs per file; {machine()}",
        f"# model: {os.path.basename(source)} (inference={model.inference!r}); load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after",
        *markdown_table(["model file", "median s", "runs (s)", "file MB"], rows),
        "",
        f"with / without: {med['with'] / med['without']:.2f} of the time "
        f"({med['without'] - med['with']:.1f} s less per cold start)",
    ]
    command = "python benchmarks/bench_cold_start.py" + (" --write docs/benchmarks.md"
                                                         if args.write else "")
    publish(lines, "bench_cold_start", command, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
