"""Images on object storage: local paths no slower, and what reading from storage costs.

(a) Local paths must not get slower with URL support. The same work on the
    same local PNG files, in fresh processes alternating the code before URL
    support (``git archive`` of the commit before ``skmood/_paths.py`` was
    added; ``--baseline`` to choose another) and this checkout:
    ``predict_proba`` on the paths, the decoding loop alone (``read_image`` per
    file) and ``load_image_folder``, in CPU seconds of the process (wall time
    on a shared machine swings by more than the effect looked for). Ratios
    after/before, and the cost of the one new step on a local path.
(b) Prediction from object storage, in one process: ``predict_proba``
    images/s on local paths, ``memory://`` and S3 (moto's server on loopback,
    s3fs), the same files.
(c) Concurrency on latency-bound storage: a filesystem that waits 20 ms per
    request (as S3 does, seen from another region), read one file after the
    other (``read_image`` per URL) against ``read_images`` (16 requests in
    flight), and ``predict_proba`` on it.

Run::

    python benchmarks/bench_object_storage.py --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import machine  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LATENCY = 0.020  # seconds per request of the simulated remote storage


def best_of(repeats: int, work, clock=time.perf_counter) -> float:
    """Smallest time of ``repeats`` calls of ``work()`` (wall time, or another ``clock``)."""
    times = []
    for _ in range(repeats):
        start = clock()
        work()
        times.append(clock() - start)
    return min(times)


# ------------------------------------------------------------ (a) in children
def child(folder: str, model_path: str, repeats: int) -> dict:
    import skmood
    from skmood._image import read_image

    paths, _ = skmood.load_image_folder(folder)
    model = skmood.load(model_path)
    model.predict_proba(paths[:256])  # tracing, not timed
    cpu = time.process_time  # this process's CPU seconds (all threads): less swayed by other jobs
    return {
        "skmood": skmood.__file__,
        "predict_s": best_of(repeats, lambda: model.predict_proba(paths), cpu),
        "decode_s": best_of(repeats, lambda: [read_image(p) for p in paths], cpu),
        "list_s": best_of(10 * repeats, lambda: skmood.load_image_folder(folder), cpu),
    }


def run_child(code: Path, folder: Path, model: Path, repeats: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result = fh.name
    env = {**os.environ, "PYTHONPATH": str(code), "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, __file__, "--child", "--folder", str(folder), "--model",
                    str(model), "--repeats", str(repeats), "--result", result],
                   env=env, check=True)
    figures = json.loads(Path(result).read_text())
    os.unlink(result)
    if not figures["skmood"].startswith(str(code)):
        raise RuntimeError(f"the child imported {figures['skmood']}, not the code in {code}")
    return figures


def baseline_commit(rev: str | None) -> str:
    """``rev``, or the parent of the commit that added ``skmood/_paths.py``."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    if rev is None:
        added = git("log", "--diff-filter=A", "--format=%H", "--", "skmood/_paths.py")
        rev = added.splitlines()[-1] + "^"
    return git("rev-parse", "--short", rev)


def export(rev: str, into: Path) -> Path:
    """The ``skmood`` package at ``rev``, extracted into ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "skmood"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


# ------------------------------------------------------------- (b) and (c)
def storage_figures(folder: Path, model_path: Path, n: int, repeats: int) -> list[tuple]:
    import boto3
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem
    from moto.server import ThreadedMotoServer

    import skmood
    from skmood._image import read_image, read_images

    class SlowMemory(MemoryFileSystem):
        """``memory://`` with a wait per request: remote storage's latency, no bandwidth limit."""

        protocol = "slowmem"

        @classmethod
        def _strip_protocol(cls, path):
            return super()._strip_protocol(str(path).replace("slowmem://", "memory://", 1))

        def cat_file(self, path, start=None, end=None, **kwargs):
            time.sleep(LATENCY)
            return super().cat_file(path, start=start, end=end, **kwargs)

    fsspec.register_implementation("slowmem", SlowMemory, clobber=True)
    local, _ = skmood.load_image_folder(folder)
    local = list(local[:n])
    names = [os.path.relpath(p, folder).replace(os.sep, "/") for p in local]
    memory_fs = fsspec.filesystem("memory")
    for name, path in zip(names, local):
        memory_fs.pipe_file(f"/bench/{name}", Path(path).read_bytes())

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = "http://{}:{}".format(*server.get_host_and_port())
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
    client.create_bucket(Bucket="bench")
    for name, path in zip(names, local):
        client.put_object(Bucket="bench", Key=name, Body=Path(path).read_bytes())
    fsspec.config.conf["s3"] = {"key": "bench", "secret": "bench", "endpoint_url": endpoint,
                                "client_kwargs": {"region_name": "us-east-1"}}
    try:
        model = skmood.load(model_path)
        model.predict_proba(local[:256])  # tracing, not timed
        rows = []
        sources = {"local disk": local, "memory://": [f"memory://bench/{m}" for m in names],
                   "s3:// (moto, loopback)": [f"s3://bench/{m}" for m in names]}
        for source, paths in sources.items():
            seconds = best_of(repeats, lambda: model.predict_proba(paths))
            rows.append(("predict_proba", source, n / seconds))
        slow = [f"slowmem://bench/{m}" for m in names][: min(n, 200)]
        one_by_one = best_of(repeats, lambda: [read_image(u) for u in slow])
        concurrent = best_of(repeats, lambda: read_images(slow))
        rows.append(("read_image, one after the other", f"{LATENCY * 1000:.0f} ms latency",
                     len(slow) / one_by_one))
        rows.append(("read_images (16 in flight)", f"{LATENCY * 1000:.0f} ms latency",
                     len(slow) / concurrent))
        seconds = best_of(repeats, lambda: model.predict_proba(slow))
        rows.append(("predict_proba", f"{LATENCY * 1000:.0f} ms latency", len(slow) / seconds))
        return rows
    finally:
        server.stop()


