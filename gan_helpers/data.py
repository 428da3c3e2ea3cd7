"""Data sets as one uint8 tensor on the training device, and a batch iterator.

A student's DataLoader with per-sample ToTensor/Normalize spends most of an MNIST epoch
on the CPU. Here the whole set sits on the device once; a batch is a shuffled index
slice scaled to [-1, 1] there.
"""
import gzip
import hashlib
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .config import resolve_architecture
from .env import DATA_ENV, data_dir, may_download, write_atomic
from .image_folder import fit_images, load_image_folder
from .toy import make_points


@dataclass
class Dataset:
    """images: uint8 (N, C, S, S) in 0..255, or float (N, 2) points for the toy sets."""
    name: str
    images: torch.Tensor
    labels: Optional[torch.Tensor] = None

    def __len__(self):
        return len(self.images)

    @property
    def is_points(self):
        return self.images.dtype != torch.uint8

    def to(self, device):
        labels = None if self.labels is None else self.labels.to(device)
        return Dataset(self.name, self.images.to(device), labels)

    def sample(self, n, seed=0):
        """n items in [-1, 1] (images) or raw coordinates (points), for showing the data."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n].to(self.images.device)
        return normalise(self.images[idx])


def normalise(x):
    """uint8 pixels 0..255 -> floats in [-1, 1] (the generator's tanh range); floats unchanged."""
    return x if x.dtype != torch.uint8 else x.float().div_(127.5).sub_(1.0)


def load_dataset(cfg, device="cpu"):
    """The data set named by cfg.dataset, resized to cfg.image_size/channels, on `device`."""
    if cfg.dataset in ("mnist", "fashion_mnist"):
        ds = Dataset(cfg.dataset, *mnist(cfg.dataset, train=True))
    elif cfg.dataset == "stacked_mnist":
        ds = Dataset(cfg.dataset, *stacked_mnist(cfg.max_images or STACKED_MNIST_SIZE, seed=cfg.seed))
    elif cfg.dataset == "folder":
        ds = Dataset(Path(cfg.data_path).stem, load_image_folder(cfg.data_path, cfg.image_size))
    else:
        ds = Dataset(cfg.dataset, *make_points(cfg.dataset, n=cfg.max_images or 50_000, seed=cfg.seed))
    if cfg.max_images and len(ds) > cfg.max_images:
        ds = Dataset(ds.name, ds.images[:cfg.max_images],
                     None if ds.labels is None else ds.labels[:cfg.max_images])
    if cfg.batch_size > len(ds):
        raise ValueError(too_small_advice(cfg, len(ds)))
    if not ds.is_points:
        ds = Dataset(ds.name, fit_images(ds.images, cfg.image_size, cfg.channels), ds.labels)
    return ds.to(device)


def too_small_advice(cfg, n):
    """What to do when the batch is larger than the data set, as advice that works when
    followed: BatchNorm refuses a batch of one, so a one-image set is told to turn it off."""
    batch_norm = "batch" in (resolve_architecture(cfg).g_norm, resolve_architecture(cfg).d_norm)
    smallest = 2 if batch_norm else 1
    need = (f"batch_size={cfg.batch_size} is larger than the data set ({n} item{'s' * (n != 1)}). "
            f"A GAN learns what its images have in common, so it needs many: a folder of a few "
            f"hundred images at least (the DCGAN paper's sets held tens of thousands).")
    if n >= smallest:
        return (f"{need} To try the code on these {n}, set batch_size={min(n, 64)} or less "
                f"(at least {smallest}{': BatchNorm needs two images per batch' * batch_norm}).")
    return (f"{need} One image cannot train with BatchNorm (it normalises over the batch): add "
            f"images, or set g_norm='none', d_norm='none' and batch_size=1 to try the code.")


def torchvision_mnist(name="mnist", train=True, transform=None, download=None):
    """torchvision's MNIST / Fashion-MNIST data set; downloads only when missing and allowed
    (download=None: unless GAN_HELPERS_NO_DOWNLOAD=1), else says where the files go."""
    from torchvision import datasets  # torchvision's import is slow: only when MNIST is asked for
    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    root = data_dir()
    prefer_working_mirrors(cls)
    check_unpacked(cls, root)
    try:
        return cls(root=str(root), train=train, transform=transform,
                   download=may_download() if download is None else download)
    except RuntimeError as e:  # torchvision: "Dataset not found. You can use download=True"
        raise FileNotFoundError(
            f"{cls.__name__} ({'train' if train else 'test'} split) not found under "
            f"{root}/{cls.__name__}/raw. Run `python data_scripts/download_mnist.py --root {root}`, "
            f"or copy the four *-ubyte(.gz) files there, or point {DATA_ENV} at the folder that "
            f"holds {cls.__name__}/raw.") from e


def check_unpacked(cls, root):
    """torchvision reads the unpacked *-ubyte files beside the .gz archives; one cut short (an
    unpack or a copy interrupted) fails there as "shape '[60000, 28, 28]' is invalid", and
    download_mnist.py keeps it (its .gz is intact). Each file's idx header says how long it
    must be: a damaged one is unpacked again from an intact .gz, else named with what to do."""
    raw = Path(root) / cls.__name__ / "raw"
    for archive, md5 in cls.resources:
        path, gz = raw / archive[:-3], raw / archive
        problem = idx_problem(path) if path.is_file() else None
        if problem is None:
            continue
        if not (gz.is_file() and file_md5(gz) == md5):
            raise FileNotFoundError(
                f"{path} is damaged: {problem}, and {gz.name} beside it is "
                f"{'damaged too' if gz.exists() else 'missing'}. Delete both and run `python "
                f"data_scripts/download_mnist.py --root {root}` (it fetches and unpacks them), or "
                f"copy intact files there.")
        try:
            write_atomic(path, lambda tmp: _gunzip(gz, tmp), then="")
        except OSError as e:
            raise OSError(e.errno, f"{path} is damaged: {problem}. Unpacking it again from "
                                   f"{gz.name} failed: {e} Unpack it yourself, `gunzip -kf {gz}`, "
                                   f"or point {DATA_ENV} at a folder you may write in.") from e
        print(f"{path.name} was damaged ({problem}): unpacked it again from {gz.name}.")


def idx_problem(path):
    """What is wrong with an idx file (MNIST's format: a header of its dimensions, then one byte
    a number), or None: its size must be 4 + 4 x dimensions + their product."""
    with open(path, "rb") as f:
        header = f.read(4)
        ndim = header[3] if len(header) == 4 else 0
        dims = f.read(4 * ndim)
    if len(header) < 4 or header[:3] != b"\0\0\x08" or len(dims) < 4 * ndim:
        return f"its header is cut short or not an idx header ({path.stat().st_size:,} bytes)"
    expected = 4 + 4 * ndim + math.prod(int.from_bytes(dims[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
    size = path.stat().st_size
    return None if size == expected else f"it has {size:,} bytes where its header says {expected:,}"


def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _gunzip(gz, out):
    with gzip.open(gz, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)


STACKED_MNIST_SIZE = 128_000  # as VEEGAN, PacGAN and R3GAN train on


def stacked_mnist(n=STACKED_MNIST_SIZE, seed=0, train=True):
    """(uint8 images (n, 3, 28, 28), labels 0..999): three MNIST digits drawn at random (from
    `seed`, so the same set every time) as the red, green and blue channels of one image. Its
    1,000 modes are the digit triples; the label is 100 x red + 10 x green + blue."""
    images, labels = mnist("mnist", train)
    picks = torch.randint(0, len(images), (3, n), generator=torch.Generator().manual_seed(seed))
    stacked = torch.cat([images[i] for i in picks], dim=1)  # (n, 3, 28, 28)
    return stacked, 100 * labels[picks[0]] + 10 * labels[picks[1]] + labels[picks[2]]


def mnist(name="mnist", train=True, download=None):
    """(uint8 images (N, 1, 28, 28), labels) of the MNIST / Fashion-MNIST train or test split."""
    ds = torchvision_mnist(name, train, download=download)
    return ds.data.unsqueeze(1).contiguous(), ds.targets.clone()


DEAD_MIRRORS = ("yann.lecun.com",)  # answers 403/404 since 2024 (pytorch/vision#8568)


def prefer_working_mirrors(cls):
    """Put the mirrors that still answer first in torchvision's list (cls.mirrors, a class
    attribute its download tries in order); older torchvision tries yann.lecun.com first."""
    mirrors = list(getattr(cls, "mirrors", []))
    cls.mirrors = sorted(mirrors, key=lambda url: any(dead in url for dead in DEAD_MIRRORS))
    return cls.mirrors


def prepare_datasets(names):
    """Download the named torchvision sets once, here, if missing: a sweep's parent does this
    before --jobs > 1 variants start, so their kernels do not all download at once into the
    same folder. Nothing happens where downloads are off (GAN_HELPERS_NO_DOWNLOAD=1): the
    variants then report a missing data set themselves. Returns the names it prepared."""
    names = sorted({"mnist" if n == "stacked_mnist" else n for n in names
                    if n in ("mnist", "fashion_mnist", "stacked_mnist")})
    if not may_download():
        return []
    for name in names:
        torchvision_mnist(name)
    return names


def steps_per_epoch(n, batch_size):
    return max(n // batch_size, 1)


def batches(data, batch_size, generator):
    """One epoch of shuffled batches on the data's device; the last partial batch is dropped
    so every step has the same shape (steady BatchNorm statistics, no recompiles)."""
    n = len(data)
    order = torch.randperm(n, device=data.images.device, generator=generator)
    for i in range(steps_per_epoch(n, batch_size)):
        yield normalise(data.images[order[i * batch_size:(i + 1) * batch_size]])

