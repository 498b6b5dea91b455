"""The ``skmood`` command line: demo, train, predict, evaluate, explain, serve, export.

Run ``skmood COMMAND --help`` for the options of each command. TensorFlow is
imported only by the commands that need it, so ``skmood --help`` stays fast,
and ``predict`` and ``serve`` on an exported model import neither TensorFlow
nor scikit-learn.

Modules: ``_parser`` (the argument parser), ``_train`` (``skmood train``,
checkpoints, resume, warm start), ``_explain`` (``skmood explain``, Grad-CAM
overlays), ``_commands`` (the other commands),
``_format`` (tables, CSV/JSON output) and ``_main`` (logging, errors, exit
codes).
"""

from ._main import main
from ._parser import build_parser

__all__ = ["build_parser", "main"]
