"""skmood.distributed: batch prediction and model selection on Dask and Ray.

In-process tests run Dask's synchronous scheduler; the cluster tests share one
``LocalCluster(n_workers=2, processes=True, threads_per_worker=1)`` (worker
processes import skmood and TensorFlow once, a few seconds) and one Ray
instance of 2 CPUs.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from conftest import tiny_classifier
from sklearn.pipeline import make_pipeline

import skmood
from skmood import HappySadClassifier, ImageLoader, ImageResizer, PixelNormalizer
from skmood.cli import main

pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from skmood.distributed import (  # noqa: E402
    configure_tensorflow_threads,
    predict_paths,
    worker_env,
)
from skmood.distributed import _predict  # noqa: E402

N_GOOD = 197


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """200 paths: 197 synthetic 16x16 faces (happy ones first) and 3 broken files."""
    from skmood.datasets import make_faces

    root = tmp_path_factory.mktemp("batch")
    paths, labels = make_faces(N_GOOD, image_size=(16, 16), random_state=0, directory=root)
    (root / "not_an_image.png").write_bytes(b"plain text, not a PNG")
    truncated = (root / "truncated.png")
    truncated.write_bytes(Path(paths[0]).read_bytes()[:40])
    broken = [str(root / "not_an_image.png"), str(truncated), str(root / "missing.jpg")]
    everything = list(paths)
    for position, path in zip((5, 100, 199), broken):
        everything.insert(position, path)
    return np.array(everything, dtype=object), list(paths), list(labels), broken


@pytest.fixture(scope="module")
def fitted(dataset):
    _, paths, labels, _ = dataset
    return tiny_classifier().fit(paths[::3], labels[::3])


@pytest.fixture
def sync_scheduler():
    import dask

    with dask.config.set(scheduler="sync"):
        yield


def _check_rows(frame, everything, broken, clf):
    assert len(frame) == len(everything) == 200
    assert frame["path"].tolist() == list(everything)
    assert list(frame.index) == list(range(200))
    bad = frame[frame["error"].notna()]
    assert bad["path"].tolist() == broken
    assert bad["label"].isna().all() and bad[["proba_happy", "proba_sad"]].isna().all().all()
    for path, error in zip(bad["path"], bad["error"]):
        assert os.path.basename(path) in error
    good = frame[frame["error"].isna()]
    expected = clf.predict_proba(good["path"].tolist())
    np.testing.assert_allclose(good[["proba_happy", "proba_sad"]].to_numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    assert good["label"].tolist() == list(clf.classes_[expected.argmax(axis=1)])


# ------------------------------------------------------------------ in process
def test_rows_in_order_broken_files_kept_with_their_error(dataset, fitted, sync_scheduler):
    everything, _, _, broken = dataset
    df = predict_paths(fitted, everything, partition_size=64)
    assert list(df.columns) == ["path", "label", "proba_happy", "proba_sad", "error"]
    assert df.npartitions == 4 and df.known_divisions
    _check_rows(df.compute(), everything, broken, fitted)


def test_a_pipeline_with_an_image_loader_keeps_the_rows_of_broken_files(dataset,
                                                                        sync_scheduler):
    everything, paths, labels, broken = dataset
    pipe = make_pipeline(ImageLoader(), ImageResizer(image_size=(16, 16)), PixelNormalizer(),
                         HappySadClassifier(image_size=(16, 16), conv_filters=(4,),
                                            dense_units=8, epochs=1, random_state=0,
                                            precision="float32"))
    pipe.fit(paths[::5], labels[::5])
    frame = predict_paths(pipe, everything[:110], partition_size=64).compute()
    bad = frame[frame["error"].notna()]
    assert bad["path"].tolist() == broken[:2] and bad["label"].isna().all()
    good = frame[frame["error"].isna()]
    np.testing.assert_allclose(good[["proba_happy", "proba_sad"]].to_numpy(),
                               pipe.predict_proba(good["path"].tolist()), rtol=1e-5, atol=1e-6)


def test_on_error_raise_stops_at_the_first_unreadable_file(dataset, fitted, sync_scheduler):
    everything = dataset[0]
    with pytest.raises(skmood.ImageReadError, match="not_an_image.png"):
        predict_paths(fitted, everything[:10], on_error="raise").compute()


def test_a_dask_series_or_bag_of_paths(dataset, fitted, sync_scheduler):
    import dask.bag as db

    everything = dataset[0]
    series = dd.from_pandas(pd.Series(everything[:20], index=np.arange(100, 120)), npartitions=3)
    frame = predict_paths(fitted, series).compute()
    assert list(frame.index) == list(range(100, 120))  # the Series' own index
    assert frame["path"].tolist() == list(everything[:20])
    bag = db.from_sequence(list(everything[:20]), npartitions=3)
    from_bag = predict_paths(fitted, bag).compute()
    assert list(from_bag.index) == list(range(20))  # numbered across the partitions
    pd.testing.assert_frame_equal(from_bag.reset_index(drop=True),
                                  frame.reset_index(drop=True))


def test_parquet_output_is_resumable(dataset, fitted, sync_scheduler, tmp_path, monkeypatch):
    everything, _, _, broken = dataset
    predicted = []
    original = HappySadClassifier.predict_proba

    def counting(self, X):
        predicted.extend(X)
        return original(self, X)

    monkeypatch.setattr(HappySadClassifier, "predict_proba", counting)
    out = tmp_path / "preds.parquet"
    first = predict_paths(fitted, everything, partition_size=50, output=out).compute()
    assert len(predicted) == 200
    assert sorted(os.listdir(out)) == ["_skmood_predictions.json"] + [
        f"part.0000{i}.parquet" for i in range(4)]
    _check_rows(first, everything, broken, fitted)

    # A run that stopped after two partitions: the re-run predicts the other two only.
    for i in (1, 3):
        os.remove(out / f"part.0000{i}.parquet")
    predicted.clear()
    second = predict_paths(fitted, everything, partition_size=50, output=out).compute()
    assert sorted(predicted) == sorted([*everything[50:100], *everything[150:200]])
    pd.testing.assert_frame_equal(second, first)
    predicted.clear()
    predict_paths(fitted, everything, partition_size=50, output=out)
    assert predicted == []  # everything written: nothing predicted again

    # Another split, other paths or another model: refused, nothing mixed.
    with pytest.raises(ValueError, match="another run.*partition_size"):
        predict_paths(fitted, everything, partition_size=40, output=out)
    with pytest.raises(ValueError, match="another run.*paths_sha256"):
        predict_paths(fitted, everything[::-1], partition_size=50, output=out)
    other = pickle.loads(pickle.dumps(fitted))
    other.model_.set_weights([w * 0.5 for w in other.model_.get_weights()])
    with pytest.raises(ValueError, match="another run.*weights"):
        predict_paths(other, everything, partition_size=50, output=out)


def test_bad_arguments_are_clear_errors(dataset, fitted, tmp_path):
    everything = dataset[0]
    with pytest.raises(ValueError, match="on_error='ignore'; expected 'skip' or 'raise'"):
        predict_paths(fitted, everything, on_error="ignore")
    with pytest.raises(ValueError, match="partition_size must be a positive int, got 0"):
        predict_paths(fitted, everything, partition_size=0)
    with pytest.raises(skmood.NotFittedError, match="not fitted"):
        predict_paths(HappySadClassifier(), everything)
    with pytest.raises(TypeError, match="Dask DataFrame; pass its column"):
        predict_paths(fitted, dd.from_pandas(pd.DataFrame({"path": everything}), npartitions=2))
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        predict_paths(fitted, everything, client="tcp://127.0.0.1:8786")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holding other files.*notes.txt"):
        predict_paths(fitted, everything, output=tmp_path / "other")


def test_a_shared_model_is_unpickled_once_per_process_however_often_it_arrives(fitted):
    shared = _predict.SharedModel(fitted)
    payload = pickle.dumps(shared)
    before = _predict.models_loaded()
    first, again = pickle.loads(payload), pickle.loads(payload)
    assert _predict.models_loaded() - before == 1
    assert again.model is first.model and first.model is not fitted
    other = pickle.loads(pickle.dumps(_predict.SharedModel(fitted)))  # another model: loaded
    assert _predict.models_loaded() - before == 2 and other.model is not first.model


def test_a_missing_dask_names_the_extra(fitted, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'skmood\[dask\]'"):
        predict_paths(fitted, ["a.png"])


def test_importing_skmood_imports_no_dask():
    code = ("import sys, skmood, skmood.distributed, skmood.cli; "
            "print([m for m in ('dask', 'distributed', 'ray') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_worker_env():
    assert worker_env(4) == {"TF_NUM_INTRAOP_THREADS": "4", "TF_NUM_INTEROP_THREADS": "2",
                             "OMP_NUM_THREADS": "4"}
    assert worker_env(1, inter_op_threads=3)["TF_NUM_INTEROP_THREADS"] == "3"
    with pytest.raises(ValueError, match="threads must be a positive int, got 0"):
        worker_env(0)


def test_cli_writes_a_resumable_parquet_folder(dataset, fitted, tmp_path, capsys):
    everything, _, _, broken = dataset
    model = tmp_path / "model.skmood"
    skmood.save(fitted, model)
    folder = os.path.dirname(everything[0])  # happy/ of the faces
    out = tmp_path / "preds.parquet"
    argv = ["predict", str(model), folder, broken[0], "--output", str(out),
            "--partition-size", "40"]
    assert main(argv) == 0
    written = pd.read_parquet(out)
    assert "(1 unreadable image(s))" in capsys.readouterr().out
    assert written["path"].iloc[-1] == broken[0] and written["error"].notna().sum() == 1
    assert main(argv) == 0  # again: everything is written, nothing changes
    pd.testing.assert_frame_equal(pd.read_parquet(out), written)
    assert main(["predict", str(model), folder, "--output", str(tmp_path / "p.parquet"),
                 "--all-faces"]) == 1
    assert "not with --dask" in capsys.readouterr().err


# -------------------------------------------------------------- Dask cluster
@pytest.fixture(scope="module")
def dask_client():
    import dask

    # Without Dask's worker profiler, as the user guide recommends for TensorFlow.
    with dask.config.set({"distributed.worker.profile.enabled": False}), \
            distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                     dashboard_address=None, silence_logs=logging.ERROR
                                     ) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def search_in_process(dataset):
    """A 2-candidate, 2-fold grid search with n_jobs=1 (4 tiny fits)."""
    _, paths, labels, _ = dataset
    return GridSearchCV(tiny_classifier(), {"conv_filters": [(4,), (4, 8)]}, cv=2,
                        scoring="neg_log_loss", refit=False, error_score="raise"
                        ).fit(paths[::6], labels[::6])


def _same_search(search, reference):
    assert search.cv_results_["params"] == reference.cv_results_["params"]
    # Equal to float32 rounding: the workers' TensorFlow runs on 1 thread, this one on all.
    np.testing.assert_allclose(search.cv_results_["split0_test_score"],
                               reference.cv_results_["split0_test_score"], rtol=1e-5)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               reference.cv_results_["mean_test_score"], rtol=1e-5)
    assert search.best_params_ == reference.best_params_


@pytest.mark.slow
def test_tensorflow_threads_are_sized_per_worker(dask_client):
    threads = configure_tensorflow_threads(dask_client)
    # 2 single-threaded workers share this machine's cores.
    cores = len(os.sched_getaffinity(0))
    assert list(threads.values()) == [max(1, cores // 2)] * 2
    env = dask_client.run(lambda: os.environ["TF_NUM_INTRAOP_THREADS"])
    assert set(env.values()) == {str(max(1, cores // 2))}


@pytest.mark.slow
def test_grid_search_on_dask_equals_n_jobs_1(dask_client, dataset, search_in_process):
    _, paths, labels, _ = dataset
    configure_tensorflow_threads(dask_client, 1)
    with joblib.parallel_backend("dask"):
        search = GridSearchCV(tiny_classifier(), {"conv_filters": [(4,), (4, 8)]}, cv=2,
                              scoring="neg_log_loss", refit=False, error_score="raise",
                              n_jobs=-1).fit(paths[::6], labels[::6])
    _same_search(search, search_in_process)
    # The fits ran on the workers, each with one TensorFlow thread.
    assert set(dask_client.run(lambda: os.environ["TF_NUM_INTRAOP_THREADS"]).values()) == {"1"}


@pytest.mark.slow
def test_predict_paths_on_the_cluster_sends_the_model_once(dask_client, dataset, fitted,
                                                           tmp_path):
    everything, _, _, broken = dataset
    before = dask_client.run(_predict.models_loaded)
    df = predict_paths(fitted, everything, dask_client, partition_size=25)
    assert df.npartitions == 8
    # Nothing waits for the scattered model yet: Dask's memory manager drops all
    # replicas but one, and the other worker fetches it again when its tasks run.
    dask_client.amm.run_once()
    _check_rows(dask_client.compute(df).result(), everything, broken, fitted)
    after = dask_client.run(_predict.models_loaded)
    assert {w: after[w] - before[w] for w in after} == {w: 1 for w in after}  # 8 tasks

    # Resumable on the cluster: the re-run rewrites only the partition that is missing.
    out = tmp_path / "preds.parquet"
    predict_paths(fitted, everything, dask_client, partition_size=50, output=out)
    stamps = {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out)}
    os.remove(out / "part.00002.parquet")
    frame = predict_paths(fitted, everything, dask_client, partition_size=50, output=out)
    _check_rows(frame.compute(), everything, broken, fitted)
    again = {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out)}
    assert {n for n in again if again[n] != stamps[n]} == {"part.00002.parquet"}


@pytest.mark.slow
def test_cli_predicts_on_a_dask_scheduler(dask_client, dataset, fitted, tmp_path, capsys):
    everything, _, _, broken = dataset
    model = tmp_path / "model.skmood"
    skmood.save(fitted, model)
    folder = os.path.dirname(everything[0])
    code = main(["predict", str(model), folder, broken[1], "--format", "json",
                 "--dask", dask_client.scheduler.address, "--partition-size", "50"])
    out = capsys.readouterr().out
    assert code == 0
    rows = json.loads(out)
    assert rows[-1] == {"path": broken[1], "label": None, "happy": None, "sad": None}
    expected = fitted.predict_proba([r["path"] for r in rows[:-1]])
    np.testing.assert_allclose([[r["happy"], r["sad"]] for r in rows[:-1]], expected,
                               rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- Ray
@pytest.fixture(scope="module")
def ray_backend():
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": worker_env(1)})
    except Exception as exc:  # e.g. no shared memory in a sandbox
        pytest.skip(f"Ray cannot start on this machine: {type(exc).__name__}: {exc}")
    register_ray()
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_grid_search_on_ray_equals_n_jobs_1(ray_backend, dataset, search_in_process):
    _, paths, labels, _ = dataset
    with joblib.parallel_backend("ray"):
        search = GridSearchCV(tiny_classifier(), {"conv_filters": [(4,), (4, 8)]}, cv=2,
                              scoring="neg_log_loss", refit=False, error_score="raise",
                              n_jobs=2).fit(paths[::6], labels[::6])
    _same_search(search, search_in_process)

    @ray_backend.remote
    def threads():
        return os.environ.get("TF_NUM_INTRAOP_THREADS")

    assert ray_backend.get(threads.remote()) == "1"
