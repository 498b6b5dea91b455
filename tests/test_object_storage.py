"""Images and models on object storage: a URL works wherever a path does.

``memory://`` (fsspec's in-process filesystem) for the fast tests; S3 through
s3fs against moto's S3 server on loopback, with IAM permissions enforced, for
the real S3 API: listing, reading, writing, and its errors (missing object,
access denied, bad URL).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import skmood
from skmood import DatasetError, ImageLoader, ImageReadError, ImageResizer, PixelNormalizer
from skmood._paths import is_url, missing
from skmood.cli import main
from skmood.datasets import find_images, load_image_folder
from skmood.exceptions import SkmoodWarning

fsspec = pytest.importorskip("fsspec")

#: Training options of ``skmood train`` that make a model in a second or two.
TINY = ["--image-size", "16", "16", "--conv-filters", "4", "--dense-units", "8",
        "--epochs", "1", "--batch-size", "8", "--random-state", "0"]
ENTRY_POINT = Path(sys.executable).parent / "skmood"


def relative(paths, root) -> list[str]:
    """``paths`` (local or URLs) relative to ``root``, ``/``-separated."""
    root = str(root).rstrip("/") + "/"
    return [str(p).replace(os.sep, "/")[len(root.replace(os.sep, "/")):] for p in paths]


# ------------------------------------------------------------------ memory://
@pytest.fixture(scope="module")
def mem(face_folder):
    """The conftest faces copied to ``memory://<unique>/faces``, with clutter to skip."""
    root = f"memory://skmood-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    for path in sorted(face_folder.rglob("*.png")):
        fs.pipe_file(f"{root}/faces/{path.relative_to(face_folder).as_posix()}", path.read_bytes())
    clutter = ["faces/happy/.hidden/x.png", "faces/happy/notes.txt", "faces/.trash/y.png",
               "faces/sad/.z.png", "broken/not-an-image.png"]
    for name in clutter:
        fs.pipe_file(f"{root}/{name}", b"not an image")
    yield root
    fs.rm(root.replace("memory://", "/"), recursive=True)


@pytest.fixture(scope="module")
def mem_paths(mem):
    return load_image_folder(f"{mem}/faces")


@pytest.fixture(scope="module")
def fitted(mem_paths):
    """A tiny classifier fitted on ``memory://`` paths."""
    from conftest import tiny_classifier

    return tiny_classifier().fit(*mem_paths)


@pytest.mark.parametrize("path, expected", [
    ("s3://bucket/x.png", True), ("gs://b/d/", True), ("memory://x.png", True),
    ("simplecache::s3://b/x.png", True), ("file:///tmp/x.png", True),
    ("/tmp/x.png", False), ("data/happy/a.png", False), ("C://x.png", False),
    ("s3:/bucket/x.png", False), (Path("/tmp/x.png"), False),
])
def test_is_url(path, expected):
    assert is_url(path) is expected


