"""Exported model files: what they hold besides the network, and how it is checked (private).

One home for the layout of the files :func:`skmood.export` writes and
:mod:`skmood.runtime` reads. Every exported model carries one JSON document,
its *metadata*: the class names, the input contract, the preprocessing done
outside the file (face detection), skmood's version, the export format
version and a SHA-256 checksum. Where it lives:

- **ONNX** (``.onnx``): the model's ``metadata_props`` entry ``"skmood"``
  (onnxruntime shows it as ``get_modelmeta().custom_metadata_map``), written
  as the last field of the file.
- **LiteRT** (``.tflite``): the flatbuffer's ``metadata`` entry ``"skmood"``,
  whose buffer holds the JSON.
- **SavedModel** (a folder): ``assets.extra/skmood.json`` (TensorFlow ignores
  that folder).

The checksum (``"sha256"``) covers the whole file: the SHA-256 of its bytes
with the 64 hex digits of the checksum itself replaced by zeros. So any
change after export (a truncated download, a flipped byte, an edited
weight) fails :func:`read_metadata` with a :class:`~skmood.ModelFileError`.
For a SavedModel it covers every file of the folder but the metadata.

Reading needs neither TensorFlow nor scikit-learn: the JSON is stored
verbatim in both formats, so it is found by its first bytes
(:data:`_MARKER`) without parsing ONNX or the flatbuffer. Writing LiteRT
metadata uses the flatbuffer schema shipped in ``ai-edge-litert``.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from ._version import __version__
from .exceptions import ModelFileError

__all__ = ["EXPORT_FORMATS", "FORMAT_VERSION", "INPUT_NAME", "OUTPUT_NAME", "SUFFIXES",
           "add_litert_metadata", "add_onnx_metadata", "add_savedmodel_metadata",
           "load_model_file", "read_metadata", "sniff"]

#: What :func:`skmood.export` writes (``format=``), in the CLI's spelling.
EXPORT_FORMATS = ("onnx", "litert", "litert-int8", "savedmodel")
#: File name endings of each file format (a SavedModel is a folder).
SUFFIXES = {"onnx": ".onnx", "litert": ".tflite", "litert-int8": ".tflite"}
#: Version of the exported files' layout and input contract; bumped when a
#: change would make an older skmood misread a newer file.
FORMAT_VERSION = 1
#: Names of the graph's input (uint8 RGB pixels) and output (probabilities).
INPUT_NAME, OUTPUT_NAME = "pixels", "probabilities"

_FORMAT = "skmood-export"
_KEY = "skmood"
_MARKER = b'{"format": "' + _FORMAT.encode() + b'"'
_SUM = "sha256"
_ZERO_SUM = "0" * 64
_TFLITE_MAGIC = b"TFL3"
_SAVEDMODEL_META = os.path.join("assets.extra", "skmood.json")


# ------------------------------------------------------------------ the JSON
def _dump(meta: dict) -> bytes:
    """The metadata as JSON: ``format`` first (the marker), the checksum zeroed."""
    body = {k: v for k, v in meta.items() if k not in ("format", _SUM)}
    return json.dumps({"format": _FORMAT, **body, _SUM: _ZERO_SUM}).encode()


def _seal(data: bytes) -> bytes:
    """``data`` (holding :func:`_dump`'s JSON once) with the zeroed checksum filled in."""
    field = f'"{_SUM}": "{_ZERO_SUM}"'.encode()
    at = data.rindex(field, data.rindex(_MARKER))
    digest = hashlib.sha256(data).hexdigest().encode()
    return data[:at] + field.replace(_ZERO_SUM.encode(), digest) + data[at + len(field):]


def _unseal(data: bytes, path: str) -> dict:
    """The metadata of an exported file's bytes, its version and checksum checked."""
    start = data.rfind(_MARKER)
    if start < 0:
        raise ModelFileError(
            f"skmood.runtime: {path!r} has no skmood metadata: it is not a model exported "
            "by skmood.export (or 'skmood export'), or it is truncated.")
    try:
        meta, _ = json.JSONDecoder().raw_decode(data[start:].decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"skmood.runtime: {path!r} has corrupt skmood metadata ({exc}); "
                             "the file is damaged or truncated.") from exc
    check_version(meta, path)
    expected = meta.get(_SUM)
    field = f'"{_SUM}": "{expected}"'.encode()
    at = data.rfind(field, start)
    if not isinstance(expected, str) or len(expected) != 64 or at < 0:
        raise ModelFileError(f"skmood.runtime: {path!r} has no valid checksum in its skmood "
                             "metadata; the file is damaged.")
    zeroed = data[:at] + f'"{_SUM}": "{_ZERO_SUM}"'.encode() + data[at + len(field):]
    if hashlib.sha256(zeroed).hexdigest() != expected:
        raise ModelFileError(
            f"skmood.runtime: {path!r} is corrupt or truncated: its SHA-256 checksum does not "
            "match the one written at export (the file changed after 'skmood export'); "
            "export it again.")
    return meta


def check_version(meta: Any, path: str) -> None:
    """Raise :class:`~skmood.ModelFileError` for foreign metadata or a newer format."""
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ModelFileError(f"skmood.runtime: {path!r} is not a skmood export (its metadata "
                             "is not skmood's).")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"skmood.runtime: {path!r} was exported in export format {version!r} by skmood "
            f"{meta.get('skmood_version')}; this skmood ({__version__}) reads export format "
            f"{FORMAT_VERSION} and older: upgrade skmood (pip install -U skmood).")


