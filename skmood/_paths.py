"""Paths that are URLs: images, folders and models on object storage (private).

A path with a protocol (``s3://bucket/x.png``, ``gs://bucket/data``,
``memory://x.png``, fsspec's chained ``simplecache::s3://...``) is read,
listed and written here, through `fsspec <https://filesystem-spec.readthedocs.io>`_;
every other path is a local path, which callers handle as before without
coming here. fsspec is imported on the first URL only, so ``import skmood``
and local paths never load it, and this module needs nothing beyond the
standard library to import.

Every failure names the URL and is one of: :class:`FileNotFoundError`,
:class:`IsADirectoryError`, :class:`PermissionError`, another
:class:`OSError` (a storage or network failure), :class:`BadURLError` (a
URL fsspec cannot resolve: unknown protocol, malformed) or
:class:`ImportError` (fsspec, or the package of the URL's protocol, is not
installed). Callers turn them into their own errors
(:class:`~skmood.ImageReadError` for an image,
:class:`~skmood.exceptions.DatasetError` for a folder).

Credentials and endpoints come from fsspec's configuration
(``fsspec.config.conf``, ``FSSPEC_<PROTOCOL>_<OPTION>`` environment
variables, its JSON config files) and from each storage's own (for S3:
``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ``~/.aws``), so that every
read -- in fit's worker threads, the command line, a Dask worker -- uses the
same ones.
"""

from __future__ import annotations

import os
import posixpath
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["BadURLError", "describe", "exists", "is_url", "join", "list_files", "list_folders", "missing",
           "path_kind", "read_bytes", "read_many", "remove", "size", "upload"]

#: A protocol (two characters or more: ``C://`` is a Windows drive), possibly
#: fsspec-chained (``simplecache::s3://``), then ``://``.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+(?:::[A-Za-z][A-Za-z0-9+.\-]+)*://")

_EXTRA = "pip install 'skmood[cloud]'"


class BadURLError(ValueError):
    """A URL fsspec cannot resolve: unknown protocol or malformed (names the URL).

    ``reason`` is the message without the URL.
    """

    def __init__(self, url: str, reason: str):
        super().__init__(f"bad URL {url!r}: {reason}")
        self.reason = reason


def is_url(path: Any) -> bool:
    """True for a ``str`` with a protocol, such as ``"s3://bucket/x.png"``."""
    return isinstance(path, str) and _URL.match(path) is not None


def join(base: str, *names: str) -> str:
    """``base/name/...``: :func:`os.path.join` for local paths, ``/`` for URLs."""
    if not is_url(base):
        return os.path.join(base, *names)
    return "/".join([base.rstrip("/"), *names])


def _filesystem(url: str) -> tuple[Any, str]:
    """``(fsspec filesystem, path within it)`` of ``url``."""
    try:
        from fsspec.core import url_to_fs
    except ImportError as exc:
        raise ImportError(
            f"{url!r} is a URL, read through fsspec, which is not installed; {_EXTRA} "
            "(fsspec with s3fs and gcsfs)."
        ) from exc
    try:
        return url_to_fs(url)
    except ImportError as exc:  # a known protocol whose package is missing
        raise ImportError(f"cannot open {url!r}: {exc}; {_EXTRA} installs s3fs (s3://) and "
                          "gcsfs (gs://), other protocols need the package named.") from exc
    except Exception as exc:  # unknown protocol, malformed URL, bad configured options
        reason = str(exc)
        if reason.startswith("Protocol not known"):
            reason = (f"unknown protocol {url.split('://', 1)[0]!r}; expected one fsspec knows, "
                      "such as s3://, gs://, memory:// or file://")
        raise BadURLError(url, reason) from exc


def describe(exc: BaseException) -> str:
    """Why a URL failed, for messages that name the URL themselves.

    ``"not found"``, ``"permission denied: <the storage's words>"``,
    ``"bad URL: unknown protocol 'foo'; ..."``, ... for an error of this module.
    """
    if isinstance(exc, BadURLError):
        return f"bad URL: {exc.reason}"
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder (a prefix), not a file"
    cause = exc.__cause__ or exc
    words = str(cause) or type(cause).__name__
    if isinstance(exc, PermissionError):
        return f"permission denied: {words}"
    return f"storage error: {words}"


def _refuses_url(exc: BaseException) -> bool:
    """Whether the storage's client refused the URL itself (e.g. an invalid bucket name)."""
    return isinstance(exc, (ValueError, TypeError)) or type(exc).__name__.endswith(
        "ValidationError")


def _storage_error(exc: BaseException, url: str, doing: str) -> OSError | BadURLError:
    """``exc`` (from fsspec or the storage's client) as an ``OSError`` kind naming ``url``.

    The client's refusal of the URL itself (botocore's ``ParamValidationError``
    for an invalid bucket name, a ``ValueError``) is a :class:`BadURLError`.
    """
    reason = str(exc) or type(exc).__name__
    if _refuses_url(exc):
        words = " ".join(reason.split())
        return BadURLError(url, words if len(words) <= 200 else words[:197] + "...")
    for kind in (FileNotFoundError, IsADirectoryError, PermissionError):
        if isinstance(exc, kind):
            return kind(f"cannot {doing} {url!r}: {reason}")
    return OSError(f"cannot {doing} {url!r}: {type(exc).__name__}: {reason}")


