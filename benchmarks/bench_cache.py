"""Epoch time with and without the decoded-image cache (``cache=``).

The recommended configuration (``recommended_params()``) is fitted from paths
in fresh processes, alternating ``cache=False`` (every epoch decodes and
resizes every file again) and ``cache=True`` (decoded once per fit, reused by
the following epochs), ``--repeats`` times, best kept. The first epoch
(tracing, compilation, filling the cache) is not timed; the share of an epoch
that decoding took is the time the cache saves over the uncached epoch. Data:
FER2013 training faces when ``../shared/data/fer2013-happy-sad`` exists,
synthetic faces otherwise. Run::

    python benchmarks/bench_cache.py --write docs/benchmarks.md
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import alternate_children, machine, speed_parser, subsample_folder  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

CONDITIONS = {"streamed": False, "cached": True}


def child(folder: str, n_samples: int, epochs: int, cache: bool) -> dict:
    from skmood import HappySadClassifier, recommended_params

    paths, labels = subsample_folder(folder, n_samples)
    clf = HappySadClassifier(**recommended_params(
        epochs=1 + epochs, validation_split=0.0, random_state=0, verbose=0, cache=cache))
    ends: list[float] = []
    from skmood._keras_backend import epoch_end_callback

    clf.fit(paths, labels, callbacks=[epoch_end_callback(
        lambda epoch, logs: ends.append(time.perf_counter()))])
    timed = ends[-1] - ends[0]  # epochs 2.. (the first traces, compiles, fills the cache)
    return {"epoch_s": timed / epochs, "policy": clf.model_.layers[1].dtype_policy.name}


def main(argv=None) -> int:
    args = speed_parser(__doc__, n_samples=4096).parse_args(argv)
    if args.child:
        with open(args.result, "w") as fh:
            json.dump(child(args.folder, args.n_samples, args.epochs,
                            CONDITIONS[args.child]), fh)
        return 0

    measured = alternate_children(__file__, CONDITIONS, args)
    if measured is None:
        return 1
    runs, data = measured

    best = {name: min(r, key=lambda x: x["epoch_s"]) for name, r in runs.items()}
    streamed, cached = best["streamed"]["epoch_s"], best["cached"]["epoch_s"]
    lines = [
        f"# bench_cache: recommended configuration ({best['cached']['policy']}), {data} "
        f"from paths, {args.epochs} timed epochs after the first, best of {args.repeats}",
        f"# {machine()}",
        "| input pipeline | s per epoch | train img/s | peak RSS MB |",
        "|---|---:|---:|---:|",
    ]
    for name, r in best.items():
        lines.append(f"| {name} ({'cache=True' if CONDITIONS[name] else 'cache=False'}) | "
                     f"{r['epoch_s']:.1f} | {args.n_samples / r['epoch_s']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    lines.append(f"\ndecoding and resizing: {1 - cached / streamed:.0%} of a streamed epoch "
                 f"({streamed - cached:.1f} s of {streamed:.1f} s); the cache removes it "
                 f"after the first epoch ({streamed / cached:.2f}x per epoch)")
    every = "; ".join(f"{name} " + " / ".join(f"{r['epoch_s']:.1f} s" for r in results)
                      for name, results in runs.items())
    lines.append(f"every run: {every}")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "bench_cache", text, " ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