# ---------------------------------------------------------------------- ONNX
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (``tag`` = field number << 3 | 2)."""
    return bytes([tag]) + _varint(len(payload)) + payload


def add_onnx_metadata(model: bytes, meta: dict) -> bytes:
    """A serialised ONNX model with the metadata appended as ``metadata_props["skmood"]``.

    Protobuf merges concatenated messages, so ``model`` followed by one
    ``ModelProto.metadata_props`` field (number 14) is the same model with
    that entry added: what ``onnx.load`` and onnxruntime read.
    """
    entry = _field(0x0A, _KEY.encode()) + _field(0x12, _dump(meta))  # key = 1, value = 2
    return _seal(model + _field(0x72, entry))  # 0x72: field 14, length-delimited


# -------------------------------------------------------------------- LiteRT
def _tflite_schema():
    """The LiteRT flatbuffer schema, from ai-edge-litert (the export and runtime extras)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as exc:
        raise ImportError("writing skmood's metadata into a LiteRT file needs ai-edge-litert: "
                          "pip install 'skmood[export]'.") from exc
    return schema


def add_litert_metadata(flatbuffer: bytes, meta: dict) -> bytes:
    """A LiteRT flatbuffer with the metadata as its ``metadata`` entry ``"skmood"``."""
    import flatbuffers

    schema = _tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    buffer = schema.BufferT()
    buffer.data = list(_dump(meta))
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = _KEY, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(len(flatbuffer) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_MAGIC)
    return _seal(bytes(builder.Output()))


# ---------------------------------------------------------------- SavedModel
def _folder_digest(directory: str) -> str:
    """SHA-256 of a SavedModel folder's files (names and bytes), the metadata left out."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            relative = os.path.relpath(full, directory).replace(os.sep, "/")
            if relative == _SAVEDMODEL_META.replace(os.sep, "/"):
                continue
            digest.update(relative.encode() + b"\0")
            with open(full, "rb") as fh:
                digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


def add_savedmodel_metadata(directory: str, meta: dict) -> None:
    """Write the metadata into a SavedModel folder (``assets.extra/skmood.json``)."""
    os.makedirs(os.path.join(directory, "assets.extra"), exist_ok=True)
    text = _dump(meta).replace(_ZERO_SUM.encode(), _folder_digest(directory).encode())
    with open(os.path.join(directory, _SAVEDMODEL_META), "wb") as fh:
        fh.write(text)


def _savedmodel_metadata(directory: str) -> dict:
    try:
        with open(os.path.join(directory, _SAVEDMODEL_META), "rb") as fh:
            meta = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"skmood.runtime: the SavedModel {directory!r} has no readable "
                             f"skmood metadata ({exc}).") from exc
    check_version(meta, directory)
    if meta.get(_SUM) != _folder_digest(directory):
        raise ModelFileError(f"skmood.runtime: the SavedModel {directory!r} changed after "
                             "export (its checksum does not match); export it again.")
    return meta


# ----------------------------------------------------------------- reading
def sniff(path: str | os.PathLike) -> str | None:
    """The file format of an exported model at ``path``: ``"onnx"``, ``"litert"``,
    ``"savedmodel"``, or ``None`` when it does not look like one (e.g. a ``.skmood`` file).

    LiteRT flatbuffers are recognised by their ``TFL3`` identifier, SavedModel
    folders by ``saved_model.pb``, ONNX files by their ``.onnx`` name or,
    whatever their name, by skmood's metadata at their end.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return "savedmodel" if os.path.isfile(os.path.join(path, "saved_model.pb")) else None
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head[4:8] == _TFLITE_MAGIC:
                return "litert"
            if path.lower().endswith(SUFFIXES["onnx"]):
                return "onnx"
            if head[:4] == b"PK\x03\x04":  # a zip archive: a .skmood model
                return None
            fh.seek(max(0, os.path.getsize(path) - (1 << 20)))
            return "onnx" if _MARKER in fh.read() else None
    except OSError:
        return None


def read_metadata(path: str | os.PathLike) -> tuple[str, dict, bytes | None]:
    """``(file format, metadata, file bytes)`` of an exported model, checked.

    The bytes are ``None`` for a SavedModel folder.

    Raises
    ------
    FileNotFoundError
        If there is nothing at ``path``.
    ModelFileError
        If it is not an exported skmood model, is corrupt or truncated (the
        checksum does not match), or was written in a newer export format.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"skmood.runtime: no exported model at {path!r} (it does not "
                                "exist); expected a file written by skmood.export.")
    kind = sniff(path)
    if kind == "savedmodel":
        return kind, _savedmodel_metadata(path), None
    if os.path.isdir(path):
        raise ModelFileError(f"skmood.runtime: {path!r} is a folder but not a SavedModel; "
                             "expected an exported .onnx or .tflite file.")
    with open(path, "rb") as fh:
        data = fh.read()
    meta = _unseal(data, path)
    if kind is None:
        kind = "onnx"  # found by its metadata under another name
    exported = meta.get("export_format", "")
    if kind != exported.split("-")[0]:
        raise ModelFileError(f"skmood.runtime: {path!r} is a {kind} file whose metadata says "
                             f"{exported!r}; the file is damaged.")
    return kind, meta, data


def load_model_file(path: str | os.PathLike, *, allow_pickle: bool = False, **runtime_options):
    """Any model file: an exported one on :mod:`skmood.runtime`, others by :func:`skmood.load`.

    The command line and the server open the files they are given with this:
    exported models then run without TensorFlow or scikit-learn (neither is
    imported), ``.skmood`` and joblib files as before. ``runtime_options`` go
    to :func:`skmood.runtime.load` (``detector``, ``on_error``).
    """
    if sniff(path) is not None:
        from .runtime import load

        return load(path, **runtime_options)
    from ._persistence import load

    return load(path, allow_pickle=allow_pickle)