def read_bytes(url: str) -> bytes:
    """The content of the file (object) at ``url``.

    One request on object storage: a ranged GET from byte 0, which needs no
    HEAD for the size first. A folder (a prefix) gives :class:`IsADirectoryError`.
    """
    fs, path = _filesystem(url)
    try:
        return fs.cat_file(path, start=0)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        error: BaseException = exc
    except Exception as exc:  # noqa: BLE001 - the storage client's own kinds
        error = exc
        if "range" in str(exc).lower():  # S3 refuses a range on an empty object: plain GET
            try:
                return fs.cat_file(path)
            except Exception as again:  # noqa: BLE001
                error = again
    if (isinstance(error, FileNotFoundError) or _refuses_url(error)) and _isdir(fs, path):
        error = IsADirectoryError("it is a folder (a prefix), not a file")
    raise _storage_error(error, url, "read") from error


#: Requests in flight at once in :func:`read_many`: object storage is bound by
#: the latency of each request, not by bandwidth, for files of image sizes.
CONCURRENT_READS = 16


def read_many(urls: list[str]) -> list[bytes | OSError | BadURLError]:
    """:func:`read_bytes` of each URL, :data:`CONCURRENT_READS` at a time, in order.

    A URL that cannot be read gives its error in its place; a missing
    package (``ImportError``) is raised.
    """
    def read(url: str) -> bytes | OSError | BadURLError:
        try:
            return read_bytes(url)
        except (OSError, BadURLError) as exc:
            return exc

    if len(urls) < 2:
        return [read(u) for u in urls]
    with ThreadPoolExecutor(max_workers=min(CONCURRENT_READS, len(urls))) as pool:
        return list(pool.map(read, urls))


def _isdir(fs: Any, path: str) -> bool:
    try:
        return bool(fs.isdir(path))
    except Exception:  # noqa: BLE001 - only refines a message
        return False


def path_kind(path: str) -> str | None:
    """``"file"``, ``"directory"`` or ``None`` (nothing there), local or URL."""
    if not is_url(path):
        return "directory" if os.path.isdir(path) else "file" if os.path.exists(path) else None
    fs, inner = _filesystem(path)
    try:
        info = fs.info(inner)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(exc, path, "look up") from exc
    return "directory" if info.get("type") == "directory" else "file"


def exists(path: str) -> bool:
    """Whether ``path`` (local or URL) is an existing file or folder."""
    return path_kind(path) is not None


def size(path: str) -> int:
    """Size in bytes of the file at ``path`` (local or URL)."""
    if not is_url(path):
        return os.path.getsize(path)
    fs, inner = _filesystem(path)
    try:
        return int(fs.size(inner))
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(exc, path, "look up") from exc


def remove(path: str) -> None:
    """Delete the file at ``path`` (local or URL); a missing one is not an error."""
    if not is_url(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    fs, inner = _filesystem(path)
    try:
        fs.rm_file(inner)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(exc, path, "delete") from exc


def upload(local: str, url: str) -> None:
    """Copy the local file ``local`` to ``url`` in one piece.

    An object store makes an upload visible only once complete, so, like the
    rename of a local atomic write, readers never see a partial file.
    """
    fs, inner = _filesystem(url)
    try:
        fs.put_file(local, inner)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(exc, url, "write") from exc


def list_folders(url: str) -> list[str]:
    """Names of the folders (prefixes) directly in the folder at ``url``, sorted."""
    fs, inner = _filesystem(url)
    try:
        entries = fs.ls(inner, detail=True)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(exc, url, "list") from exc
    return sorted(posixpath.basename(e["name"].rstrip("/")) for e in entries
                  if e.get("type") == "directory")


def list_files(url: str) -> list[str]:
    """Paths, relative to the folder at ``url`` (``/``-separated), of every file below it.

    One recursive listing (on S3, pages of up to 1000 keys without a request
    per sub-folder); unordered.
    """
    fs, inner = _filesystem(url)
    try:
        found = fs.find(inner, withdirs=False, detail=False)
    except Exception as exc:  # noqa: BLE001
        raise _storage_error(exc, url, "list") from exc
    prefix = inner.rstrip("/") + "/"
    return [f[len(prefix):] for f in found if f.startswith(prefix)]


def missing(urls: list[str]) -> list[str]:
    """The ``urls`` that are certainly not files, in their order.

    One listing per parent folder instead of one request per file (the
    paths of a data set share few parents). A parent that cannot be listed
    (no list permission: objects may still be readable) leaves its files to
    be checked when they are read; a bad URL is missing.
    """
    listed: dict[tuple[int, str], set[str] | None] = {}
    out = []
    for url in urls:
        try:
            fs, inner = _filesystem(url)
        except BadURLError:
            out.append(url)
            continue
        parent = posixpath.dirname(inner.rstrip("/"))
        key = (id(fs), parent)
        if key not in listed:
            try:
                entries = fs.ls(parent, detail=True, refresh=True)  # not a cached listing
                listed[key] = {e["name"].rstrip("/") for e in entries if e.get("type") == "file"}
            except FileNotFoundError:
                listed[key] = set()
            except Exception:  # noqa: BLE001 - unknown: let the read tell
                listed[key] = None
        names = listed[key]
        if names is not None and inner.rstrip("/") not in names:
            out.append(url)
    return out
