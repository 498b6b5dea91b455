"""Version shims and the private scikit-learn API skmood relies on.

Everything version-dependent or private from scikit-learn is imported here and
only here, so a scikit-learn upgrade touches one file (the approach of keras'
``wrappers/fixes.py`` and imbalanced-learn's use of ``sklearn-compat``).
"""

from __future__ import annotations

# Private in scikit-learn, stable since 1.2; imbalanced-learn uses them the same way.
# Drop the direct import once scikit-learn makes parameter validation public.
from sklearn.utils._param_validation import (  # noqa: F401
    HasMethods,
    Interval,
    Options,
    StrOptions,
)

# `_fit_context` is private in scikit-learn (1.3+); sklearn-compat keeps one
# spelling across the versions we support (>= 1.6).
from sklearn_compat.base import _fit_context  # noqa: F401

__all__ = ["HasMethods", "Interval", "Options", "StrOptions", "_fit_context"]
