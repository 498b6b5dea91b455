"""Resumable Parquet output of :func:`~skmood.distributed.predict_paths` (private).

The output is a folder (a Parquet data set) holding one file per partition
of the input paths, ``part.00000.parquet``, ``part.00001.parquet``..., each
written by the task that predicted it: to a hidden temporary file first,
renamed into place when complete, so a file that exists is whole. A manifest
(``_skmood_predictions.json``) says what the folder holds predictions of
(the number of partitions, a digest of the paths and of the model's
weights); running again on the same output keeps the partitions written and
predicts the others, and refuses an output written for other paths or by
another model instead of mixing them.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from typing import Any

__all__ = ["MANIFEST", "part_path", "prepare_output", "write_part"]

MANIFEST = "_skmood_predictions.json"
_FORMAT = "skmood-predictions"


def part_path(output: str, index: int) -> str:
    """The file of partition ``index`` (zero-padded, so names sort in order)."""
    return os.path.join(output, f"part.{index:05d}.parquet")


def prepare_output(output: str | os.PathLike, description: dict[str, Any]) -> tuple[str, set[int]]:
    """Create or check the output folder; return it and the partitions written already.

    ``description`` (JSON-serialisable, with ``n_partitions``) is stored as
    the manifest of a new folder, and must equal the manifest of an existing
    one.
    """
    path = os.path.abspath(os.fspath(output))
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"predict_paths: output {path!r} is a file; expected a folder "
                              "for the Parquet partitions (e.g. 'preds.parquet').")
    os.makedirs(path, exist_ok=True)
    manifest = os.path.join(path, MANIFEST)
    record = {"format": _FORMAT, "format_version": 1, **description}
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as fh:
            found = json.load(fh)
        changed = sorted(k for k in set(found) | set(record) if found.get(k) != record.get(k))
        if changed:
            raise ValueError(
                f"predict_paths: output {path!r} holds predictions of another run (different "
                f"{', '.join(changed)}); give a new output, or delete this folder to predict "
                "again."
            )
    else:
        foreign = [name for name in os.listdir(path) if not name.startswith(".")]
        if foreign:
            raise FileExistsError(
                f"predict_paths: output {path!r} is a folder holding other files "
                f"({', '.join(sorted(foreign)[:5])}); expected a new folder or one written by "
                "predict_paths."
            )
        _replace(manifest, lambda tmp: _write_json(tmp, record))
    done = {i for i in range(int(description["n_partitions"]))
            if os.path.isfile(part_path(path, i))}
    return path, done


def _write_json(path: str, record: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1)


def _replace(final: str, write) -> None:
    """``write(temporary path)`` beside ``final``, then rename it into place."""
    tmp = os.path.join(os.path.dirname(final),
                       f".{os.path.basename(final)}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_part(frame, output: str, index: int) -> int:
    """Write partition ``index``'s predictions; return its number of rows."""
    _replace(part_path(output, index), lambda tmp: frame.to_parquet(tmp, index=True))
    return len(frame)
