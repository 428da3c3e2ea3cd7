"""The 2D mixtures: the documented geometry, deterministic for a seed."""
import pytest
import torch

from gan_helpers import toy


def test_toy_geometry_is_the_documented_one():
    ring = toy.mode_centers("ring8")
    assert torch.allclose(ring.norm(dim=1), torch.full((8,), toy.RING_RADIUS))
    grid = toy.mode_centers("grid25")
    assert sorted(grid[:, 0].unique().tolist()) == [-4, -2, 0, 2, 4]
    assert toy.mode_std("grid25") == 0.05
    assert torch.equal(toy.make_points("ring8", 10, 1)[0], toy.make_points("ring8", 10, 1)[0])
    with pytest.raises(ValueError, match="ring8"):
        toy.make_points("ring9", 10, 0)
