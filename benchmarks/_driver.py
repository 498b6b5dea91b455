"""What the real-faces benchmark scripts share (private to ``benchmarks/``).

The data folder, the header that says where and when a table was measured, and
running each measurement in a fresh Python process, so that one model's peak
memory, TensorFlow state and compiled functions never leak into the next.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013-happy-sad"


def have_data(data: Path) -> bool:
    """True when ``data/train`` exists; otherwise say so on stderr."""
    if (data / "train").is_dir():
        return True
    print(f"no data at {data}: nothing to benchmark", file=sys.stderr)
    return False


def _cpu_model() -> str:
    """The processor's model name (Linux), or the architecture."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def machine() -> str:
    """Today's date, the machine and Python, for a table's header.

    The processor is named: machines of the same kind differ from day to day,
    and timings are only comparable within one table.
    """
    return (f"{datetime.date.today()} on {_cpu_model()} ({platform.machine()}), "
            f"{os.cpu_count()} CPU cores, Python {platform.python_version()}")


def run_child(script: str, name: str, args: list[str], keep: Path | None = None) -> dict | None:
    """Run ``script --child NAME ARGS --result FILE`` in a fresh Python.

    Returns the figures the child wrote as JSON to ``FILE``, plus its peak RSS
    in MB (``os.wait4``). With ``keep``, the figures are also written to
    ``keep/NAME.json`` as soon as the child ends, and a measurement already
    there is read instead of run again, so a failure late in a long run loses
    nothing. A failed child gives ``None`` (and a message), not an exception.
    """
    if keep is not None and (keep / f"{name}.json").exists():
        print(f"{name}: reusing {keep / (name + '.json')}", flush=True)
        return json.loads((keep / f"{name}.json").read_text())
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result = fh.name
    print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
    proc = subprocess.Popen([sys.executable, script, "--child", name, *args, "--result", result])
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"{name!r} FAILED (exit {code}); going on", file=sys.stderr, flush=True)
        return None
    with open(result) as fh:
        figures = json.load(fh)
    os.unlink(result)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{name}.json").write_text(json.dumps(figures, default=float))
    return figures


def speed_parser(doc: str, n_samples: int) -> argparse.ArgumentParser:
    """The options of a training-speed benchmark that alternates conditions in children.

    ``--n-samples``, ``--epochs`` (timed per fit), ``--repeats`` (best kept),
    ``--write MARKDOWN``, and the hidden ``--child``/``--folder``/``--result``
    that :func:`run_child` passes.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=n_samples)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per fit")
    parser.add_argument("--repeats", type=int, default=2,
                        help="alternate the conditions this many times; best kept")
    parser.add_argument("--write", metavar="MARKDOWN")
    return child_options(parser)


def child_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the hidden ``--child``/``--folder``/``--result`` that :func:`run_child` passes."""
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser


def alternate_children(script: str, conditions, args) -> tuple[dict[str, list[dict]], str] | None:
    """Run every condition ``args.repeats`` times, alternated, each in a fresh child.

    The training-speed benchmarks' loop (``speed_parser``'s options): the data
    are ``args.n_samples`` FER2013 training faces when they exist, synthetic
    48x48 faces written to a temporary folder otherwise, passed to each child
    as ``--folder``. Returns ``(figures of each run by condition, what the
    data were)``, or None when a child failed.
    """
    runs: dict[str, list[dict]] = {name: [] for name in conditions}
    with tempfile.TemporaryDirectory() as tmp:
        if (DATA / "train").is_dir():
            folder, data = str(DATA / "train"), f"{args.n_samples} FER2013 train faces"
        else:
            from skmood.datasets import make_faces

            make_faces(args.n_samples, image_size=(48, 48), random_state=0, directory=tmp)
            folder, data = tmp, f"{args.n_samples} synthetic 48x48 faces"
        for _ in range(args.repeats):
            for name in conditions:
                result = run_child(script, name, ["--folder", folder, "--n-samples",
                                                  str(args.n_samples), "--epochs",
                                                  str(args.epochs)])
                if result is None:
                    return None
                runs[name].append(result)
    return runs, data


def subsample_folder(folder: str, n_samples: int):
    """``(paths, labels)`` of ``n_samples`` images of ``folder``, the same ones every run."""
    import numpy as np

    from skmood import load_image_folder

    paths, labels = load_image_folder(folder)
    keep = np.random.default_rng(0).permutation(len(paths))[:n_samples]
    return paths[keep], labels[keep]
