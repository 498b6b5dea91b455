"""Progress bars (:mod:`skmood._progress`): in the command line on a terminal only.

``skmood predict``/``evaluate`` draw a bar of files (done, images/s, time
left) on stderr and ``skmood train`` Keras' own per-batch bar on stdout, when
that stream is a terminal and ``-q`` is not given. In-process tests make the
streams look like terminals (``is_terminal``); one test runs the command on a
real pseudo-terminal. The Python API keeps Keras' ``verbose`` semantics.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

import skmood
from skmood import _progress
from skmood.cli import main

N_FACES = 24  # images in the conftest ``face_folder``


@pytest.fixture
def terminal(monkeypatch):
    """Every stream is a terminal, for the command line's progress bars."""
    monkeypatch.setattr(_progress, "is_terminal", lambda stream: True)


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_wanted_on_a_terminal_without_quiet_only():
    assert _progress.wanted(_Tty())
    assert not _progress.wanted(_Tty(), quiet=True)
    assert not _progress.wanted(io.StringIO())
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    assert not _progress.wanted(closed) and not _progress.wanted(object())


def test_file_progress_shows_files_done_rate_and_time_left():
    stream = io.StringIO()
    with _progress.file_progress(3, enabled=True, desc="predicting", stream=stream) as advance:
        advance(2)
        advance(1)
    text = stream.getvalue()
    assert "predicting" in text and "3/3" in text and "img/s" in text
    silent = io.StringIO()
    with _progress.file_progress(3, enabled=False, stream=silent) as advance:
        advance(3)
    assert silent.getvalue() == ""


def test_batch_progress_counts_images_of_batches(capsys):
    assert _progress.batch_progress(2, 300, 256, verbose=0) is None  # the API: silent
    with _progress.predict_progress(enabled=False):
        assert _progress.batch_progress(2, 300, 256, verbose=0) is None
    bars = []
    token = _progress._new_bar.set(lambda n: bars.append([n]) or bars[-1].append)
    try:
        update = _progress.batch_progress(2, 300, 256, verbose=0)
        update(1)
        update(2)
    finally:
        _progress._new_bar.reset(token)
    assert bars == [[300, 256, 44]]  # a bar of 300 images, advanced per batch
    with _progress.predict_progress(enabled=True, desc="scoring"):
        _progress.batch_progress(2, 300, 256, verbose=0)(2)
    err = capsys.readouterr().err
    assert "300/300" in err and "scoring" in err
    assert _progress._new_bar.get() is None  # the context is reset


def test_predict_proba_reports_to_the_active_bar(tiny_fitted, face_paths, capsys):
    paths, _ = face_paths
    with _progress.predict_progress(enabled=True):
        tiny_fitted.predict_proba(paths)
    out, err = capsys.readouterr()
    assert f"{N_FACES}/{N_FACES}" in err and out == ""


def test_the_python_api_keeps_keras_verbose(tiny_fitted, face_paths, capsys):
    paths, _ = face_paths
    tiny_fitted.predict_proba(paths)
    assert capsys.readouterr() == ("", "")  # verbose=0: silent
    loud = tiny_fitted.set_params(verbose=1)
    try:
        with _progress.predict_progress(enabled=True):  # Keras' bar wins with verbose
            loud.predict_proba(paths)
    finally:
        tiny_fitted.set_params(verbose=0)
    out, err = capsys.readouterr()
    assert "1/1" in out and "img/s" not in err


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_cli_bar_on_a_terminal_stdout_stays_clean(command, terminal, capsys, tiny_fitted_file,
                                                  face_folder):
    assert main([command, str(tiny_fitted_file), str(face_folder), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    json.loads(out)  # nothing but the JSON
    assert "predicting" in err and f"{N_FACES}/{N_FACES}" in err and "img/s" in err


def test_cli_bar_when_cropping_faces(terminal, capsys, tiny_fitted_file, face_folder):
    assert main(["predict", str(tiny_fitted_file), str(face_folder), "--crop-faces",
                 "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == N_FACES and f"{N_FACES}/{N_FACES}" in err


@pytest.mark.parametrize("quiet", [True, False], ids=["-q", "not a terminal"])
def test_cli_quiet_or_not_a_terminal_draws_no_bar(quiet, capsys, monkeypatch, tiny_fitted_file,
                                                  face_folder):
    if quiet:
        monkeypatch.setattr(_progress, "is_terminal", lambda stream: True)
    argv = ["predict", str(tiny_fitted_file), str(face_folder)] + (["-q"] if quiet else [])
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "img/s" not in err and f"{N_FACES}/{N_FACES}" not in err


def test_cli_train_draws_keras_bar_within_each_epoch(terminal, capsys, face_folder, tmp_path):
    model = tmp_path / "model.skmood"
    assert main(["train", str(face_folder), "-o", str(model), "--image-size", "16", "16",
                 "--conv-filters", "4", "--dense-units", "8", "--epochs", "2",
                 "--batch-size", "8", "--random-state", "0"]) == 0
    out, err = capsys.readouterr()
    steps = -(-N_FACES // 8)
    assert "Epoch 1/2" in out and "Epoch 2/2" in out  # Keras' own bar, on stdout
    assert f"{steps}/{steps}" in out and "step" in out
    assert "epoch 1/2:" not in err  # its per-epoch log lines are held back meanwhile
    assert "trained HappySadClassifier" in out
    assert skmood.load(model).verbose == 0  # the estimator's verbose is untouched


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_entry_point_on_a_pseudo_terminal(tiny_fitted_file, face_folder):
    """stderr on a real pseudo-terminal: the bar; stdout piped: only the JSON."""
    master, slave = os.openpty()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "skmood", "predict", str(tiny_fitted_file),
                             str(face_folder), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read().decode()
    assert proc.wait(timeout=120) == 0
    terminal_text = b"".join(chunks).decode(errors="replace")
    assert f"{N_FACES}/{N_FACES}" in terminal_text and "img/s" in terminal_text
    assert len(json.loads(out)) == N_FACES
