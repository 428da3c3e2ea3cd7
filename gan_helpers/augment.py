"""Augmentation for small data sets, and the kinds that leak into the samples.

A GAN learns whatever D is shown as "real". Flipping keeps real images real; rotating,
erasing or cropping only the real images teaches G to make rotated, holed, cropped
images (the WGAN-GP art report's over-augmented samples). DiffAugment (Zhao et al., 2020) avoids the
leak by applying the same differentiable transform to real *and* fake images before D.
"""
import torch
import torch.nn.functional as F

from .config import AUGMENTATIONS  # "none", "flip", "diffaug"; leaky: "rotate", "erase", "crop"


def augment_real(x, kind, rng=None):
    """Augmentations that apply to real images only (flip, and the leaky ones)."""
    if kind == "flip":
        return torch.where(_coin(x, rng), x.flip(-1), x)
    if kind == "rotate":
        angle = (torch.rand(x.shape[0], device=x.device, generator=rng) - 0.5) * (2 * 3.14159 / 6)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        return _warp(x, theta)
    if kind == "erase":
        n, _, h, w = x.shape
        ys = torch.randint(0, h // 2, (n, 1, 1, 1), device=x.device, generator=rng)
        xs = torch.randint(0, w // 2, (n, 1, 1, 1), device=x.device, generator=rng)
        rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, 1, w)
        hole = (rows >= ys) & (rows < ys + h // 2) & (cols >= xs) & (cols < xs + w // 2)
        return x.masked_fill(hole, 0.0)
    if kind == "crop":
        scale = 0.6 + 0.4 * torch.rand(x.shape[0], device=x.device, generator=rng)
        shift = (1 - scale) * (torch.rand(2, x.shape[0], device=x.device, generator=rng) * 2 - 1)
        zero = torch.zeros_like(scale)
        theta = torch.stack([torch.stack([scale, zero, shift[0]], 1),
                             torch.stack([zero, scale, shift[1]], 1)], 1)
        return _warp(x, theta)
    return x


def augment_both(x, kind, rng=None):
    """Augmentations that apply to every image D sees, real and fake (DiffAugment)."""
    if kind != "diffaug":
        return x
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, generator=rng, dtype=x.dtype) - 0.5) * 0.5
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, generator=rng, dtype=x.dtype) + 0.5) + mean
    # whole-pixel shifts of up to 1/8 of the image, as DiffAugment's translation
    reach = max(x.shape[-1] // 8, 1)
    pixels = torch.randint(-reach, reach + 1, (2, n), device=x.device, generator=rng)
    return translate(x, pixels[0], pixels[1], reach)


def translate(x, dx, dy, reach):
    """Shift each image by whole pixels (dx right, dy down; one per image, each within
    +-reach), filling with 0. Done by indexing a zero-padded copy, so moved pixels keep their
    exact values and the vacated rows and columns are exactly 0 (and gradients flow back to
    the kept pixels). `reach` is given, not read from dx and dy: reading a GPU number here
    would make every training step wait for the GPU, three times an iteration."""
    n, c, h, w = x.shape
    padded = F.pad(x, [reach] * 4)
    rows = torch.arange(h, device=x.device) + reach - dy.view(n, 1)
    cols = torch.arange(w, device=x.device) + reach - dx.view(n, 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    chans = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, chans, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def preview(images, kinds=AUGMENTATIONS, seed=0):
    """{kind: the same real images as D would see them under each augmentation}."""
    out = {}
    for kind in kinds:
        rng = torch.Generator(images.device).manual_seed(seed)
        out[kind] = augment_both(augment_real(images, kind, rng), kind, rng)
    return out


def _coin(x, rng):
    return (torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=rng) < 0.5)


def _warp(x, theta):
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)
