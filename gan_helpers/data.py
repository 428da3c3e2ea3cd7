"""Data sets as one uint8 tensor on the training device, and a batch iterator.

A student's DataLoader with per-sample ToTensor/Normalize spends most of an MNIST epoch
on the CPU. Here the whole set sits on the device once; a batch is a shuffled index
slice scaled to [-1, 1] there.
"""
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

DATA_ENV = "GAN_DATA_DIR"


def data_dir():
    """GAN_DATA_DIR, else /content/data on Colab, else ./data."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    from .colab import in_colab
    return Path("/content/data") if in_colab() else Path("data")


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
    return x if x.dtype != torch.uint8 else x.float().div_(127.5).sub_(1.0)


def load_dataset(cfg, device="cpu"):
    """The data set named by cfg.dataset, resized to cfg.image_size/channels, on `device`."""
    if cfg.dataset in ("mnist", "fashion_mnist"):
        ds = _torchvision_set(cfg.dataset)
    elif cfg.dataset == "folder":
        from .image_folder import load_image_folder
        ds = load_image_folder(cfg.data_path, cfg.image_size)
    else:
        from .toy import make_points
        ds = make_points(cfg.dataset, n=cfg.max_images or 50_000, seed=cfg.seed)
    if cfg.max_images and len(ds) > cfg.max_images:
        ds = Dataset(ds.name, ds.images[:cfg.max_images],
                     None if ds.labels is None else ds.labels[:cfg.max_images])
    if cfg.batch_size > len(ds):
        raise ValueError(f"batch_size={cfg.batch_size} is larger than the data set "
                         f"({len(ds)} items): set batch_size <= {len(ds)}.")
    if not ds.is_points:
        ds = Dataset(ds.name, fit_images(ds.images, cfg.image_size, cfg.channels), ds.labels)
    return ds.to(device)


def fit_images(images, size, channels):
    """Resize uint8 images to size x size and 1 or 3 channels (MNIST at 32/64, say)."""
    if images.shape[1] != channels:
        images = images.repeat(1, 3, 1, 1) if channels == 3 else \
            images.float().mean(1, keepdim=True).round().to(torch.uint8)
    if images.shape[-1] != size:
        out = F.interpolate(images.float(), size=(size, size), mode="bilinear",
                            antialias=True, align_corners=False)
        images = out.round().clamp_(0, 255).to(torch.uint8)
    return images.contiguous()


def _torchvision_set(name):
    """MNIST / Fashion-MNIST train split as uint8 (N, 1, 28, 28); downloads only when missing."""
    from torchvision import datasets
    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    root = data_dir()
    prefer_working_mirrors(cls)
    try:
        ds = cls(root=str(root), train=True, download=_may_download())
    except RuntimeError as e:  # torchvision: "Dataset not found. You can use download=True"
        raise FileNotFoundError(
            f"{cls.__name__} not found under {root}/{cls.__name__}/raw. Run "
            f"`python data_scripts/download_mnist.py --root {root}`, or copy the four "
            f"*-ubyte(.gz) files there, or point {DATA_ENV} at the folder that holds "
            f"{cls.__name__}/raw.") from e
    return Dataset(name, ds.data.unsqueeze(1).contiguous(), ds.targets.clone())


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
    names = sorted({n for n in names if n in ("mnist", "fashion_mnist")})
    if not _may_download():
        return []
    for name in names:
        _torchvision_set(name)
    return names


def _may_download():
    """Tests set GAN_HELPERS_NO_DOWNLOAD=1: a missing data set is an error, not a download."""
    return os.environ.get("GAN_HELPERS_NO_DOWNLOAD", "") in ("", "0")


def steps_per_epoch(n, batch_size):
    return max(n // batch_size, 1)


def batches(data, batch_size, generator):
    """One epoch of shuffled batches on the data's device; the last partial batch is dropped
    so every step has the same shape (steady BatchNorm statistics, no recompiles)."""
    n = len(data)
    order = torch.randperm(n, device=data.images.device, generator=generator)
    for i in range(steps_per_epoch(n, batch_size)):
        yield normalise(data.images[order[i * batch_size:(i + 1) * batch_size]])

