"""Exported models on the lean runtime against the TensorFlow path, measured in one run.

The model is the shipped pretrained one (``skmood.load_pretrained()``: VGG-style,
48x48 grayscale, MTCNN faces inside the model), exported by this script to ONNX,
LiteRT and LiteRT int8. Rows, each in a fresh process:

- **cold start**: ``skmood predict one.jpg`` from process start to answer, and
  the process's peak RSS (``os.wait4``): the ``.skmood`` model on TensorFlow
  against the exported files on :mod:`skmood.runtime`. Twice: the model as
  shipped (MTCNN faces on TensorFlow, OpenCV's Haar cascade on the runtime) and
  the network alone (``face_detector=None``: decoding, resize, network).
  Median of ``--repeats`` alternating runs;
- **throughput**: images/s predicted from paths (FER2013 val, 48x48 JPEG
  faces; the network alone) by Keras (``inference="keras"``), the classifier's
  own LiteRT conversions (``"litert"``, ``"litert-int8"``, the shipped
  setting), and the runtime on LiteRT float, LiteRT int8 and onnxruntime; with
  the probabilities' largest difference from the float32 network (the
  classifier's ``"litert"``: the shipped network trains in mixed bfloat16, so
  Keras computes in bfloat16 while every conversion runs its float32 copy) and
  the label agreement, on the same images;
- **installed size** (``--sizes``, needs the package registry): fresh virtual
  environments under the system temporary folder, deleted afterwards: the full
  install (``pip install '.[runtime]'``), the lean install (``pip install
  --no-deps .`` then ``-r requirements-runtime.txt``) and the smallest one
  that predicts with ONNX files (``--no-deps .`` plus numpy, Pillow and
  onnxruntime);
- **parity** (``--parity``): every architecture family and colour mode,
  trained briefly on synthetic faces and exported to ONNX, LiteRT and LiteRT
  int8: the largest probability difference and the label agreement with
  ``predict_proba``.

Run::

    python benchmarks/bench_runtime.py --sizes --parity --write docs/benchmarks.md
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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import child_options, machine, run_child  # noqa: E402
from bench_synthetic import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
WEB, FER = SHARED / "web-happy-sad", SHARED / "fer2013-happy-sad"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
#: Throughput rows: name -> (model file key, how the child predicts).
ENGINES = {"keras": ("skmood", "keras"), "classifier litert": ("skmood", "litert"),
           "classifier litert-int8": ("skmood", "litert-int8"),
           "runtime litert": ("litert", None), "runtime litert-int8": ("litert-int8", None),
           "runtime onnxruntime": ("onnx", None)}
#: The reference of the probability differences: the float32 network.
REFERENCE = "classifier litert"
#: ``python -c`` running ``python -m skmood ARGS`` and writing its peak RSS (VmHWM, kB)
#: to stderr at exit: measured in the child itself, since ``wait4``'s figure also
#: counts the memory of the parent the child was forked from.
COLD = """
import atexit, runpy, sys
def _peak():
    with open("/proc/self/status") as fh:
        sys.stderr.write("".join(f"VMHWM {l.split()[1]}\\n" for l in fh if l.startswith("VmHWM")))
atexit.register(_peak)
sys.argv = ["skmood", *sys.argv[1:]]
runpy.run_module("skmood", run_name="__main__")
"""


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux ``VmHWM``)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024


# ---------------------------------------------------------------- children
def child(args) -> dict:
    """This fresh process's part: the exports, the parity table, or one engine's throughput."""
    if args.child == "export":
        export_models(Path(args.folder))
        return {}
    if args.child == "parity":
        return {"lines": parity_rows(Path(args.folder))}
    import skmood
    import skmood.runtime

    files = json.loads(Path(args.folder, "files.json").read_text())
    key, inference = ENGINES[args.child]
    path = json.loads(Path(args.folder, "models.json").read_text())["network"][key]
    start = time.perf_counter()
    if inference is None:
        model = skmood.runtime.load(path)
    else:
        model = skmood.load(path).set_params(inference=inference)
    model.predict_proba(files[:64])  # warm up (and LiteRT's conversion for the classifier)
    ready = time.perf_counter() - start
    start = time.perf_counter()
    proba = model.predict_proba(files)
    seconds = time.perf_counter() - start
    np.save(Path(args.folder, f"{args.child}.npy"), proba)
    return {"images_per_s": len(files) / seconds, "ready_s": ready, "rss_mb": peak_rss_mb()}


# ----------------------------------------------------------------- parent
def export_models(folder: Path) -> None:
    """The pretrained model, and its network alone, as .skmood and exported files.

    Run in a child: this process then holds TensorFlow, which the parent, whose
    children are timed, never imports.
    """
    import skmood
    from skmood._export import _export_files

    shipped = skmood.load_pretrained()
    files = {"shipped": {}, "network": {}}
    for name, model in (("shipped", shipped),
                        ("network", skmood.load_pretrained().set_params(face_detector=None))):
        files[name]["skmood"] = folder / f"{name}.skmood"
        skmood.save(model, files[name]["skmood"])
        targets = {"onnx": folder / f"{name}.onnx", "litert": folder / f"{name}.tflite",
                   "litert-int8": folder / f"{name}-int8.tflite"}
        start = time.perf_counter()
        _export_files(model, targets)
        print(f"exported {name} in {time.perf_counter() - start:.0f} s", flush=True)
        files[name].update(targets)
    (folder / "models.json").write_text(json.dumps(  # for the parent and the children
        {name: {key: str(path) for key, path in paths.items()} for name, paths in files.items()}))


def cold_start(command: list[str]) -> tuple[float, float]:
    """``(seconds from process start to answer, peak RSS in MB)`` of ``skmood COMMAND``."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", COLD, *command], env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"skmood {' '.join(command)} failed: {proc.stderr[-2000:]}")
    peak = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VMHWM ")]
    return seconds, int(peak[-1]) / 1024


