"""Doctest collection of ``skmood/`` without the optional extras.

``pytest`` collects every module of ``skmood/`` for doctests. The server
(``skmood[serve]``: FastAPI) and the face detector (``skmood[faces]``: OpenCV)
are optional, so their modules are left out when their dependencies are not
installed (``make test-oldest`` installs ``.[test]`` only); their tests skip
with a reason of their own.
"""

from __future__ import annotations

import importlib.util

collect_ignore: list[str] = []
if any(importlib.util.find_spec(m) is None for m in ("fastapi", "uvicorn", "python_multipart")):
    collect_ignore.append("skmood/serve")
if importlib.util.find_spec("cv2") is None:
    collect_ignore.append("skmood/_face_crop.py")
