"""Run every gallery script in examples/ and check what it leaves behind.

Each script runs in a fresh temporary working directory, with matplotlib's
non-interactive Agg backend when matplotlib is installed (the scripts also
run without it). Beyond "it ran", a cheap check per script inspects the
globals it defines: a fitted estimator and, where the script's small network
reliably gets there, held-out scores clearly above chance.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))


def _conv_filters(network) -> list[int]:
    return [layer.filters for layer in network.layers if layer.__class__.__name__ == "Conv2D"]


# Thresholds: chance is 0.5 (balanced test sets, or balanced accuracy); each bound is
# several standard deviations of a chance-level model's score above 0.5 and below what
# the script reaches, measured with its own seeds and with three other seeds of the
# networks (keras' global seed + 100, 200, 300).


def _check_quickstart(ns):
    clf, y_test, cm = ns["clf"], ns["y_test"], ns["cm"]
    assert list(clf.classes_) == ["happy", "sad"]
    assert cm.shape == (2, 2) and cm.sum() == len(y_test)
    assert ns["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    # 0.889 on the 90 held-out faces when written (0.80-0.91 with other seeds).
    assert ns["accuracy"] >= 0.7
    assert np.allclose(ns["proba"].sum(axis=1), 1.0)


def _check_pipeline_grid_search(ns):
    search = ns["search"]
    results = search.cv_results_
    grid = [(8,), (16, 32)]
    assert [p["happysadclassifier__conv_filters"] for p in results["params"]] == grid
    assert search.best_params_ == results["params"][int(np.argmax(results["mean_test_score"]))]
    # The refitted pipeline is the best candidate's: one convolution per conv_filters entry.
    best = search.best_params_["happysadclassifier__conv_filters"]
    assert _conv_filters(search.best_estimator_[-1].model_) == list(best)
    assert list(search.best_estimator_[-1].classes_) == ["happy", "sad"]
    # The held-out accuracy (0.85 when written) is not bounded: with other seeds this
    # small search (two folds of 80 faces) ends at 0.45-0.58, so a bound would test the
    # seed rather than skmood. The script's numbers are printed in the gallery.


def _check_imbalance(ns):
    scores = ns["scores"]
    assert list(scores) == ["no correction", 'class_weight="balanced"', "RandomOverSampler"]
    # Balanced accuracy on 180 held-out faces (36 sad) with the classifier's
    # random_state 1, 2, 3 (2026-12-02): no correction 0.50 / 0.89 / 0.83,
    # class_weight 0.80 / 0.88 / 0.89, oversampling 0.94 / 0.94 / 0.90. One remedy
    # is not always ahead of no correction; the better of the two always was.
    remedies = [scores['class_weight="balanced"'], scores["RandomOverSampler"]]
    assert max(remedies) >= scores["no correction"]
    assert max(remedies) >= 0.75
    counts = ns["class_counts"](ns["y_res"])
    assert counts["happy"] == counts["sad"]


def _check_augmentation(ns):
    names = [layer.name for layer in ns["clf"].model_.layers]
    assert {"flip", "rotate", "zoom"} <= set(names)
    assert ns["variants"].shape == (6, 32, 32, 3)
    # 0.933 on the 120 held-out faces with random_state=1 (2026-12-02; 0.817 and
    # 0.500 with the seeds 2 and 3, as the example says).
    assert ns["accuracy"] >= 0.75


CHECKS = {
    "plot_quickstart": _check_quickstart,
    "plot_pipeline_grid_search": _check_pipeline_grid_search,
    "plot_imbalance": _check_imbalance,
    "plot_augmentation": _check_augmentation,
}


@pytest.fixture
def agg_backend():
    """Use matplotlib's Agg backend if matplotlib is installed; close figures after."""
    try:
        import matplotlib
    except ImportError:
        yield
        return
    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_examples_were_found():
    assert [p.stem for p in EXAMPLES] == sorted(CHECKS), (
        "every examples/plot_*.py needs an entry in CHECKS, and every entry a script"
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path, monkeypatch, agg_backend):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in EXAMPLES_DIR.iterdir())
    ns = runpy.run_path(str(script), run_name="__main__")
    CHECKS[script.stem](ns)
    # Scripts write only into their own temporary folders, never next to
    # themselves or into the working directory.
    assert sorted(p.name for p in EXAMPLES_DIR.iterdir()) == before
    assert list(tmp_path.iterdir()) == []
