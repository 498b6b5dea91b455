"""Training speed with and without skmood's reset of TensorFlow's malloc setting.

TensorFlow's ``from_generator`` datasets, through which Keras feeds every
``PyDataset`` (so every skmood fit), freeze glibc's mmap threshold at 128 KiB;
skmood resets it (``skmood/_malloc.py``). This script fits the recommended
configuration on synthetic 48x48 grayscale faces from paths, in fresh
processes alternating ``SKMOOD_MALLOC_TUNING=0`` (TensorFlow's setting left
alone) and the default, and prints training throughput and the CPU time spent
in the kernel (page faults). The first epoch (tracing, XLA compilation) is not
timed. Run::

    python benchmarks/bench_malloc.py --write docs/benchmarks.md
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine, run_child, speed_parser  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

CONDITIONS = {"tensorflow_setting": "0", "skmood_reset": "1"}


def child(folder: str, epochs: int) -> dict:
    from skmood import HappySadClassifier, load_image_folder, recommended_params

    paths, labels = load_image_folder(folder)
    clf = HappySadClassifier(**recommended_params(epochs=1, validation_split=0.0,
                                                  random_state=0, verbose=0))
    clf.fit(paths, labels)  # tracing and compilation, not timed
    clf.set_params(warm_start=True, epochs=epochs)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    clf.fit(paths, labels)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"train_img_s": epochs * len(paths) / wall, "wall_s": wall,
            "user_s": after.ru_utime - before.ru_utime,
            "sys_s": after.ru_stime - before.ru_stime,
            "page_faults": after.ru_minflt - before.ru_minflt}


def main(argv=None) -> int:
    args = speed_parser(__doc__, n_samples=2048).parse_args(argv)
    if args.child:
        with open(args.result, "w") as fh:
            json.dump(child(args.folder, args.epochs), fh)
        return 0

    from skmood.datasets import make_faces

    runs: dict[str, list[dict]] = {name: [] for name in CONDITIONS}
    with tempfile.TemporaryDirectory() as tmp:
        make_faces(args.n_samples, image_size=(48, 48), random_state=0, directory=tmp)
        for _ in range(args.repeats):
            for name, setting in CONDITIONS.items():
                os.environ["SKMOOD_MALLOC_TUNING"] = setting  # inherited by the child
                result = run_child(__file__, name, ["--folder", tmp, "--epochs",
                                                    str(args.epochs)])
                if result is None:
                    return 1
                runs[name].append(result)
    os.environ.pop("SKMOOD_MALLOC_TUNING")

    best = {name: max(r, key=lambda x: x["train_img_s"]) for name, r in runs.items()}
    lines = [
        f"# bench_malloc: recommended configuration, {args.n_samples} synthetic 48x48 gray "
        f"faces from paths, {args.epochs} timed epochs, best of {args.repeats}",
        f"# {machine()}",
        "| malloc thresholds | train img/s | kernel CPU s | user CPU s | page faults |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in best.items():
        lines.append(f"| {name} | {r['train_img_s']:.0f} | {r['sys_s']:.1f} | {r['user_s']:.1f} "
                     f"| {r['page_faults']:,} |")
    ratio = best["skmood_reset"]["train_img_s"] / best["tensorflow_setting"]["train_img_s"]
    every = "; ".join(f"{name} " + " / ".join(f"{r['train_img_s']:.0f}" for r in results)
                      for name, results in runs.items())
    lines.append(f"\nspeed-up from the reset: {ratio:.2f}x (every run, img/s: {every})")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "bench_malloc", text, " ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
