"""Load test of ``skmood serve`` on loopback: throughput, latency and errors.

Starts the real server (``python -m skmood serve``, a separate process) on a
free port of 127.0.0.1, then sends a bounded load from this process: C
concurrent clients (default 16) post N requests in all (default 2,000), each
one synthetic 128x128 face as a raw PNG body to ``POST /predict`` (face
cropping on, as the server's default). It prints requests/s, latency
percentiles (p50/p95/p99) and the error count (any non-200 answer or transport
error), which must be 0. The load stops by itself after N requests or
``--max-seconds``, whichever comes first; nothing is sent anywhere but
127.0.0.1. Run::

    python benchmarks/bench_serve.py [--requests 2000] [--concurrency 16] \
        [--model MODEL.skmood] [--no-crop-faces] [--write docs/benchmarks.md]

Without ``--model`` a small model (24x24 input, the one the serve tests use) is
trained first on synthetic faces, in about 10 s. With ``--write``, the printed
block replaces the one between the ``<!-- bench_serve:start -->`` and
``<!-- bench_serve:end -->`` markers of that Markdown file (appended when they
are absent). The exit code is 1 when any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HOST = "127.0.0.1"  # loopback only


def train_model(path: str) -> None:
    import skmood
    from skmood.datasets import make_faces

    X, y = make_faces(800, image_size=(24, 24), random_state=0)
    clf = skmood.HappySadClassifier(image_size=(24, 24), conv_filters=(8, 16), dense_units=32,
                                    epochs=8, random_state=0)
    skmood.save(clf.fit(X, y), path)


def request_bodies(n: int = 32) -> list[bytes]:
    from PIL import Image

    from skmood.datasets import make_faces

    X, _ = make_faces(n, image_size=(128, 128), random_state=1)
    bodies = []
    for image in X:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        bodies.append(buffer.getvalue())
    return bodies


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, crop_faces: bool, threads: int | None
                 ) -> subprocess.Popen:
    import httpx

    argv = [sys.executable, "-m", "skmood", "-q", "serve", model, "--host", HOST,
            "--port", str(port), "--crop-faces" if crop_faces else "--no-crop-faces"]
    if threads is not None:
        argv += ["--threads", str(threads)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stdout.read()}")
        try:
            if httpx.get(f"http://{HOST}:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start within 180 s")


async def load(url: str, bodies: list[bytes], n_requests: int, concurrency: int,
               max_seconds: float) -> tuple[list[float], list[str], float, list[int]]:
    """Send ``n_requests`` with ``concurrency`` clients; latencies (s), errors, wall time."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    faces: list[int] = []
    counter = iter(range(n_requests))
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient) -> None:
        for i in counter:
            if time.monotonic() > deadline:
                return
            start = time.perf_counter()
            try:
                r = await http.post(f"{url}/predict", content=bodies[i % len(bodies)],
                                    headers={"content-type": "image/png"})
                ok = r.status_code == 200
                if ok:
                    faces.append(r.json()["predictions"][0]["face_box"] is not None)
                else:
                    errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                ok = False
                errors.append(f"{type(exc).__name__}: {exc}")
            if ok:
                latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, errors, wall, faces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=64, help="requests not counted")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="stop sending after this long, whatever is left")
    parser.add_argument("--model", help="a model file (default: train a small one)")
    parser.add_argument("--no-crop-faces", dest="crop_faces", action="store_false")
    parser.add_argument("--threads", type=int, help="the server's --threads")
    parser.add_argument("--write", metavar="MARKDOWN", help="write the block into this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        model = args.model
        if model is None:
            model = os.path.join(tmp, "model.skmood")
            t = time.perf_counter()
            train_model(model)
            print(f"# trained a 24x24 model in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        import httpx

        bodies = request_bodies()
        port = free_port()
        url = f"http://{HOST}:{port}"
        server = start_server(model, port, args.crop_faces, args.threads)
        try:
            asyncio.run(load(url, bodies, args.warmup, args.concurrency, 120))
            before = httpx.get(f"{url}/health").json()
            load_before = os.getloadavg()
            latencies, errors, wall, faces = asyncio.run(
                load(url, bodies, args.requests, args.concurrency, args.max_seconds))
            load_after = os.getloadavg()
            after = httpx.get(f"{url}/health").json()
        finally:
            server.terminate()
            server.wait(timeout=30)

    images = after["images_classified"] - before["images_classified"]
    calls = after["inference_calls"] - before["inference_calls"]
    lat = np.array(latencies) * 1000.0
    done = len(latencies) + len(errors)
    p50, p95, p99 = (np.percentile(lat, q) if len(lat) else float("nan") for q in (50, 95, 99))
    command = "python benchmarks/bench_serve.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]) if a != "--write"
        and not a.endswith(".md"))
    block = "\n".join([
        f"Command: `{command.strip()}`",
        "",
        "```text",
        f"# bench_serve: {done} requests ({args.requests} asked), {args.concurrency} concurrent "
        f"clients, loopback; one 128x128 PNG face per request, crop_faces="
        f"{str(args.crop_faces).lower()} (a face found in {np.mean(faces) * 100:.0f}% of them)",
        f"# {time.strftime('%Y-%m-%d')}, {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; server: skmood serve (uvicorn, 1 process); client: "
        "httpx in this process",
        "| requests/s | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {len(latencies) / wall:.1f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | "
        f"{lat.max() if len(lat) else float('nan'):.1f} | {len(errors)} |",
        f"# server: {images} images in {calls} batched network calls (mean batch "
        f"{images / max(1, calls):.1f})",
        f"# wall time {wall:.1f} s; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after (2 cores shared by the server, this client and any "
        "other job)",
        "```",
    ])
    print(block)
    for error in errors[:5]:
        print(f"error: {error}", file=sys.stderr)
    if args.write:
        text = open(args.write, encoding="utf-8").read() if os.path.exists(args.write) else ""
        start, end = "<!-- bench_serve:start -->", "<!-- bench_serve:end -->"
        new = f"{start}\n{block}\n{end}"
        if start in text and end in text:
            text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda m: new, text,
                          flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + new + "\n"
        with open(args.write, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