def decode_loop_ab(paths, rounds: int = 15) -> tuple[float, float]:
    """In one process, interleaved: the decoding loop as it was against ``read_images``.

    Before URL support a batch called ``read_image`` per path, which was
    ``_decode`` inside exception handlers (free unless raised); now it calls
    ``read_images``. Returns the median CPU seconds of each, over ``rounds``.
    """
    from skmood._image import _decode, read_images

    paths = [str(p) for p in paths]
    old, new = [], []
    for _ in range(rounds):
        old.append(best_of(1, lambda: [_decode(p, "rgb", None, None) for p in paths],
                           time.process_time))
        new.append(best_of(1, lambda: read_images(paths), time.process_time))
    return statistics.median(old), statistics.median(new)


def url_check_cost(paths) -> float:
    """Microseconds per path of :func:`skmood._paths.is_url`, the test local paths now pass."""
    from skmood._paths import is_url

    paths = [str(p) for p in paths]
    seconds = best_of(5, lambda: [is_url(p) for p in paths])
    return seconds / len(paths) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--n-storage", type=int, default=500,
                        help="images of (b), uploaded to memory:// and S3")
    parser.add_argument("--repeats", type=int, default=5,
                        help="alternations of (a), each child timing the best of 3 (10 for "
                             "listing); (b) and (c): best of this many minus one")
    parser.add_argument("--baseline", help="commit before URL support (default: found by git)")
    parser.add_argument("--write", metavar="MARKDOWN")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.result).write_text(json.dumps(child(args.folder, args.model, args.repeats)))
        return 0

    sys.path.insert(0, str(REPO))
    import skmood
    from skmood.datasets import make_faces

    rev = baseline_commit(args.baseline)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-object-storage-") as tmp:
        tmp = Path(tmp)
        folder, model_path = tmp / "faces", tmp / "model.skmood"
        paths, y = make_faces(args.n_images, image_size=(48, 48), random_state=0,
                              directory=folder)
        clf = skmood.HappySadClassifier(image_size=(48, 48), conv_filters=(8, 16),
                                        dense_units=16, epochs=1, random_state=0)
        step = max(1, len(paths) // 256)  # both classes (the folder lists happy first)
        skmood.save(clf.fit(paths[::step], y[::step]), model_path)
        codes = {"before": export(rev, tmp / "before"), "after": REPO}
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for _ in range(args.repeats):  # alternate, so that load changes hit both alike
            for name, code in codes.items():
                runs[name].append(run_child(code, folder, model_path, 3))
                print(name, runs[name][-1], flush=True)
        storage = storage_figures(folder, model_path, args.n_storage, max(1, args.repeats - 1))
        overhead = url_check_cost(paths)
        loop_before, loop_after = decode_loop_ab(paths[:500])
    load_after = os.getloadavg()[0]

    def typical(name: str, key: str) -> float:
        """Median over the processes: one lucky quiet window does not decide it."""
        return statistics.median(r[key] for r in runs[name])

    lines = [
        f"# bench_object_storage: {args.n_images} synthetic 48x48 RGB PNG faces on local disk;"
        f" before = {rev} (the commit before URL support), after = this checkout",
        f"# {machine()}; load average {load_before:.1f} before, {load_after:.1f} after "
        "(other jobs share the 2 cores: read the ratios, not the absolute figures)",
        "| local paths (CPU seconds) | before | after | after/before |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (("predict_s", "predict_proba"), ("decode_s", "read_image per file"),
                       ("list_s", "load_image_folder")):
        before, after = typical("before", key), typical("after", key)
        lines.append(f"| {label} | {before:.3f} | {after:.3f} | {after / before:.3f} |")
    lines.append(f"(median over {args.repeats} fresh processes per version, alternated, each "
                 "timing the best of 3, listing of 10; each process's predict s: "
                 + " / ".join(
                     f"{name} " + ", ".join(f"{r['predict_s']:.2f}" for r in runs[name])
                     for name in runs) + ")")
    decode_us = typical("after", "decode_s") / args.n_images * 1e6  # CPU: close to wall here
    lines.append(f"what URL support adds per local path: the is_url check, {overhead:.2f} us, "
                 f"against {decode_us:.0f} us to decode one image ({overhead / decode_us:.2%})")
    lines.append(f"decoding loop of a batch, 500 files, one process, 15 interleaved rounds: "
                 f"before {loop_before:.3f} s, after (read_images) {loop_after:.3f} s CPU, "
                 f"after/before {loop_after / loop_before:.3f}")
    lines += ["", f"# the same files from storage ({args.n_storage} images; the latency rows: "
                  f"{min(args.n_storage, 200)})",
              "| what | storage | images/s |", "|---|---|---:|"]
    lines += [f"| {what} | {where} | {rate:,.0f} |" for what, where, rate in storage]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "bench_object_storage", text,
                      "python benchmarks/bench_object_storage.py --write docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
