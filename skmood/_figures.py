"""The figures of the evaluation report, drawn with matplotlib (private).

Each function takes predictions (no model, no Keras) and returns a
:class:`matplotlib.figure.Figure` drawn by scikit-learn's ``*Display``
classes where one exists. Figures are made without :mod:`matplotlib.pyplot`'s
figure manager, on the Agg canvas, so nothing opens a window or changes the
backend of the process; :func:`save_png` writes them. matplotlib is the
optional extra ``skmood[plots]``: :func:`require_matplotlib` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["coverage_figure", "confusion_figure", "history_figure", "new_figure",
           "precision_recall_figure", "reliability_figure", "require_matplotlib",
           "roc_figure", "save_png"]

#: The install command the ImportError names.
INSTALL = "pip install 'skmood[plots]'"


def require_matplotlib(owner: str) -> None:
    """Import matplotlib, or raise ImportError naming the ``skmood[plots]`` extra."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{owner} draws its figures with matplotlib, which is not installed; install "
            f"the plots extra: {INSTALL}") from exc


def new_figure(n_axes: int = 1, size: tuple[float, float] = (4.8, 4.0)) -> tuple[Any, list]:
    """A figure of ``n_axes`` side by side on an Agg canvas, and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * n_axes, size[1]), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(np.atleast_1d(fig.subplots(1, n_axes)))


def save_png(fig: Any, path: str, dpi: int = 100) -> None:
    """Write ``fig`` as a PNG file."""
    fig.savefig(path, format="png", dpi=dpi)


def confusion_figure(y_true: Sequence[Any], y_pred: Sequence[Any],
                     classes: Sequence[Any]) -> Any:
    """The confusion matrix in counts and normalised by true class (recall on the diagonal)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, (counts, normalised) = new_figure(2)
    labels = list(classes)
    names = [str(c) for c in labels]
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, display_labels=names,
                                            ax=counts, colorbar=False, cmap="Blues")
    counts.set_title("counts")
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, display_labels=names,
                                            normalize="true", values_format=".2f",
                                            ax=normalised, colorbar=False, cmap="Blues")
    normalised.set_title("normalised by true class")
    return fig


def roc_figure(y_true: np.ndarray, score: np.ndarray, positive_class: Any) -> Any:
    """The ROC curve of ``score``, the probability of ``positive_class``; AUC in the legend."""
    from sklearn.metrics import RocCurveDisplay

    fig, (ax,) = new_figure()
    RocCurveDisplay.from_predictions(y_true, score, pos_label=positive_class, ax=ax,
                                     name=f"p({positive_class})", plot_chance_level=True)
    ax.set_title(f"ROC curve (positive class: {positive_class})")
    return fig


def precision_recall_figure(y_true: np.ndarray, score: np.ndarray,
                            positive_class: Any) -> Any:
    """The precision-recall curve, its average precision (AP) in the legend."""
    from sklearn.metrics import PrecisionRecallDisplay

    fig, (ax,) = new_figure()
    PrecisionRecallDisplay.from_predictions(y_true, score, pos_label=positive_class, ax=ax,
                                            name=f"p({positive_class})", plot_chance_level=True)
    ax.set_title(f"precision-recall (positive class: {positive_class})")
    return fig


def reliability_figure(y_true: np.ndarray, score: np.ndarray, positive_class: Any,
                       brier: float, n_bins: int = 10) -> Any:
    """The reliability (calibration) curve, with the Brier score in the title."""
    from sklearn.calibration import CalibrationDisplay

    fig, (ax,) = new_figure()
    CalibrationDisplay.from_predictions(y_true, score, n_bins=n_bins, pos_label=positive_class,
                                        ax=ax, name=f"p({positive_class})")
    ax.set_title(f"reliability, {n_bins} bins (Brier score {brier:.4f})")
    return fig


def history_figure(history: Mapping[str, Sequence[float]]) -> Any | None:
    """Loss and accuracy per epoch, training and validation; None without history."""
    from matplotlib.ticker import MaxNLocator

    panels = [m for m in ("loss", "accuracy") if history.get(m) or history.get(f"val_{m}")]
    if not panels:
        return None
    fig, axes = new_figure(len(panels))
    for ax, metric in zip(axes, panels):
        for key, name in ((metric, "training"), (f"val_{metric}", "validation")):
            values = history.get(key) or []
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3,
                        label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.legend()
        ax.grid(alpha=0.3)
    return fig


def coverage_figure(curve: Sequence[Mapping[str, Any]]) -> Any:
    """Accuracy on the answered images against the fraction answered, per ``min_confidence``."""
    fig, (ax,) = new_figure()
    points = [c for c in curve if c["accuracy"] is not None]
    ax.plot([c["coverage"] for c in points], [c["accuracy"] for c in points], marker="o")
    for c in points:
        ax.annotate(f"{c['min_confidence']:g}", (c["coverage"], c["accuracy"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("coverage (fraction answered, not 'unsure')")
    ax.set_ylabel("accuracy on the answered images")
    ax.set_title("accuracy vs coverage, labelled by min_confidence")
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    return fig
