"""Tests for the ``skmood`` command line (:mod:`skmood.cli`).

Most tests call ``main([...])`` in-process and check the exit code and what is
printed: results on stdout, progress and errors on stderr. A few run the
installed ``skmood`` entry point in a subprocess to prove it works.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
import pytest

import skmood
from skmood import HappySadClassifier
from skmood.cli import main

#: Training options that make a model in a second or two on 16x16 faces.
TINY = ["--image-size", "16", "16", "--conv-filters", "4", "--dense-units", "8",
        "--epochs", "1", "--batch-size", "8", "--random-state", "0"]
ENTRY_POINT = Path(sys.executable).parent / "skmood"
N_FACES = 24  # images in the conftest ``face_folder`` (12 happy, 12 sad)


@pytest.fixture(scope="module")
def model_file(face_folder, tmp_path_factory) -> Path:
    """A model trained once by ``skmood train`` on ``face_folder``."""
    path = tmp_path_factory.mktemp("trained") / "new" / "folder" / "model.joblib"
    assert main(["train", str(face_folder), "-o", str(path), *TINY]) == 0
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``skmood argv`` in-process; return (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    """stderr ends with exactly one ``skmood: error:`` line naming ``fragments``."""
    errors = [line for line in err.splitlines() if line.startswith("skmood: error:")]
    assert len(errors) == 1, err
    assert err.rstrip().endswith(errors[0])
    for fragment in fragments:
        assert fragment in errors[0]


# ------------------------------------------------------------- help and version
@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["predict"], ["evaluate"]])
def test_help_of_every_command_exits_0(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(f"usage: skmood {' '.join(command)}".rstrip())


#: Estimator parameters without a ``skmood train`` option of the same name, and why.
NOT_TRAIN_OPTIONS = {
    "model": "a Python callable; not expressible on the command line",
    "validation_data": "given as a folder with --val-dir",
    "verbose": "-v is the CLI's log level; epochs are logged instead of Keras' progress bar",
    "warm_start": "set by --init MODEL (warm start) and --resume (from the checkpoint)",
}


def test_train_has_an_option_for_every_estimator_parameter(capsys):
    _, out, _ = run(capsys, "train", "--help")
    params = set(HappySadClassifier().get_params()) - set(NOT_TRAIN_OPTIONS)
    assert sorted(p for p in params if f"--{p.replace('_', '-')} " not in out) == []
    assert "--image-size H W" in out and "--val-dir DIR" in out
    assert "(default: 32 64 128)" in out  # defaults come from the estimator


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"skmood {skmood.__version__}"


def test_help_does_not_import_tensorflow():
    # Nor the optional or drawing-only packages: matplotlib (the report), tqdm (bars).
    script = ("import sys; from skmood.cli import main; code = main(['--help']); "
              "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib', 'tqdm') "
              "if m in sys.modules]; assert not heavy, heavy; sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


# -------------------------------------------------------------------- train
def test_train_writes_a_fitted_model_loadable_with_joblib(model_file):
    model = joblib.load(model_file)
    assert isinstance(model, HappySadClassifier)
    assert model.classes_.tolist() == ["happy", "sad"]
    assert model.image_size == (16, 16) and model.conv_filters == (4,)
    assert model.n_iter_ == 1
    # Written atomically: no temporary file is left beside the model.
    assert os.listdir(model_file.parent) == ["model.joblib"]


def test_train_prints_a_summary_and_logs_epochs(capsys, face_folder, tmp_path):
    out_path = tmp_path / "m.joblib"
    code, out, err = run(capsys, "train", face_folder, "-o", out_path, *TINY,
                         "--validation-split", "0.25", "--class-weight", "balanced")
    assert code == 0, err
    assert "images found:  24 (happy: 12, sad: 12)" in out
    assert "epochs run:    1 of 1" in out
    assert "val_accuracy=" in out and str(out_path) in out
    assert "found 24 images" in err and "epoch 1/1:" in err
    assert joblib.load(out_path).validation_split == 0.25


def test_train_with_a_validation_folder(capsys, face_folder, tmp_path):
    code, out, err = run(capsys, "-q", "train", face_folder, "-o", tmp_path / "m.joblib", *TINY,
                         "--val-dir", face_folder, "--early-stopping", "--patience", "1")
    assert code == 0, err
    assert "val_loss=" in out
    assert err == ""  # -q hides the progress lines


# ------------------------------------------------------------------ predict
def test_predict_table_has_one_aligned_row_per_image(capsys, model_file, face_folder):
    code, out, _ = run(capsys, "predict", model_file, face_folder)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["path", "label", "happy", "sad"]
    assert len(rows) == N_FACES
    assert {len(line) for line in rows} == {len(header)}  # aligned columns


def test_predict_csv(capsys, model_file, face_folder):
    code, out, _ = run(capsys, "predict", model_file, face_folder, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == N_FACES
    assert list(rows[0]) == ["path", "label", "happy", "sad"]
    for row in rows:
        p = np.array([float(row["happy"]), float(row["sad"])])
        assert p.sum() == pytest.approx(1.0)
        assert row["label"] == ["happy", "sad"][p.argmax()]


def test_predict_json_matches_the_model(capsys, model_file, face_folder):
    code, out, _ = run(capsys, "predict", model_file, face_folder, "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == N_FACES
    assert all(r["label"] in ("happy", "sad") for r in rows)
    proba = np.array([[r["happy"], r["sad"]] for r in rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    expected = joblib.load(model_file).predict_proba([r["path"] for r in rows])
    np.testing.assert_allclose(proba, expected, rtol=1e-6)


def test_predict_takes_files_and_folders_and_skips_non_images(capsys, model_file, face_folder,
                                                               tmp_path):
    folder = tmp_path / "mixed"
    (folder / "nested").mkdir(parents=True)
    for src in sorted((face_folder / "sad").iterdir())[:2]:
        (folder / "nested" / src.name).write_bytes(src.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    one = sorted((face_folder / "happy").iterdir())[0]
    code, out, err = run(capsys, "predict", model_file, one, folder, "--format", "csv")
    assert code == 0
    paths = [row["path"] for row in csv.DictReader(io.StringIO(out))]
    assert paths == [str(one), *sorted(str(p) for p in (folder / "nested").iterdir())]
    assert "predicting 3 image(s)" in err


def test_predict_output_file(capsys, model_file, face_folder, tmp_path):
    target = tmp_path / "out" / "predictions.csv"
    code, out, _ = run(capsys, "predict", model_file, face_folder / "sad", "--format", "csv",
                       "--output", target)
    assert code == 0 and out == ""
    assert len(list(csv.DictReader(target.open()))) == N_FACES // 2


@pytest.fixture
def folder_with_broken_image(face_folder, tmp_path) -> Path:
    """Two faces per class plus an unreadable ``sad/broken.png``."""
    for cls in ("happy", "sad"):
        (tmp_path / cls).mkdir()
        for src in sorted((face_folder / cls).iterdir())[:2]:
            shutil.copy(src, tmp_path / cls / src.name)
    (tmp_path / "sad" / "broken.png").write_text("not a png")
    return tmp_path


def test_predict_stops_at_an_unreadable_image_by_default(capsys, model_file,
                                                         folder_with_broken_image):
    code, out, err = run(capsys, "predict", model_file, folder_with_broken_image)
    assert code == 1 and out == ""
    assert_one_line_error(err, "broken.png")


def test_predict_on_error_skip_gives_unreadable_images_empty_rows(capsys, model_file,
                                                                  folder_with_broken_image):
    code, out, err = run(capsys, "predict", model_file, folder_with_broken_image,
                         "--format", "json", "--on-error", "skip")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 5
    broken = [r for r in rows if r["path"].endswith("broken.png")]
    assert broken == [{"path": broken[0]["path"], "label": None, "happy": None, "sad": None}]
    assert all(r["label"] in ("happy", "sad") for r in rows if r not in broken)
    # The library's SkmoodWarning is shown as one log line, without source excerpt.
    warning_lines = [line for line in err.splitlines() if "broken.png" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("warning: HappySadClassifier")


# ----------------------------------------------------------------- evaluate
def test_evaluate_text(capsys, model_file, face_folder):
    code, out, err = run(capsys, "evaluate", model_file, face_folder)
    assert code == 0
    for text in ["accuracy", "balanced accuracy", "precision", "recall", "f1-score",
                 "confusion matrix", "true happy", "pred sad"]:
        assert text in out
    assert "evaluating on 24 images" in err


def test_evaluate_json(capsys, model_file, face_folder):
    code, out, _ = run(capsys, "evaluate", model_file, face_folder, "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["balanced_accuracy"] <= 1
    assert report["classes"] == ["happy", "sad"]
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (2, 2) and matrix.sum() == N_FACES
    assert matrix.sum(axis=1).tolist() == [12, 12]  # rows are the true classes
    assert set(report["per_class"]["sad"]) == {"precision", "recall", "f1", "support"}


def test_evaluate_on_error_skip_leaves_unreadable_images_out(capsys, model_file,
                                                             folder_with_broken_image):
    code, out, err = run(capsys, "evaluate", model_file, folder_with_broken_image,
                         "--format", "json", "--on-error", "skip")
    assert code == 0, err
    report = json.loads(out)
    assert report["n_unreadable"] == 1 and report["n_images"] == 4
    assert np.array(report["confusion_matrix"]).sum() == 4
    assert "left 1 unreadable image(s) out" in err


# ------------------------------------------------------------------- errors
def test_missing_data_dir_is_one_line_naming_it(capsys, tmp_path):
    missing = tmp_path / "no-such-folder"
    code, out, err = run(capsys, "train", missing, "-o", tmp_path / "m.joblib", *TINY)
    assert code == 1 and out == ""
    assert_one_line_error(err, str(missing), "does not exist")
    assert "Traceback" not in err


def test_missing_model_file(capsys, face_folder, tmp_path):
    missing = tmp_path / "nope.joblib"
    code, _, err = run(capsys, "predict", missing, face_folder)
    assert code == 1
    assert_one_line_error(err, str(missing), "does not exist")


@pytest.mark.parametrize("content", ["dict", "text", "unfitted"])
def test_a_file_that_is_not_a_skmood_model(capsys, face_folder, tmp_path, content):
    path = tmp_path / "model.joblib"
    if content == "text":
        path.write_text("hello")
    else:
        joblib.dump({"a": 1} if content == "dict" else HappySadClassifier(), path)
    code, _, err = run(capsys, "evaluate", path, face_folder)
    assert code == 1
    assert_one_line_error(err, str(path), "unfitted" if content == "unfitted" else "not a skmood")


def test_no_image_found(capsys, model_file, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = run(capsys, "predict", model_file, tmp_path)
    assert code == 1
    assert_one_line_error(err, "no image found", str(tmp_path))


def test_evaluate_rejects_classes_the_model_does_not_know(capsys, model_file, tmp_path):
    for name in ["angry/a.png", "happy/b.png"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    code, _, err = run(capsys, "evaluate", model_file, tmp_path)
    assert code == 1
    assert_one_line_error(err, "'angry'")


@pytest.mark.parametrize("argv", [
    ["train", "data", "-o", "m.joblib", "--epochs", "0"],
    ["train", "data", "-o", "m.joblib", "--dropout", "1.5"],
    ["train", "data", "-o", "m.joblib", "--val-dir", "v", "--validation-split", "0.2"],
    ["train", "data"],  # -o is required
    ["predict", "m.joblib", "x.png", "--format", "xml"],
    ["frobnicate"],
    [],
])
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "usage: skmood" in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(capsys, tmp_path, where):
    argv = ["train", tmp_path / "missing", "-o", tmp_path / "m.joblib"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "Traceback (most recent call last)" in err and "DatasetError" in err
    assert err.rstrip().splitlines()[-1].startswith("skmood: error:")


def test_logging_configuration_is_restored(capsys, tmp_path):
    log = logging.getLogger("skmood")
    before = (log.level, list(log.handlers), log.propagate)
    run(capsys, "-v", "predict", tmp_path / "missing.joblib", tmp_path)
    assert (log.level, list(log.handlers), log.propagate) == before


def test_saving_leaves_nothing_behind_when_writing_fails(model_file, tmp_path, monkeypatch):
    def broken_dump(obj, fh):
        fh.write(b"half a model")
        raise OSError("disk full")

    model = skmood.load(model_file, allow_pickle=True)
    monkeypatch.setattr(joblib, "dump", broken_dump)
    target = tmp_path / "model.joblib"
    target.write_bytes(b"previous model")
    with pytest.raises(OSError, match="disk full"):
        skmood.save(model, target, format="joblib")
    assert os.listdir(tmp_path) == ["model.joblib"]
    assert target.read_bytes() == b"previous model"


# --------------------------------------------------------------------- demo
DEMO_TINY = ["demo", "--n-samples", "60", "--image-size", "16", "16", "--epochs", "1"]


def test_demo_runs_end_to_end_and_cleans_up(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, out, err = run(capsys, *DEMO_TINY)
    assert code == 0, err
    assert "accuracy" in out and "confusion matrix" in out
    assert "reloaded: identical predict_proba on all 15 test images" in out
    assert out.rstrip().splitlines()[-1].startswith("SUCCESS: demo finished")
    assert "generating 60 synthetic 16x16 faces" in err and "epoch 1/1:" in err
    assert list(tmp_path.glob("skmood-demo-*")) == []


def test_demo_out_keeps_faces_and_model(capsys, tmp_path):
    code, out, err = run(capsys, *DEMO_TINY, "--out", tmp_path / "kept")
    assert code == 0, err
    assert len(list((tmp_path / "kept" / "faces").rglob("*.png"))) == 60
    assert isinstance(joblib.load(tmp_path / "kept" / "model.joblib"), HappySadClassifier)


# ----------------------------------------------------- installed entry point
needs_entry_point = pytest.mark.skipif(not ENTRY_POINT.exists(),
                                       reason=f"entry point {ENTRY_POINT} not installed")


def run_entry_point(*argv: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([str(ENTRY_POINT), *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=300)


@needs_entry_point
def test_entry_point_help():
    proc = run_entry_point("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ["demo", "train", "predict", "evaluate"]:
        assert command in proc.stdout


@needs_entry_point
@pytest.mark.slow
def test_entry_point_train_predict_evaluate(face_folder, tmp_path):
    model = tmp_path / "model.joblib"
    proc = run_entry_point("train", face_folder, "-o", model, *TINY)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1:" in proc.stderr

    proc = run_entry_point("predict", model, face_folder, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == N_FACES

    proc = run_entry_point("evaluate", model, face_folder, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert np.array(json.loads(proc.stdout)["confusion_matrix"]).shape == (2, 2)

    proc = run_entry_point("predict", tmp_path / "missing.joblib", face_folder)
    assert proc.returncode == 1
    assert proc.stderr.rstrip().splitlines()[-1].startswith("skmood: error: skmood.load: no model file")


# --------------------------------------------------- checkpoints, resume, warm start
def test_train_writes_safe_model_files_and_removes_its_checkpoint(capsys, face_folder, tmp_path):
    model = tmp_path / "model.skmood"
    code, out, err = run(capsys, "train", str(face_folder), "-o", str(model), *TINY)
    assert code == 0, err
    loaded = skmood.load(model)  # the safe format: no pickle
    assert loaded.n_iter_ == 1
    assert not (tmp_path / "model.skmood.checkpoint.skmood").exists()


def test_killed_run_resumes_from_its_last_epoch(capsys, face_folder, tmp_path, monkeypatch):
    from skmood.cli import _train as cli

    model = tmp_path / "model.skmood"
    original = cli._checkpointer

    def crash_after_two_epochs(clf, path):
        callback = original(clf, path)
        save_epoch = callback.on_epoch_end

        def on_epoch_end(epoch, logs=None):
            save_epoch(epoch, logs)
            if epoch == 1:
                raise KeyboardInterrupt  # killed right after epoch 2's checkpoint

        callback.on_epoch_end = on_epoch_end
        return callback

    monkeypatch.setattr(cli, "_checkpointer", crash_after_two_epochs)
    args = ["train", str(face_folder), "-o", str(model), *TINY, "--epochs", "4"]
    code, _, err = run(capsys, *args)
    assert code == 130 and not model.exists()
    checkpoint = tmp_path / "model.skmood.checkpoint.skmood"
    assert skmood.load(checkpoint).n_iter_ == 2

    monkeypatch.setattr(cli, "_checkpointer", original)
    code, out, err = run(capsys, *args, "--resume")
    assert code == 0, err
    assert "after 2 completed epoch(s) of 4" in err
    resumed = skmood.load(model)
    assert resumed.n_iter_ == 4 and len(resumed.history_["loss"]) == 4
    assert not checkpoint.exists()


def test_init_warm_starts_from_a_trained_model(capsys, face_folder, tmp_path):
    first = tmp_path / "first.skmood"
    assert run(capsys, "train", str(face_folder), "-o", str(first), *TINY)[0] == 0
    second = tmp_path / "second.skmood"
    code, out, err = run(capsys, "train", str(face_folder), "-o", str(second), *TINY,
                         "--init", str(first), "--epochs", "2", "--learning-rate", "0.0001")
    assert code == 0, err
    adapted = skmood.load(second)
    assert adapted.n_iter_ == 3  # 1 epoch before, 2 now
    assert float(adapted.model_.optimizer.learning_rate) == pytest.approx(1e-4)


@pytest.mark.parametrize("depths, expected", [(["1", "2"], (1, 2)), (["2"], 2)],
                         ids=["one-per-stage", "one-for-all"])
def test_blocks_per_stage_takes_one_number_or_one_per_stage(capsys, face_folder, tmp_path,
                                                            depths, expected):
    path = tmp_path / "vgg.skmood"
    code, _, err = run(capsys, "train", str(face_folder), "-o", str(path), *TINY,
                       "--architecture", "vgg", "--conv-filters", "4", "8",
                       "--blocks-per-stage", *depths)
    assert code == 0, err
    model = skmood.load(path)
    assert model.blocks_per_stage == expected
    convs = [layer.name for layer in model.model_.layers if layer.name.endswith("_conv")]
    assert len(convs) == (sum(expected) if isinstance(expected, tuple) else 2 * expected)


# --------------------------------------------------- the pretrained model by default
@pytest.fixture
def shipped(model_file, tmp_path, monkeypatch):
    """A stand-in for the shipped pretrained model (the trained test model, safe format)."""
    from skmood import _pretrained

    path = tmp_path / "shipped.skmood"
    skmood.save(skmood.load(model_file, allow_pickle=True), path)
    monkeypatch.setattr(_pretrained, "pretrained_path", lambda: str(path))
    return path


def test_predict_evaluate_without_a_model_use_the_pretrained_one(capsys, shipped,
                                                                 face_folder, face_paths):
    files = [str(p) for p in face_paths[0][:3]]
    expected = skmood.load(shipped).predict_proba(files)
    for argv in (["predict", *files], ["predict", "--model", "pretrained", *files],
                 ["predict", str(shipped), *files], ["predict", *files, "--model", str(shipped)]):
        code, out, err = run(capsys, *argv, "--format", "json")
        assert code == 0, err
        rows = json.loads(out)
        assert [r["path"] for r in rows] == files
        np.testing.assert_allclose([[r["happy"], r["sad"]] for r in rows], expected, rtol=1e-6)
    code, out, err = run(capsys, "evaluate", face_folder, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["model"] == "pretrained" and report["n_images"] == N_FACES
    assert "using skmood's pretrained model" in err


def test_evaluate_takes_one_or_two_positional_arguments(capsys, shipped, face_folder, tmp_path):
    code, _, err = run(capsys, "evaluate", shipped, face_folder, tmp_path)
    assert code == 1
    assert_one_line_error(err, "[MODEL] DATA_DIR", "3 arguments")


def test_a_missing_pretrained_model_is_one_clear_line(capsys, face_paths, monkeypatch):
    import skmood._pretrained as pretrained

    monkeypatch.setattr(pretrained, "PRETRAINED_FILE", "no-such-model.skmood")
    code, out, err = run(capsys, "predict", str(face_paths[0][0]))
    assert code == 1 and out == ""
    assert_one_line_error(err, "pretrained model is not in this installation",
                          "scripts/train_pretrained.py")
