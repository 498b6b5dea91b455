"""Training speed in float32 and mixed bfloat16, with and without XLA.

The recommended network (``recommended_params()``, a VGG-style CNN on 48x48
grayscale faces) is fitted from paths in fresh processes, one per condition:
``precision`` in {float32, mixed_bfloat16} x ``jit_compile`` in {True, False},
alternated ``--repeats`` times (best kept). The data are FER2013 training faces
when ``../shared/data/fer2013-happy-sad`` exists, synthetic faces otherwise.
Decoded images are cached (``cache=True``), so the network's speed is what is
compared. The first epoch (tracing, compilation, cache filling) is not timed.
Run::

    python benchmarks/bench_precision.py --write docs/benchmarks.md
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import alternate_children, machine, speed_parser, subsample_folder  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

CONDITIONS = {
    "float32_xla": ("float32", True),
    "bfloat16_xla": ("mixed_bfloat16", True),
    "float32_graph": ("float32", False),
    "bfloat16_graph": ("mixed_bfloat16", False),
}


def child(folder: str, n_samples: int, epochs: int, precision: str, jit: bool) -> dict:
    from skmood import HappySadClassifier, recommended_params

    paths, labels = subsample_folder(folder, n_samples)
    clf = HappySadClassifier(**recommended_params(
        epochs=1, validation_split=0.0, random_state=0, verbose=0, precision=precision,
        jit_compile=jit, cache=True))
    clf.fit(paths, labels)  # tracing and compilation, not timed
    clf.set_params(warm_start=True, epochs=epochs)
    start = time.perf_counter()
    clf.fit(paths, labels)
    wall = time.perf_counter() - start
    policy = clf.model_.layers[1].dtype_policy.name
    return {"train_img_s": epochs * len(paths) / wall, "wall_s": wall, "policy": policy}


def main(argv=None) -> int:
    args = speed_parser(__doc__, n_samples=4096).parse_args(argv)
    if args.child:
        precision, jit = CONDITIONS[args.child]
        with open(args.result, "w") as fh:
            json.dump(child(args.folder, args.n_samples, args.epochs, precision, jit), fh)
        return 0

    measured = alternate_children(__file__, CONDITIONS, args)
    if measured is None:
        return 1
    runs, data = measured

    best = {name: max(r, key=lambda x: x["train_img_s"]) for name, r in runs.items()}
    base = best["float32_xla"]["train_img_s"]
    lines = [
        f"# bench_precision: recommended network, {data} from paths (cached), "
        f"{args.epochs} timed epochs, best of {args.repeats}",
        f"# {machine()}",
        "| precision | XLA | dtype policy | train img/s | vs float32 same XLA | "
        "vs float32 + XLA |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, (precision, jit) in CONDITIONS.items():
        r = best[name]
        same = best["float32_xla" if jit else "float32_graph"]["train_img_s"]
        lines.append(f"| {precision} | {'on' if jit else 'off'} | {r['policy']} | "
                     f"{r['train_img_s']:.0f} | {r['train_img_s'] / same:.2f}x | "
                     f"{r['train_img_s'] / base:.2f}x |")
    every = "; ".join(f"{name} " + " / ".join(f"{r['train_img_s']:.0f}" for r in results)
                      for name, results in runs.items())
    lines.append(f"\nevery run, img/s: {every}")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "bench_precision", text, " ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