@pytest.mark.slow
def test_import_skmood_and_local_paths_do_not_import_fsspec(face_folder):
    code = ("import sys, skmood\n"
            "from skmood.datasets import find_images, load_image_folder\n"
            f"paths, _ = load_image_folder({str(face_folder)!r})\n"
            "skmood.ImageLoader().transform(find_images(list(paths[:2])))\n"
            "assert 'fsspec' not in sys.modules, 'fsspec imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_a_url_without_fsspec_asks_for_the_cloud_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    monkeypatch.setitem(sys.modules, "fsspec.core", None)
    with pytest.raises(ImportError, match=r"'s3://bucket/x\.png'.*skmood\[cloud\]"):
        ImageLoader().transform(["s3://bucket/x.png"])
    with pytest.raises(ImportError, match=r"skmood\[cloud\]"):  # not a DatasetError
        load_image_folder("s3://bucket/data")


@pytest.mark.skipif(importlib.util.find_spec("adlfs") is not None, reason="adlfs installed")
def test_a_protocol_whose_package_is_missing_names_it():
    with pytest.raises(ImportError, match=r"'abfs://c/x\.png'.*adlfs.*skmood\[cloud\]"):
        ImageLoader().transform(["abfs://c/x.png"])


@pytest.mark.parametrize("name, reason", [
    ("faces/happy/missing.png", r"\(not found\)"),
    ("faces/happy", r"\(it is a folder \(a prefix\), not a file\)"),
    ("broken/not-an-image.png", r"\(not a recognised image format\)"),
])
def test_unreadable_memory_urls_are_named(mem, name, reason):
    url = f"{mem}/{name}"
    with pytest.raises(ImageReadError, match=rf"cannot read '{url}' {reason}"):
        ImageLoader().transform([url])


def test_unknown_protocol_is_a_bad_url():
    with pytest.raises(ImageReadError, match=r"cannot read 'nope://b/x\.png' \(bad URL: "
                                             r"unknown protocol 'nope'"):
        ImageLoader().transform(["nope://b/x.png"])


def test_storage_failures_are_read_errors_tried_once(mem, monkeypatch):
    from fsspec.implementations.memory import MemoryFileSystem

    calls = []

    def down(self, path, start=None, end=None, **kwargs):
        calls.append(start)
        raise RuntimeError("Could not connect to the endpoint URL")

    monkeypatch.setattr(MemoryFileSystem, "cat_file", down)
    url = f"{mem}/faces/happy/face_00000.png"
    with pytest.raises(ImageReadError, match=rf"'{url}' \(storage error: Could not connect"):
        ImageLoader().transform([url])
    assert calls == [0]  # one ranged GET, no second attempt


def test_a_refused_range_is_read_again_whole(mem, monkeypatch):
    """S3 answers a ranged GET of an empty object with InvalidRange."""
    from fsspec.implementations.memory import MemoryFileSystem

    real = MemoryFileSystem.cat_file

    def no_ranges(self, path, start=None, end=None, **kwargs):
        if start is not None:
            raise OSError(5, "The requested range is not satisfiable")
        return real(self, path, **kwargs)

    fsspec.filesystem("memory").pipe_file(f"{mem}/empty.png", b"")
    monkeypatch.setattr(MemoryFileSystem, "cat_file", no_ranges)
    with pytest.raises(ImageReadError, match=r"empty\.png' \(not a recognised image format"):
        ImageLoader().transform([f"{mem}/empty.png"])
    assert ImageLoader().transform([f"{mem}/faces/sad/face_00002.png"])[0].shape == (16, 16, 3)


def test_load_image_folder_on_memory_lists_as_on_disk(mem, mem_paths, face_paths, face_folder):
    paths, labels = mem_paths
    assert all(p.startswith(f"{mem}/faces/") for p in paths)
    # Same files, same order, same labels; hidden files/folders and non-images skipped.
    assert relative(paths, f"{mem}/faces") == relative(face_paths[0], face_folder)
    assert labels.tolist() == face_paths[1].tolist()
    assert load_image_folder(f"{mem}/faces/", classes=["sad", "happy"])[0].tolist() == \
        paths.tolist()


@pytest.mark.parametrize("name, message", [
    ("nothing", "does not exist"),
    ("faces/happy/face_00000.png", "is a file, not a directory"),
    ("broken", "has no class sub-folders"),
])
def test_load_image_folder_errors_name_the_url(mem, name, message):
    with pytest.raises(DatasetError, match=rf"'{mem}/{name}'.*{message}|{message}.*'{mem}/"):
        load_image_folder(f"{mem}/{name}")


def test_load_image_folder_bad_url_is_a_dataset_error():
    with pytest.raises(DatasetError, match=r"cannot list 'nope://b/data' \(bad URL: unknown "
                                           r"protocol 'nope'"):
        load_image_folder("nope://b/data")


def test_find_images_on_memory(mem, mem_paths):
    one = mem_paths[0][0]
    found = find_images([f"{mem}/faces/sad/", one])
    assert found == [p for p, y in zip(*mem_paths) if y == "sad"] + [one]
    with pytest.raises(FileNotFoundError, match=f"'{mem}/faces/nope.png' does not exist"):
        find_images([f"{mem}/faces/nope.png"])


def test_transformers_read_urls_as_files(mem_paths, face_paths):
    steps = [ImageLoader(), ImageResizer(image_size=(12, 12)), PixelNormalizer()]
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(*steps)
    np.testing.assert_array_equal(pipe.transform(mem_paths[0]), pipe.transform(face_paths[0]))


def test_fit_and_predict_on_memory_urls(fitted, mem_paths, face_paths):
    assert list(fitted.classes_) == ["happy", "sad"] and fitted.n_iter_ == 1
    proba = fitted.predict_proba(mem_paths[0])
    np.testing.assert_array_equal(proba, fitted.predict_proba(face_paths[0]))
    assert fitted.predict(mem_paths[0][:3]).tolist() == \
        fitted.classes_[proba[:3].argmax(axis=1)].tolist()


def test_fit_names_missing_urls_before_training(mem, mem_paths, make_clf):
    gone = f"{mem}/faces/happy/gone.png"
    with pytest.raises(ImageReadError, match=rf"1 of 25 image paths are not existing files: "
                                             rf"'{gone}'"):
        make_clf(epochs=50).fit([*mem_paths[0], gone], [*mem_paths[1], "happy"])


def test_missing_lists_each_folder_once(mem, mem_paths, monkeypatch):
    from fsspec.implementations.memory import MemoryFileSystem

    calls = []
    real = MemoryFileSystem.ls
    monkeypatch.setattr(MemoryFileSystem, "ls",
                        lambda self, path, **kw: calls.append(path) or real(self, path, **kw))
    urls = [*mem_paths[0], f"{mem}/faces/sad/gone.png", f"{mem}/nowhere/x.png", "nope://x.png"]
    assert missing(urls) == urls[-3:]
    assert sorted(calls) == sorted(f"/{mem[9:]}/{d}" for d in ("faces/happy", "faces/sad",
                                                               "nowhere"))


def test_predict_skip_gives_a_nan_row_naming_the_url(fitted, mem, mem_paths):
    gone = f"{mem}/faces/gone.png"
    fitted.set_params(on_error="skip")
    try:
        with pytest.warns(SkmoodWarning, match=f"1 of 3 .*'{gone}' \\(not found\\)"):
            proba = fitted.predict_proba([*mem_paths[0][:2], gone])
    finally:
        fitted.set_params(on_error="raise")
    assert np.isnan(proba[2]).all() and not np.isnan(proba[:2]).any()


def test_face_cropping_reads_urls(fitted, mem_paths, face_paths):
    from skmood import predict_faces

    on_urls = predict_faces(fitted, mem_paths[0][:3], detector="haar")
    on_disk = predict_faces(fitted, face_paths[0][:3], detector="haar")
    np.testing.assert_array_equal(on_urls[0], on_disk[0])
    assert on_urls[1] == on_disk[1]


def test_save_and_load_models_at_urls(fitted, mem, mem_paths):
    url = f"{mem}/models/tiny.skmood"
    skmood.save(fitted, url, metadata={"data": f"{mem}/faces"})
    again = skmood.load(url)
    np.testing.assert_array_equal(again.predict_proba(mem_paths[0][:4]),
                                  fitted.predict_proba(mem_paths[0][:4]))
    assert skmood.read_info(url)["metadata"] == {"data": f"{mem}/faces"}
    skmood.save(fitted, f"{mem}/models/tiny.joblib", format="joblib")
    assert skmood.load(f"{mem}/models/tiny.joblib", allow_pickle=True).n_iter_ == 1
    with pytest.raises(FileNotFoundError, match=f"no model file at '{mem}/models/gone.skmood'"):
        skmood.load(f"{mem}/models/gone.skmood")
    with pytest.raises(IsADirectoryError, match=f"'{mem}/models' is a directory"):
        skmood.load(f"{mem}/models")


def test_cli_predict_and_evaluate_on_memory(fitted, mem, mem_paths, capsys):
    model = f"{mem}/models/cli.skmood"
    skmood.save(fitted, model)
    assert main(["predict", model, f"{mem}/faces/", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == mem_paths[0].tolist()
    proba = fitted.predict_proba(mem_paths[0])
    np.testing.assert_allclose([float(r.split(",")[2]) for r in rows], proba[:, 0], atol=1e-4)
    assert main(["evaluate", model, f"{mem}/faces", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["data_dir"] == f"{mem}/faces"
    assert main(["predict", model, "nope://b/photos/"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("skmood: error: find_images: cannot list 'nope://b/photos/' (bad URL")


# ------------------------------------------------------------------------ S3
@pytest.fixture(scope="module")
def s3(face_folder):
    """moto's S3 server on loopback with IAM enforced; s3fs configured through fsspec.

    Buckets ``photos`` (the faces under ``faces/``) and ``private``; every
    request after set-up is signed by the user ``reader``, who may read,
    list, write and delete in ``photos`` only.
    """
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    import boto3
    from moto.core import enable_iam_authentication
    from s3fs import S3FileSystem

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = "http://{}:{}".format(*server.get_host_and_port())
    admin = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="admin",
                 aws_secret_access_key="admin")
    client = boto3.client("s3", **admin)
    for bucket in ("photos", "private"):
        client.create_bucket(Bucket=bucket)
    for path in sorted(face_folder.rglob("*.png")):
        key = f"faces/{path.relative_to(face_folder).as_posix()}"
        client.put_object(Bucket="photos", Key=key, Body=path.read_bytes())
        client.put_object(Bucket="private", Key=key, Body=path.read_bytes())
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="photos-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow",
                       "Action": ["s3:GetObject", "s3:ListBucket", "s3:PutObject",
                                  "s3:DeleteObject"],
                       "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    saved = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"],
                                "endpoint_url": endpoint,
                                "client_kwargs": {"region_name": "us-east-1"}}
    S3FileSystem.clear_instance_cache()
    try:
        with enable_iam_authentication():
            yield {"endpoint": endpoint, "key": key["AccessKeyId"],
                   "secret": key["SecretAccessKey"]}
    finally:
        if saved is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = saved
        S3FileSystem.clear_instance_cache()
        server.stop()


def test_load_image_folder_lists_a_bucket(s3, face_paths, face_folder):
    paths, labels = load_image_folder("s3://photos/faces")
    assert relative(paths, "s3://photos/faces") == relative(face_paths[0], face_folder)
    assert labels.tolist() == face_paths[1].tolist()


def test_predict_on_s3_equals_local(s3, fitted, face_paths):
    paths, _ = load_image_folder("s3://photos/faces")
    np.testing.assert_array_equal(fitted.predict_proba(paths),
                                  fitted.predict_proba(face_paths[0]))


@pytest.mark.parametrize("url, reason", [
    ("s3://photos/faces/happy/missing.png", r"not found"),
    ("s3://private/faces/happy/face_00000.png", r"permission denied: .*(Forbidden|Denied)"),
    ("s3x://photos/faces/happy/face_00000.png", r"bad URL: unknown protocol 's3x'"),
    ("s3://Bad_Bucket!/x.png", r"bad URL: .*bucket name"),
])
def test_s3_read_errors_name_the_url(s3, url, reason):
    with pytest.raises(ImageReadError, match=rf"cannot read '{url}' \({reason}"):
        ImageLoader().transform([url])


@pytest.mark.parametrize("url, reason", [
    ("s3://private/faces", r"cannot list 's3://private/faces' \(permission denied"),
    ("s3x://photos/faces", r"cannot list 's3x://photos/faces' \(bad URL"),
    ("s3://photos/nothing", r"directory 's3://photos/nothing' does not exist"),
])
def test_s3_folder_errors_name_the_url(s3, url, reason):
    with pytest.raises(DatasetError, match=reason):
        load_image_folder(url)


def test_fit_on_s3_leaves_out_unreadable_objects_naming_them(s3, make_clf):
    paths, labels = load_image_folder("s3://photos/faces")
    bad = ["s3://photos/faces/happy/missing.png", "s3://private/faces/sad/face_00002.png"]
    with pytest.warns(SkmoodWarning, match=r"2 of 26 images could not be read: .*"
                                           r"missing\.png' \(not found\).*"
                                           r"face_00002\.png' \(permission denied"):
        clf = make_clf(on_error="skip").fit([*paths, *bad], [*labels, "happy", "sad"])
    assert clf.n_iter_ == 1
    with pytest.raises(ImageReadError, match=r"not existing files: 's3://photos/faces/happy/"
                                             r"missing\.png'"):
        make_clf().fit([*paths, bad[0]], [*labels, "happy"])


@pytest.fixture(scope="module")
def s3_model(s3, fitted):
    url = "s3://photos/models/tiny.skmood"
    skmood.save(fitted, url)
    return url


@pytest.mark.slow
def test_cli_trains_from_and_to_s3(s3, s3_model, capsys):
    out = "s3://photos/models/trained.skmood"
    assert main(["train", "s3://photos/faces", "-o", out, *TINY]) == 0
    assert f"model saved:   {out}" in capsys.readouterr().out
    fs = fsspec.filesystem("s3")
    assert fs.exists("photos/models/trained.skmood")
    assert not fs.exists("photos/models/trained.skmood.checkpoint.skmood")
    assert skmood.load(out).n_iter_ == 1
    assert main(["evaluate", s3_model, "s3://photos/faces", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_images"] == 24


def test_saving_where_writes_are_denied_names_the_url(s3, fitted):
    with pytest.raises(PermissionError, match=r"cannot write 's3://private/m\.skmood': Access"):
        skmood.save(fitted, "s3://private/m.skmood")


@pytest.mark.slow
def test_cli_entry_point_reaches_s3_with_aws_environment_variables(s3):
    """The standard AWS variables (endpoint, keys) reach s3fs in a new process.

    ``predict`` looks its paths up before loading a model (no TensorFlow): the
    first object is found, the second reported missing by name, which needs
    both the endpoint and the reader's keys (IAM is enforced).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", AWS_ENDPOINT_URL=s3["endpoint"],
               AWS_ACCESS_KEY_ID=s3["key"], AWS_SECRET_ACCESS_KEY=s3["secret"],
               AWS_DEFAULT_REGION="us-east-1")
    found, gone = "s3://photos/faces/happy/face_00000.png", "s3://photos/faces/happy/nope.png"
    proc = subprocess.run([str(ENTRY_POINT), "predict", found, gone], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"skmood: error: image path {gone!r} does not exist; expected image files or folders "
        "of images.")