def cold_rows(files: dict, photo: str, repeats: int) -> dict:
    rows = {}
    cases = [(f"{name}: {label}", [str(files[name][key]), photo])
             for name in ("shipped", "network")
             for key, label in (("skmood", "TensorFlow (.skmood)"),
                                ("onnx", "runtime, onnxruntime (.onnx)"),
                                ("litert-int8", "runtime, LiteRT int8 (.tflite)"))]
    for _ in range(repeats):  # alternating, so that load changes hit every row alike
        for row, paths in cases:
            rows.setdefault(row, []).append(cold_start(["predict", *paths]))
    return {row: (statistics.median(s for s, _ in runs), max(m for _, m in runs))
            for row, runs in rows.items()}


def throughput_rows(folder: Path, n_images: int) -> dict:
    from skmood import load_image_folder

    paths, _ = load_image_folder(FER / "val")
    files = [str(p) for p in paths[:n_images]]
    (folder / "files.json").write_text(json.dumps(files))
    rows = {}
    for name in ENGINES:
        figures = run_child(__file__, name, ["--folder", str(folder)])
        if figures is not None:
            rows[name] = figures
    reference = np.load(folder / f"{REFERENCE}.npy")
    for name, figures in rows.items():
        proba = np.load(folder / f"{name}.npy")
        figures["max_diff"] = float(np.abs(proba - reference).max())
        figures["agreement"] = float((proba.argmax(1) == reference.argmax(1)).mean())
    return rows


def installed_sizes() -> dict:
    """MB of site-packages in fresh venvs: full, lean, and lean with onnxruntime only."""
    installs = {
        "full: pip install '.[runtime]'": [[f"{ROOT}[runtime]"]],
        "lean: --no-deps . + requirements-runtime.txt": [
            ["--no-deps", str(ROOT)], ["-r", str(ROOT / "requirements-runtime.txt")]],
        "lean, ONNX only: --no-deps . + numpy pillow onnxruntime": [
            ["--no-deps", str(ROOT)], ["numpy>=1.26", "pillow>=10.0", "onnxruntime>=1.17"]],
    }
    sizes = {}
    with tempfile.TemporaryDirectory(prefix="skmood-sizes-") as tmp:
        for i, (name, steps) in enumerate(installs.items()):
            venv = Path(tmp, str(i))
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            python = venv / "bin" / "python"
            base = _site_packages_bytes(python)  # pip and setuptools of a bare venv
            for step in steps:
                print(f"[{time.strftime('%H:%M:%S')}] {name}: pip install {' '.join(step)}",
                      flush=True)
                subprocess.run([str(python), "-m", "pip", "install", "--quiet", *step],
                               check=True)
            sizes[name] = (_site_packages_bytes(python) - base) / 1e6
    return sizes


def _site_packages_bytes(python: Path) -> int:
    out = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())


