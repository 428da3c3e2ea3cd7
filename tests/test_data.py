"""Data sets on the device: batches, sizes, MNIST files present, missing, corrupt."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gan_helpers as gh
from gan_helpers import RunConfig
from gan_helpers.data import batches


def test_batches_are_shuffled_slices_in_range(mnist_ready, small_cfg):
    data = gh.load_dataset(small_cfg)
    assert data.images.dtype == torch.uint8 and data.images.shape == (256, 1, 28, 28)
    out = list(batches(data, 64, torch.Generator().manual_seed(0)))
    assert len(out) == 4 and out[0].shape == (64, 1, 28, 28)
    assert out[0].min() >= -1 and out[0].max() <= 1 and out[0].dtype == torch.float32


ROOT = Path(__file__).resolve().parents[1]


def test_batch_larger_than_the_data_set(mnist_ready, tmp_path):
    cfg = RunConfig(max_images=100, batch_size=128).validate()
    with pytest.raises(ValueError, match="set batch_size=64 or less") as err:
        gh.load_dataset(cfg)
    assert "a few hundred images at least" in str(err.value)
    gh.load_dataset(cfg.replace(batch_size=64))  # the advice, followed, loads


def test_one_image_is_told_a_setting_that_trains(tmp_path):
    """batch_size=1, the old advice for a one-image folder, was then refused for BatchNorm."""
    from PIL import Image
    folder = tmp_path / "one"
    folder.mkdir()
    Image.new("RGB", (80, 80), (200, 40, 40)).save(folder / "only.png")
    cfg = RunConfig(dataset="folder", data_path=str(folder), preset="dcgan64", image_size=64,
                    channels=3, batch_size=64, epochs=1, device="cpu", wandb_mode="disabled").validate()
    with pytest.raises(ValueError) as err:
        gh.load_dataset(cfg)
    message = str(err.value)
    assert "One image cannot train with BatchNorm" in message and "batch_size=1" in message
    followed = cfg.replace(g_norm="none", d_norm="none", batch_size=1).validate()
    history = gh.train(followed, gh.load_dataset(followed), progress=False)
    assert history["epoch"] == [1]


def test_missing_data_folder_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError) as err:
        gh.load_dataset(RunConfig(dataset="fashion_mnist").validate())
    assert "download_mnist.py" in str(err.value) and "GAN_DATA_DIR" in str(err.value)


ROOT = Path(__file__).resolve().parents[1]


def _script(name, *args, **env):
    return subprocess.run([sys.executable, str(ROOT / "data_scripts" / name), *map(str, args)],
                          capture_output=True, text=True, timeout=180, env={**os.environ, **env})


def _mnist_copy(root, link):
    """root/MNIST/raw with the four real .gz files from GAN_DATA_DIR, as symlinks or copies."""
    shared = Path(os.environ["GAN_DATA_DIR"]) / "MNIST" / "raw"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in sorted(shared.glob("*.gz")):
        (raw / f.name).symlink_to(f) if link else shutil.copy(f, raw / f.name)
    return raw


def test_download_mnist_keeps_valid_files_and_downloads_nothing(mnist_ready, tmp_path):
    raw = _mnist_copy(tmp_path, link=True)
    before = {p.name: os.readlink(p) for p in raw.glob("*.gz")}
    proc = _script("download_mnist.py", "--root", tmp_path, "--dataset", "mnist",
                   GAN_HELPERS_NO_DOWNLOAD="0")  # downloads allowed: none is needed
    assert proc.returncode == 0, proc.stderr
    assert "MD5 OK; nothing downloaded" in proc.stdout
    assert {p.name: os.readlink(p) for p in raw.glob("*.gz")} == before  # still the links
    from torchvision import datasets
    assert len(datasets.MNIST(str(tmp_path), train=False)) == 10_000  # unpacked, loadable


def test_download_mnist_names_a_corrupt_file_and_where_to_get_it(mnist_ready, tmp_path):
    raw = _mnist_copy(tmp_path, link=False)
    bad = raw / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-10])  # a partial download
    proc = _script("download_mnist.py", "--root", tmp_path, "--dataset", "mnist", "--no-download")
    assert proc.returncode == 1
    assert "t10k-labels-idx1-ubyte.gz: MD5" in proc.stderr and "expected ec29112d" in proc.stderr
    assert str(raw) in proc.stderr  # where to put it
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz" in proc.stderr
    assert "train-images" not in proc.stderr  # the good files are not blamed
    missing = _script("download_mnist.py", "--root", tmp_path / "empty", "--dataset", "fashion_mnist")
    assert missing.returncode == 1 and missing.stderr.count(": missing") == 4


@pytest.mark.parametrize("content, words", [
    ({"images": torch.zeros(4, 3, 32, 32, dtype=torch.uint8)}, "holds a dict"),
    (torch.zeros(4, 32, 32, dtype=torch.uint8), "shape (4, 32, 32)"),
    (torch.zeros(4, 3, 32, 32), "torch.float32"),
])
def test_data_path_pt_that_is_no_image_tensor_is_refused(mnist_ready, tmp_path, content, words):
    """Point 8: a .pt holding a dict or a tensor of the wrong rank, named before training."""
    torch.save(content, tmp_path / "mine.pt")
    cfg = gh.RunConfig(dataset="folder", data_path=str(tmp_path / "mine.pt"), image_size=32,
                       channels=3, batch_size=2).validate()
    with pytest.raises(ValueError) as err:
        gh.load_dataset(cfg)
    assert "data_path" in str(err.value) and words in str(err.value)


def test_stacked_mnist_is_three_digits_as_three_channels_drawn_from_the_seed(mnist_ready):
    from gan_helpers.data import mnist, stacked_mnist
    a, labels = stacked_mnist(300, seed=3)
    b, _ = stacked_mnist(300, seed=3)
    assert a.shape == (300, 3, 28, 28) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, stacked_mnist(300, seed=4)[0])
    digits, digit_labels = mnist("mnist", train=True)
    for i in range(3):  # each channel is one real digit, and the label names the three
        for c, place in enumerate((100, 10, 1)):
            match = (digits[:, 0] == a[i, c]).flatten(1).all(1).nonzero()
            assert (digit_labels[match[:, 0]] == (labels[i] // place) % 10).any()
    cfg = RunConfig(dataset="stacked_mnist", channels=3, max_images=256, batch_size=64).validate()
    assert gh.load_dataset(cfg).images.shape == (256, 3, 28, 28)
    with pytest.raises(ValueError, match="set channels=3 and image_size=28"):
        RunConfig(dataset="stacked_mnist").validate()
