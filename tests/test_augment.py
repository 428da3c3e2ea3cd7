"""Augmentations: shapes and ranges, DiffAugment on reals and fakes, exact whole-pixel shifts."""
import pytest
import torch

import gan_helpers as gh
from gan_helpers import augment


def test_augmentations_keep_shape_and_range():
    x = torch.rand(64, 3, 32, 32) * 2 - 1
    for kind in ("none", "flip", "diffaug", "rotate", "erase", "crop"):
        views = augment.preview(x, kinds=(kind,))
        assert views[kind].shape == x.shape and torch.isfinite(views[kind]).all()
    flipped = augment.augment_real(x, "flip", torch.Generator().manual_seed(0))
    same = (flipped == x).flatten(1).all(1)
    mirrored = (flipped == x.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all() and 10 < mirrored.sum() < 54
    assert torch.equal(augment.augment_both(x, "flip"), x)  # flip is for real images only


def test_diffaug_is_differentiable_and_applies_to_fakes_too():
    fake = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = augment.augment_both(fake, "diffaug", torch.Generator().manual_seed(0))
    assert not torch.equal(out, fake)
    out.sum().backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


def test_augment_names_are_checked_with_a_suggestion():
    with pytest.raises(ValueError, match="did you mean 'flip'"):
        gh.RunConfig(augment="flipp").validate()
    with pytest.raises(ValueError, match="augment='rotate' is for images"):
        gh.RunConfig(dataset="ring8", augment="rotate").validate()


def test_diffaug_translation_moves_whole_pixels_and_fills_exact_zeros():
    """Every image moves by exactly the whole pixels drawn for it: kept pixels keep their
    exact values, vacated rows/columns are exactly 0; and gradients reach the kept pixels."""
    x = torch.rand(6, 2, 8, 8) + 1.0  # no pixel is 0 before the shift
    dx, dy = torch.tensor([0, 1, -2, 0, 3, -1]), torch.tensor([0, 0, 1, -3, 2, -1])
    out = augment.translate(x, dx, dy, reach=3)
    for i in range(6):
        moved = torch.roll(x[i], shifts=(int(dy[i]), int(dx[i])), dims=(1, 2))
        rows = torch.arange(8).view(8, 1) - dy[i]
        cols = torch.arange(8).view(1, 8) - dx[i]
        inside = (rows >= 0) & (rows < 8) & (cols >= 0) & (cols < 8)
        assert torch.equal(out[i][:, inside], moved[:, inside])
        assert (out[i][:, ~inside] == 0).all()
    x.requires_grad_(True)
    augment.translate(x, dx, dy, reach=3).sum().backward()
    assert torch.equal(x.grad[0], torch.ones(2, 8, 8))  # unshifted: every pixel kept


def test_diffaug_draws_its_shifts_from_the_given_generator():
    """Same seed, same augmented batch; the shifts span -reach..reach (3 pixels at 28x28)."""
    x = torch.rand(64, 1, 28, 28) + 1.0
    a = augment.augment_both(x, "diffaug", torch.Generator().manual_seed(3))
    b = augment.augment_both(x, "diffaug", torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    blank_rows = (a == 0).all(dim=(1, 3))  # (N, H): rows the shift emptied
    assert blank_rows.sum(1).max() <= 3
