"""Scaling out on one machine: grid search and batch prediction, in one process and on Dask.

(a) An 8-candidate grid search (2 widths x 2 dropouts x 2 learning rates,
2-fold: 16 fits, then no refit; 256 faces) on synthetic 48x48 grayscale faces from
paths: ``n_jobs=1`` in this process against joblib's Dask backend on a
``LocalCluster`` of 2 single-threaded worker processes (TensorFlow sized to 1
thread each by ``configure_tensorflow_threads``; Dask's worker profiler off,
and once more on, its default), and, with ``--ray``,
against Ray's joblib backend on 2 CPUs. (b) Batch prediction of 20,000 image
files: ``predict_proba`` in this process against
``skmood.distributed.predict_paths`` on the same 2 workers, the first run
(workers start TensorFlow and convert the network to LiteRT) and a second one.
Cluster start-up is timed apart. Every condition runs ``--repeats`` times
(default 2), alternating, and the best run counts; ratios are measured in the
same run. Other work on the machine shifts all of them: every run and the
load averages are printed.
Run::

    python benchmarks/bench_distributed.py --write docs/benchmarks.md

Dask's ``LocalCluster(processes=True)`` starts its workers by re-importing
this script: everything runs under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

GRID = {"conv_filters": [(8, 16), (16, 32)], "dropout": [0.0, 0.25],
        "learning_rate": [1e-3, 3e-3]}


def _classifier():
    from skmood import HappySadClassifier

    return HappySadClassifier(image_size=(48, 48), color_mode="grayscale", dense_units=32,
                              epochs=2, batch_size=32, random_state=0, precision="float32",
                              inference="auto")


def _relative_difference(search, reference) -> float:
    """Largest relative difference between two searches' mean test scores."""
    import numpy as np

    a, b = (np.asarray(s.cv_results_["mean_test_score"]) for s in (search, reference))
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _search(paths, labels, **kwargs):
    from sklearn.model_selection import GridSearchCV

    start = time.perf_counter()
    search = GridSearchCV(_classifier(), GRID, cv=2, scoring="neg_log_loss", refit=False,
                          error_score="raise", **kwargs).fit(paths, labels)
    return time.perf_counter() - start, search