def parity_rows(folder: Path) -> list[str]:
    """Every family and colour mode: max |difference| and agreement of each exported file."""
    import skmood
    import skmood.runtime
    from skmood._export import _export_files
    from skmood.datasets import make_faces

    families = {
        "seed": dict(conv_filters=(8, 16), dense_units=16),
        "vgg": dict(architecture="vgg", conv_filters=(8, 16), blocks_per_stage=1),
        "resnet": dict(architecture="resnet", conv_filters=(8, 16), blocks_per_stage=1),
        "inception": dict(architecture="inception", conv_filters=(16, 32), blocks_per_stage=1),
        "mobilenetv2": dict(backbone="mobilenetv2", backbone_alpha=0.35, weights=None),
    }
    lines = ["| family | colour | ONNX max diff | LiteRT max diff | int8 max diff | "
             "int8 agreement |", "|---|---|---:|---:|---:|---:|"]
    for family, params in families.items():
        size = 32 if family == "mobilenetv2" else 24
        X, y = make_faces(600, image_size=(size, size), random_state=0)
        X_test = [make_faces(150, image_size=s, random_state=1)[0]
                  for s in ((size, size), (size + 17, size - 5))]
        for color_mode in ("rgb", "grayscale"):
            clf = skmood.HappySadClassifier(image_size=(size, size), color_mode=color_mode,
                                            epochs=4, random_state=0, inference="keras",
                                            **params).fit(X, y)
            targets = {k: folder / f"parity-{k}{'.onnx' if k == 'onnx' else '.tflite'}"
                       for k in ("onnx", "litert", "litert-int8")}
            _export_files(clf, targets)
            diffs, agreement = {}, []
            for X_t in X_test:
                expected = clf.predict_proba(X_t)
                for kind, path in targets.items():
                    proba = skmood.runtime.load(path).predict_proba(X_t)
                    diffs[kind] = max(diffs.get(kind, 0.0), float(np.abs(proba - expected).max()))
                    if kind == "litert-int8":
                        agreement.append((proba.argmax(1) == expected.argmax(1)).mean())
            lines.append(f"| {family} | {color_mode} | {diffs['onnx']:.1e} | "
                         f"{diffs['litert']:.1e} | {diffs['litert-int8']:.3f} | "
                         f"{np.mean(agreement):.3f} |")
            print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1548, help="FER2013 val images timed")
    parser.add_argument("--repeats", type=int, default=3, help="cold starts per row (median)")
    parser.add_argument("--sizes", action="store_true", help="install into fresh venvs")
    parser.add_argument("--parity", action="store_true", help="every family and colour mode")
    parser.add_argument("--write", metavar="MARKDOWN")
    args = child_options(parser).parse_args(argv)
    if args.child:
        Path(args.result).write_text(json.dumps(child(args)))
        return 0
    if not (FER / "val").is_dir() or not (WEB / "val").is_dir():
        print(f"no data at {SHARED}: nothing to benchmark", file=sys.stderr)
        return 0
    from skmood import load_image_folder

    photo = str(load_image_folder(WEB / "val")[0][0])
    with tempfile.TemporaryDirectory(prefix="skmood-bench-runtime-") as tmp:
        folder = Path(tmp)
        if run_child(__file__, "export", ["--folder", tmp]) is None:
            return 1
        files = json.loads((folder / "models.json").read_text())
        cold = cold_rows(files, photo, args.repeats)
        speed = throughput_rows(folder, args.images)
        sizes = installed_sizes() if args.sizes else {}
        parity = []
        if args.parity:
            parity = (run_child(__file__, "parity", ["--folder", tmp]) or {}).get("lines", [])
    lines = [f"# bench_runtime: skmood's pretrained model, exported; one run, ratios within it",
             f"# {machine()}; other engineers' jobs loaded the CPUs during the run",
             "", "cold `skmood predict one.jpg` (web photo), process start to answer, "
             f"median of {args.repeats}:",
             "| model | path | seconds | x faster | peak RSS MB | x smaller |",
             "|---|---|---:|---:|---:|---:|"]
    for name in ("shipped", "network"):
        base_s, base_mb = cold[f"{name}: TensorFlow (.skmood)"]
        for row, (seconds, mb) in cold.items():
            if row.startswith(name):
                lines.append(f"| {name} | {row.split(': ', 1)[1]} | {seconds:.1f} | "
                             f"{base_s / seconds:.1f} | {mb:.0f} | {base_mb / mb:.1f} |")
    lines += ["", f"predict from paths ({args.images} FER2013 val faces, 48x48 JPEG; the "
              "network without face detection; fresh process each; differences from the "
              "float32 network, the classifier's litert):",
              "| engine | images/s | x Keras | load + warm-up s | peak RSS MB | "
              "max diff | labels equal |", "|---|---:|---:|---:|---:|---:|---:|"]
    keras_speed = speed.get("keras", {}).get("images_per_s", float("nan"))
    for name, fig in speed.items():
        lines.append(f"| {name} | {fig['images_per_s']:.0f} | "
                     f"{fig['images_per_s'] / keras_speed:.2f} | {fig['ready_s']:.1f} | "
                     f"{fig['rss_mb']:.0f} | {fig['max_diff']:.1e} | "
                     f"{fig['agreement']:.4f} |")
    if sizes:
        full = next(iter(sizes.values()))
        lines += ["", "installed size (site-packages of a fresh venv, pip and setuptools "
                  "excluded):", "| install | MB | x smaller |", "|---|---:|---:|"]
        lines += [f"| {name} | {mb:.0f} | {full / mb:.1f} |" for name, mb in sizes.items()]
    if parity:
        lines += ["", "parity with predict_proba (150 faces at the input size, 150 of "
                  "another size; 4 epochs on 600 synthetic faces):", *parity]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "bench_runtime", text, " ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
