"""Serve a fitted model over HTTP: a JSON API and a web page (``skmood serve``).

``create_app(model)`` builds a FastAPI application with ``POST /predict``,
``GET /model``, ``GET /health``, the OpenAPI document at ``/openapi.json``
(browsable at ``/docs``) and a web page at ``/`` that classifies chosen files
or a live webcam. ``run(model)`` serves it with uvicorn. Needs the ``serve``
extra: ``pip install 'skmood[serve]'``.

Examples
--------
>>> from skmood.serve import create_app  # doctest: +SKIP
>>> app = create_app("model.skmood", api_key="secret")  # doctest: +SKIP
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import python_multipart  # noqa: F401  (uploads; FastAPI needs it for forms)
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"skmood.serve needs FastAPI, uvicorn and python-multipart ({exc}); install them "
        "with: pip install 'skmood[serve]'."
    ) from exc

from ._app import Settings, create_app
from ._run import BackgroundServer, run

__all__ = ["BackgroundServer", "Settings", "create_app", "run"]
