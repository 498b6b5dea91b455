"""Load a folder of images laid out as one sub-folder per class."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from .. import _paths
from ..exceptions import DatasetError

__all__ = ["IMAGE_EXTENSIONS", "find_images", "load_image_folder"]

logger = logging.getLogger(__name__)

#: File extensions (lower case, with the dot) treated as images by default.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
)

_N_EXAMPLES = 5


def load_image_folder(
    directory: str | os.PathLike[str],
    *,
    classes: Sequence[str] | None = None,
    extensions: Iterable[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """List the images of a folder that has one sub-folder per class.

    The name of each sub-folder is the class label of the images below it,
    for example ``data/happy/001.png`` has label ``"happy"``. Each class
    folder is walked recursively, following symbolic links (a link that
    leads back to a folder already visited is not entered again). Only
    files whose extension is in ``extensions`` (compared case-insensitively)
    are kept; other files are skipped and their count is logged at INFO
    level. Hidden files and folders, whose names start with ``"."``, are
    skipped. No image is opened: this only lists paths.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding one sub-folder per class: a local path, or a URL
        such as ``"s3://bucket/data"`` (object storage, through fsspec: see
        :ref:`object-storage`).
    classes : sequence of str, default=None
        Names of the class sub-folders to use; other sub-folders are
        ignored. By default every non-hidden sub-folder is a class.
    extensions : iterable of str, default=None
        File extensions to treat as images, such as ``(".png", ".jpg")``;
        the leading dot is optional and case does not matter. By default
        :data:`IMAGE_EXTENSIONS` is used.

    Returns
    -------
    paths : ndarray of shape (n_samples,), dtype=object
        Path of each image as a ``str``, built as
        ``os.path.join(str(directory), class_name, relative_path)``, so it is
        absolute only if ``directory`` is; for a URL, joined with ``/``
        (``"s3://bucket/data/happy/001.png"``).
    labels : ndarray of shape (n_samples,), dtype=object
        Class name (sub-folder name, a ``str``) of each image.

    Raises
    ------
    DatasetError
        If ``directory`` does not exist or is not a folder, if it has no
        class sub-folders, if a name in ``classes`` is not one of them, if a
        class folder has no images, or if fewer than two classes have
        images, or if a URL cannot be listed (bad URL, permission denied,
        storage error; the message names it).
        :class:`~skmood.exceptions.DatasetError` is a ``ValueError``.
    ImportError
        For a URL, if fsspec or the package of its protocol is not installed
        (``pip install 'skmood[cloud]'``).
    TypeError
        If ``classes`` or ``extensions`` is a single string instead of a
        collection of strings.

    See Also
    --------
    make_faces : Generate a synthetic happy/sad data set, optionally as a
        folder in this layout.

    Notes
    -----
    The order is deterministic: classes sorted by name, then paths sorted
    within each class.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmood.datasets import load_image_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name in ["happy/a.png", "happy/b.JPG", "sad/c.png", "sad/notes.txt"]:
    ...         os.makedirs(os.path.dirname(os.path.join(tmp, name)), exist_ok=True)
    ...         open(os.path.join(tmp, name), "wb").close()
    ...     paths, labels = load_image_folder(tmp)
    ...     [os.path.relpath(p, tmp) for p in paths]
    ['happy/a.png', 'happy/b.JPG', 'sad/c.png']
    >>> labels.tolist()
    ['happy', 'happy', 'sad']
    """
    name = "load_image_folder"
    root = os.fspath(directory)
    with _storage_errors(name, root):
        kind = _paths.path_kind(root)
    if kind is None:
        raise DatasetError(
            f"{name}: directory {root!r} does not exist; expected a folder "
            "with one sub-folder per class (e.g. happy/ and sad/)."
        )
    if kind != "directory":
        raise DatasetError(
            f"{name}: {root!r} is a file, not a directory; expected a folder "
            "with one sub-folder per class (e.g. happy/ and sad/)."
        )
    exts = _check_extensions(extensions)

    with _storage_errors(name, root):
        available = _class_folders(root)
    if not available:
        raise DatasetError(
            f"{name}: {root!r} has no class sub-folders; expected one "
            "sub-folder per class (e.g. happy/ and sad/) holding the images."
        )
    selected = available if classes is None else _check_classes(classes, available, root)

    paths: list[str] = []
    labels: list[str] = []
    empty: list[str] = []
    join = _paths.join if _paths.is_url(root) else os.path.join
    for cls in selected:
        with _storage_errors(name, _paths.join(root, cls)):
            images, skipped = _list_images(_paths.join(root, cls), exts)
        if skipped:
            logger.info(
                "%s: skipped %d non-image file(s) in class folder %r of %r, e.g. %s",
                name,
                len(skipped),
                cls,
                root,
                ", ".join(repr(s) for s in skipped[:_N_EXAMPLES]),
            )
        if not images:
            empty.append(cls)
        paths.extend(join(root, cls, rel) for rel in images)
        labels.extend([cls] * len(images))

    if empty:
        raise DatasetError(
            f"{name}: class folder(s) {', '.join(map(repr, empty))} in {root!r} "
            f"contain no images; expected files with extensions {', '.join(exts)}."
        )
    if len(selected) < 2:
        raise DatasetError(
            f"{name}: needs at least two classes, found only {selected[0]!r} in "
            f"{root!r}; expected one sub-folder of images per class."
        )
    return _object_array(paths), _object_array(labels)


def find_images(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """List image files: files as given, folders searched recursively.

    Folders are walked as :func:`load_image_folder` walks a class folder (the
    one folder walker of skmood): symbolic links followed without loops,
    hidden files and folders skipped, files with an extension in
    :data:`IMAGE_EXTENSIONS` kept, in sorted order. What ``skmood predict``
    classifies.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Image files (kept whatever their extension) and folders, local or
        URLs (``"s3://bucket/photos/"``).

    Returns
    -------
    files : list of str
        The images, in the order of ``paths``.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    DatasetError
        If no image is found, or a URL cannot be looked up or listed (bad
        URL, permission denied, storage error; the message names it).

    Examples
    --------
    >>> import os, tempfile
    >>> from skmood.datasets import find_images
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name in ["b.png", "sub/a.jpg", "notes.txt", ".hidden.png"]:
    ...         os.makedirs(os.path.dirname(os.path.join(tmp, name)), exist_ok=True)
    ...         open(os.path.join(tmp, name), "wb").close()
    ...     [os.path.relpath(p, tmp) for p in find_images([tmp])]
    ['b.png', 'sub/a.jpg']
    """
    files: list[str] = []
    for path in map(os.fspath, paths):
        with _storage_errors("find_images", path):
            kind = _paths.path_kind(path)
            if kind == "directory":
                found, _ = _list_images(path, IMAGE_EXTENSIONS)
                logger.debug("found %d image(s) in folder %r", len(found), path)
                join = _paths.join if _paths.is_url(path) else os.path.join
                files += [join(path, rel) for rel in found]
        if kind == "file":
            files.append(path)
        elif kind is None:
            raise FileNotFoundError(
                f"image path {path!r} does not exist; expected image files or folders of images."
            )
    if not files:
        raise DatasetError(
            f"no image found in {', '.join(map(repr, list(paths)[:5]))}; expected image files "
            f"or folders holding files with extensions {', '.join(IMAGE_EXTENSIONS)}."
        )
    return files


def _check_extensions(extensions: Iterable[str] | None) -> tuple[str, ...]:
    """Return the extensions lower-cased and with a leading dot."""
    if extensions is None:
        return IMAGE_EXTENSIONS
    if isinstance(extensions, (str, bytes)):
        raise TypeError(
            f"load_image_folder: extensions must be a collection of strings such "
            f"as ('.png', '.jpg'), got the single string {extensions!r}."
        )
    exts = []
    for ext in extensions:
        if not isinstance(ext, str) or ext.strip(".") == "":
            raise TypeError(
                "load_image_folder: extensions must contain non-empty strings "
                f"such as '.png', got {ext!r}."
            )
        ext = ext.lower()
        exts.append(ext if ext.startswith(".") else "." + ext)
    if not exts:
        raise ValueError(
            "load_image_folder: extensions must not be empty, got "
            f"{extensions!r}; expected e.g. ('.png', '.jpg')."
        )
    return tuple(dict.fromkeys(exts))


def _check_classes(classes: Sequence[str], available: list[str], root: str) -> list[str]:
    """Validate the requested class names against the sub-folders found."""
    if isinstance(classes, (str, bytes)):
        raise TypeError(
            "load_image_folder: classes must be a sequence of folder names such "
            f"as ['happy', 'sad'], got the single string {classes!r}."
        )
    requested = list(dict.fromkeys(classes))
    if not requested:
        raise DatasetError(
            "load_image_folder: classes must name at least two class folders, "
            f"got {classes!r}; available sub-folders are {', '.join(map(repr, available))}."
        )
    missing = [c for c in requested if c not in available]
    if missing:
        raise DatasetError(
            f"load_image_folder: class folder(s) {', '.join(map(repr, missing))} "
            f"not found in {root!r}; available sub-folders are "
            f"{', '.join(map(repr, available))}."
        )
    return sorted(requested)


@contextmanager
def _storage_errors(owner: str, url: str) -> Iterator[None]:
    """Failures of a URL (bad, refused, storage down) as one DatasetError naming it."""
    try:
        yield
    except (OSError, _paths.BadURLError) as exc:
        if not _paths.is_url(url):
            raise
        raise DatasetError(
            f"{owner}: cannot list {url!r} ({_paths.describe(exc)}); expected a readable "
            "folder of images."
        ) from exc


def _class_folders(root: str) -> list[str]:
    """Sorted names of the non-hidden sub-folders of ``root``."""
    if _paths.is_url(root):
        return [e for e in _paths.list_folders(root) if not e.startswith(".")]
    return sorted(e for e in os.listdir(root)
                  if not e.startswith(".") and os.path.isdir(os.path.join(root, e)))


def _list_images(class_dir: str, exts: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Walk ``class_dir``; return sorted relative image paths and skipped names."""
    if _paths.is_url(class_dir):
        return _sort_out(_url_files(class_dir), exts)
    files: list[str] = []
    seen = {_dir_key(class_dir)}
    for current, dirnames, filenames in os.walk(class_dir, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            full = os.path.join(current, d)
            if d.startswith("."):
                logger.debug("load_image_folder: skipped hidden folder %r", full)
                continue
            key = _dir_key(full)
            if key in seen:  # a symlink back to a folder already walked
                logger.debug("load_image_folder: not re-entering %r (loop)", full)
                continue
            seen.add(key)
            keep.append(d)
        dirnames[:] = keep
        rel_dir = os.path.relpath(current, class_dir)
        files += [(f if rel_dir == os.curdir else os.path.join(rel_dir, f), f)
                  for f in filenames]
    return _sort_out(files, exts, lambda rel: os.path.isfile(os.path.join(class_dir, rel)))


def _url_files(folder: str) -> list[tuple[str, str]]:
    """``(relative path, name)`` of the files below the URL ``folder``, not in hidden folders."""
    files = []
    for rel in _paths.list_files(folder):
        parts = rel.split("/")
        if any(p.startswith(".") for p in parts[:-1]):
            logger.debug("load_image_folder: skipped %r in a hidden folder", rel)
        else:
            files.append((rel, parts[-1]))
    return files


def _sort_out(files: Iterable[tuple[str, str]], exts: tuple[str, ...],
              is_file: Callable[[str], bool] | None = None) -> tuple[list[str], list[str]]:
    """``(images, skipped)`` among ``files`` (relative path, name), both sorted.

    Hidden files are left out, files of other extensions skipped; ``is_file``
    tells a broken link from an image (local folders).
    """
    images: list[str] = []
    skipped: list[str] = []
    for rel, name in files:
        if name.startswith("."):
            logger.debug("load_image_folder: skipped hidden file %r", rel)
        elif os.path.splitext(name)[1].lower() not in exts:
            skipped.append(rel)
        elif is_file is not None and not is_file(rel):
            logger.warning("load_image_folder: skipped broken link %r", rel)
        else:
            images.append(rel)
    return sorted(images), sorted(skipped)


def _dir_key(path: str) -> tuple[int, int]:
    """Identify a folder by device and inode, which symlinks share."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def _object_array(values: list[str]) -> np.ndarray:
    """Build a 1-D object array of Python strings."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
