"""Sphinx configuration for the skmood documentation.

Build with ``make docs`` (installs the ``docs`` extra, then runs
``python -m sphinx -b html docs docs/_build/html``). The build needs no network
access: intersphinx links to other projects' docs are off unless
``SKMOOD_DOCS_INTERSPHINX=1`` is set. Running the example gallery takes a few
minutes on a CPU; ``-D plot_gallery=0`` skips executing it.
"""

from __future__ import annotations

import os
import sys
from datetime import date

# Quiet TensorFlow's C++ start-up logs while autodoc and the gallery run.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The package is normally installed (editable) in the venv; this also makes a
# plain checkout importable.
sys.path.insert(0, os.path.abspath(".."))

import skmood  # noqa: E402  (cheap: Keras loads only when a network is built)

# -- Project ----------------------------------------------------------------
project = "skmood"
author = "skmood developers"
copyright = f"{date.today().year}, {author}"
release = skmood.__version__
version = ".".join(release.split(".")[:2])

# -- General ----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"

# -- autodoc / autosummary / numpydoc ---------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # the numpydoc sections already give the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ---------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skmood",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "reference_url": {"skmood": None},
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
}

# -- intersphinx (optional: fetching inventories needs the network) ---------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "imblearn": ("https://imbalanced-learn.org/stable", None),
    "keras": ("https://keras.io/api", None),
    "joblib": ("https://joblib.readthedocs.io/en/stable", None),
}
if os.environ.get("SKMOOD_DOCS_INTERSPHINX", "") not in ("", "0"):
    extensions.append("sphinx.ext.intersphinx")

# -- MyST (Markdown pages such as benchmarks.md) ----------------------------
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# -- HTML -------------------------------------------------------------------
try:  # a nicer theme when installed, the built-in one otherwise
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
except ImportError:
    html_theme = "alabaster"
html_title = f"skmood {release}"
html_static_path = ["_static"]
