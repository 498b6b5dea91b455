"""The pretrained model shipped inside the package (``skmood.load_pretrained``)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import skmood
from skmood.datasets import make_faces

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def shipped():
    return skmood.load_pretrained()


def test_it_loads_offline_in_the_safe_format_and_crops_faces_itself(shipped):
    path = skmood._pretrained.pretrained_path()
    with open(path, "rb") as fh:
        assert fh.read(4) == b"PK\x03\x04"  # the safe zip archive, not a pickle
    assert os.path.getsize(path) <= 10e6
    assert isinstance(shipped, skmood.HappySadClassifier)
    assert shipped.face_detector is not None
    assert list(shipped.classes_) == ["happy", "sad"]


def test_it_predicts_on_synthetic_faces(shipped):
    X, _ = make_faces(8, image_size=(64, 64), random_state=0)
    proba = shipped.predict_proba(X)
    assert proba.shape == (8, 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_it_fine_tunes_in_float32_on_a_processor_without_bfloat16(tmp_path):
    # The conftest hides bfloat16 instructions, as on most laptops: the network, trained
    # in mixed bfloat16, continues in float32 (emulated bfloat16 is ~5x as slow).
    X, y = make_faces(24, image_size=(64, 64), random_state=1)
    from skmood._litert import reduced_precision_policies

    model = skmood.load_pretrained()
    assert "mixed_bfloat16" in reduced_precision_policies(model.model_)
    epochs_before = model.n_iter_
    model.set_params(warm_start=True, epochs=1, learning_rate=3e-4, lr_schedule="constant",
                     validation_split=0.0, face_detector=None, batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", skmood.SkmoodWarning)  # its augmentation is as fitted
        model.fit(X, y)
    assert reduced_precision_policies(model.model_) == []  # every layer computes in float32
    assert model.n_iter_ == epochs_before + 1 and np.isfinite(model.history_["loss"][-1])
    skmood.save(model, tmp_path / "mine.skmood")
    again = skmood.load(tmp_path / "mine.skmood")
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X), atol=1e-6)


def test_its_metadata_say_what_it_learned_from_and_how(shipped):
    meta = skmood.pretrained_info()["metadata"]
    assert {"data", "command", "commit", "training_seconds", "scores", "licence",
            "face_detector"} <= set(meta)
    assert meta["command"].startswith("python scripts/train_pretrained.py")
    assert len(meta["commit"]) == 40 and meta["training_seconds"] > 0
    assert set(meta["data"]["never_trained_on"]) == {"fer2013-happy-sad/val",
                                                     "web-happy-sad/val"}
    assert "FER2013" in meta["licence"] and "no licence" in meta["licence"]
    assert meta["face_detector"] == shipped.face_detector
    assert {"held_out_accuracy", "web_val_accuracy", "fer_val_accuracy"} <= set(meta["scores"])


@pytest.mark.slow
def test_the_command_line_answers_without_a_model(tmp_path):
    from PIL import Image

    X, _ = make_faces(2, image_size=(64, 64), random_state=0)
    for i, image in enumerate(X):
        Image.fromarray(image).save(tmp_path / f"face{i}.png")
    proc = subprocess.run([sys.executable, "-m", "skmood", "predict", str(tmp_path / "face0.png"),
                           str(tmp_path / "face1.png"), "--format", "csv"],
                          capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "path,label,happy,sad" and len(lines) == 3
    # TensorFlow's and LiteRT's native start-up lines are not shown (skmood._native_log).
    for noise in ("absl::InitializeLog", "cudart_stub", "cuInit", "XNNPACK"):
        assert noise not in proc.stderr, proc.stderr
    assert all(line.split(",")[1] in ("happy", "sad") for line in lines[1:])


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("split, key", [("web-happy-sad/val", "web_val_accuracy"),
                                        ("fer2013-happy-sad/val", "fer_val_accuracy")])
def test_val_scores_are_the_ones_its_metadata_state(shipped, split, key):
    if not (SHARED / split).is_dir():
        pytest.skip(f"{SHARED / split} is absent (real data lives beside the checkout)")
    X, y = skmood.load_image_folder(SHARED / split)
    accuracy = float(np.mean(shipped.predict(X) == y))
    assert accuracy == pytest.approx(skmood.pretrained_info()["metadata"]["scores"][key],
                                     abs=0.005)