def _peak_rss_mb() -> float:
    """On a worker: its peak resident memory, in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


@contextlib.contextmanager
def _dask(profiler: bool):
    """A client of a new LocalCluster of 2 single-threaded workers, TensorFlow on 1 thread."""
    import dask
    from distributed import Client, LocalCluster

    from skmood.distributed import configure_tensorflow_threads

    with dask.config.set({"distributed.worker.profile.enabled": profiler}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        configure_tensorflow_threads(client)
        yield client


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-grid", type=int, default=256, help="images of the grid search")
    parser.add_argument("--n-predict", type=int, default=20_000, help="images to predict")
    parser.add_argument("--repeats", type=int, default=2,
                        help="run every condition this many times, alternating; best kept")
    parser.add_argument("--ray", action="store_true", help="also run the grid search on Ray")
    parser.add_argument("--write", metavar="MARKDOWN")
    args = parser.parse_args(argv)

    import joblib
    import numpy as np

    from skmood.datasets import make_faces
    from skmood.distributed import predict_paths, worker_env

    lines = [f"# bench_distributed: {args.n_grid} faces for an 8-candidate 2-fold grid search "
             f"(16 fits of 2 epochs), {args.n_predict:,} files to predict; 48x48 gray; "
             f"best of {args.repeats}",
             f"# {machine()}; load averages (1/5/15 min) at start {_load()}"]
    times: dict[str, list[float]] = {}
    starts: dict[str, list[float]] = {}
    diffs: dict[str, float] = {}

    def note(name: str, seconds: float) -> None:
        times.setdefault(name, []).append(seconds)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {seconds:.1f} s (load {_load()})",
              flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths, labels = make_faces(args.n_predict, image_size=(48, 48), color_mode="grayscale",
                                   random_state=0, directory=tmp)
        print(f"wrote {len(paths)} faces in {time.perf_counter() - t0:.0f} s", flush=True)
        pick = np.random.default_rng(0).permutation(len(paths))[:args.n_grid]
        grid_paths, grid_labels = paths[pick], labels[pick]
        clf = _classifier().set_params(epochs=1).fit(grid_paths, grid_labels)

        for _ in range(args.repeats):
            seconds, local = _search(grid_paths, grid_labels)
            note("search_local", seconds)
            t0 = time.perf_counter()
            proba = clf.predict_proba(paths)
            note("predict_local", time.perf_counter() - t0)

            t0 = time.perf_counter()
            with _dask(profiler=False) as client:
                starts.setdefault("dask", []).append(time.perf_counter() - t0)
                with joblib.parallel_backend("dask"):
                    seconds, remote = _search(grid_paths, grid_labels, n_jobs=-1)
                note("search_dask", seconds)
                diffs["dask"] = _relative_difference(remote, local)
                for name in ("predict_dask_first", "predict_dask_again"):
                    t0 = time.perf_counter()
                    frame = predict_paths(clf, paths, client, partition_size=4096).compute()
                    note(name, time.perf_counter() - t0)
                agree = float(np.abs(frame[["proba_happy", "proba_sad"]].to_numpy()
                                     - proba).max())
                peak_mb = sorted(client.run(_peak_rss_mb).values())

            with _dask(profiler=True) as client, joblib.parallel_backend("dask"):
                note("search_dask_profiler", _search(grid_paths, grid_labels, n_jobs=-1)[0])

            if args.ray:
                import ray
                from ray.util.joblib import register_ray

                t0 = time.perf_counter()
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": worker_env(1)})
                register_ray()
                starts.setdefault("ray", []).append(time.perf_counter() - t0)
                with joblib.parallel_backend("ray"):
                    seconds, on_ray = _search(grid_paths, grid_labels, n_jobs=2)
                note("search_ray", seconds)
                diffs["ray"] = _relative_difference(on_ray, local)
                ray.shutdown()

    best = {name: min(values) for name, values in times.items()}

    def every(name: str) -> str:
        return " / ".join(f"{v:.0f}" for v in times[name])

    def search_row(label: str, name: str) -> str:
        return (f"| {label} | {best[name]:.0f} | {best['search_local'] / best[name]:.2f}x | "
                f"{every(name)} |")

    def predict_row(label: str, name: str) -> str:
        return (f"| {label} | {best[name]:.0f} | {len(paths) / best[name]:.0f} | "
                f"{best['predict_local'] / best[name]:.2f}x | {every(name)} |")

    lines += [
        "| grid search (16 fits) | wall s | speed vs n_jobs=1 | every run, s |",
        "|---|---:|---:|---:|",
        search_row("n_jobs=1, this process (TensorFlow on every core)", "search_local"),
        search_row("Dask, 2 workers x 1 thread, TensorFlow 1 thread each", "search_dask"),
        search_row("the same with Dask's worker profiler on (Dask's default)",
                   "search_dask_profiler"),
        *([search_row("Ray, 2 CPUs, TensorFlow 1 thread each", "search_ray")]
          if args.ray else []),
        "",
        "mean test scores against n_jobs=1, largest relative difference: "
        + ", ".join(f"{k.capitalize()} {v:.1e}" for k, v in diffs.items())
        + " (TensorFlow sums in another order on 1 thread than on 2)",
        "cluster start-up, not counted above: "
        + ", ".join(f"{k.capitalize()} {min(v):.0f} s" for k, v in starts.items()),
        "",
        f"| batch prediction, {len(paths):,} files | wall s | images/s | speed vs one process "
        "| every run, s |",
        "|---|---:|---:|---:|---:|",
        predict_row("one process, predict_proba (LiteRT)", "predict_local"),
        predict_row("Dask, 2 workers, first run (workers start TensorFlow, convert to LiteRT)",
                    "predict_dask_first"),
        predict_row("Dask, 2 workers, second run", "predict_dask_again"),
        "",
        f"largest difference of the probabilities from predict_proba's: {agree:.1e}; "
        f"peak memory of each worker: {', '.join(f'{m:.0f}' for m in peak_mb)} MB",
        f"# load averages at the end {_load()}",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        command = "python benchmarks/bench_distributed.py" + (" --ray" if args.ray else "") \
            + f" --write {args.write}"
        write_section(args.write, "bench_distributed", text, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
