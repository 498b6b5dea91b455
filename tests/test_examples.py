"""Run every gallery script in examples/ and check what it leaves behind.

Each script runs in a fresh temporary working directory, with matplotlib's
non-interactive Agg backend when matplotlib is installed (the scripts also
run without it). Beyond "it ran", a cheap check per script inspects the
globals it defines: a fitted estimator and scores in [0, 1].
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))


def _in_unit_interval(value) -> bool:
    return 0.0 <= float(value) <= 1.0


def _check_quickstart(ns):
    clf, y_test = ns["clf"], ns["y_test"]
    assert list(clf.classes_) == ["happy", "sad"]
    assert _in_unit_interval(ns["accuracy"])
    assert ns["cm"].shape == (2, 2) and ns["cm"].sum() == len(y_test)
    assert np.allclose(ns["proba"].sum(axis=1), 1.0)


def _check_pipeline_grid_search(ns):
    search = ns["search"]
    assert len(search.cv_results_["params"]) == 2
    assert _in_unit_interval(search.best_score_)
    assert list(search.best_estimator_[-1].classes_) == ["happy", "sad"]
    assert _in_unit_interval(ns["test_accuracy"])


def _check_imbalance(ns):
    scores = ns["scores"]
    assert len(scores) == 3 and all(_in_unit_interval(s) for s in scores.values())
    counts = ns["class_counts"](ns["y_res"])
    assert counts["happy"] == counts["sad"]


def _check_augmentation(ns):
    names = [layer.name for layer in ns["clf"].model_.layers]
    assert {"flip", "rotate", "zoom"} <= set(names)
    assert ns["variants"].shape == (6, 32, 32, 3)
    assert _in_unit_interval(ns["accuracy"])


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
