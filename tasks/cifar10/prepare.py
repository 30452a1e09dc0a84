"""Builds the CIFAR-10 task from the official python archive (Krizhevsky, 2009).

Online, the archive (about 170 MB) is downloaded once into the data cache and checked
against its published MD5; offline, a copy already in the cache is used (the archive, or
the folder cifar-10-batches-py/ that torchvision extracts). The 50,000
training images (with labels) and the 10,000 test images (without labels, in a shuffled
order with new ids) go to the workspace; the test labels stay in answers/.
"""
import pickle
import tarfile

import numpy as np
import pandas as pd

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
SEED = 20240504
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _load_batch(raw):
    batch = pickle.load(raw, encoding="bytes")  # the format the dataset is published in
    images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[b"labels"], dtype=np.int64)


def _batches(source, names):
    """Images (N, 32, 32, 3) uint8 and labels from the named batches of the archive or folder."""
    parts = []
    if source.is_dir():
        for name in names:
            with open(source / name, "rb") as f:
                parts.append(_load_batch(f))
    else:
        with tarfile.open(source, "r:gz") as tar:
            for name in names:
                parts.append(_load_batch(tar.extractfile(f"cifar-10-batches-py/{name}")))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def write_task_files(ctx, train_images, train_labels, test_images, test_labels):
    """Write the visible and hidden parts from arrays (also used by the tests)."""
    order = np.random.RandomState(SEED).permutation(len(test_labels))
    test_images, test_labels = test_images[order], test_labels[order]
    ids = np.arange(len(test_labels))
    np.savez(ctx.data_dir / "train.npz", images=train_images, labels=train_labels)
    np.savez(ctx.data_dir / "test.npz", images=test_images, ids=ids)
    (ctx.data_dir / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    sample = pd.DataFrame({"id": ids, **{str(c): 0.1 for c in range(10)}})
    sample.to_csv(ctx.data_dir / "sample_submission.csv", index=False)
    pd.DataFrame({"id": ids, "label": test_labels}).to_csv(ctx.answers / "test_labels.csv", index=False)


def prepare(ctx):
    # An already extracted copy (the layout torchvision's CIFAR10(download=True) leaves) is used as is.
    source = ctx.cache / ctx.task_name / "cifar-10-batches-py"
    if not (source / "test_batch").is_file():
        source = ctx.download(URL, "cifar-10-python.tar.gz", MD5)
    train_images, train_labels = _batches(source, [f"data_batch_{i}" for i in range(1, 6)])
    test_images, test_labels = _batches(source, ["test_batch"])
    write_task_files(ctx, train_images, train_labels, test_images, test_labels)
