"""2D toy mixtures for watching mode collapse happen: a ring of 8 Gaussians and a 5x5 grid.

The definitions follow VEEGAN / PacGAN. ring8 is scaled by 2 (radius 2, std 0.02, as in the
official WGAN-GP toy code) instead of radius 1, std 0.01: the same shape and the same
std-to-spacing ratio, so the same difficulty and the same "within 3 std" test, at a scale
that suits networks initialised for unit-sized inputs. grid25: means -4..4 step 2, std 0.05.
"""
import math

import torch

from .config import POINT_DATASETS as TOY_SETS  # "ring8", "grid25"
RING_RADIUS, RING_STD = 2.0, 0.02
GRID_STD = 0.05


def _check(name):
    if name not in TOY_SETS:
        raise ValueError(f"toy data set {name!r} is not one of {', '.join(TOY_SETS)}.")


def mode_centers(name):
    """(K, 2) float tensor of the mixture's means (K = 8 or 25)."""
    _check(name)
    if name == "ring8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return (RING_RADIUS * torch.stack([angles.cos(), angles.sin()], 1)).float()
    axis = torch.arange(-4.0, 5.0, 2.0)
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], 1)


def mode_std(name):
    """Standard deviation of each Gaussian of the mixture."""
    _check(name)
    return RING_STD if name == "ring8" else GRID_STD


def make_points(name, n=50_000, seed=0):
    """n points drawn evenly from the mixture's modes: (float32 (n, 2) points, labels = mode
    index). Deterministic for a seed."""
    _check(name)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be a whole number of points >= 1.")
    g = torch.Generator().manual_seed(seed)
    centers = mode_centers(name)
    labels = torch.randint(len(centers), (n,), generator=g)
    points = centers[labels] + mode_std(name) * torch.randn(n, 2, generator=g)
    return points.float(), labels
