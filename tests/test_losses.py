"""Loss families, the one gradient penalty, per-layer gradient logging and the BatchNorm refusal."""
import math

import pytest
import torch
from torch import nn

import gan_helpers as gh
from gan_helpers import losses


FAMILIES = ("bce", "wgan", "wgan-gp", "hinge", "lsgan")


class Quadratic(nn.Module):
    """D(x) = sum(w * x^2) over C, H, W: grad = 2 w x, easy to compute by hand."""

    def __init__(self, shape):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(0.1, 1.0, math.prod(shape)).view(shape))

    def forward(self, x):
        return (self.w * x ** 2).flatten(1).sum(1)


def test_gradient_penalty_matches_a_hand_computation_over_all_dims():
    torch.manual_seed(0)
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    critic = Quadratic((3, 4, 4))
    gp, mean_norm = losses.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(7))
    eps = torch.rand((6, 1, 1, 1), generator=torch.Generator().manual_seed(7))
    x_hat = eps * real + (1 - eps) * fake
    grad = 2 * critic.w.detach() * x_hat
    norms = grad.pow(2).sum(dim=(1, 2, 3)).sqrt()  # over C, H and W together
    assert torch.allclose(gp, ((norms - 1) ** 2).mean(), rtol=1e-5)
    assert torch.allclose(mean_norm, norms.mean(), rtol=1e-5)
    dim1_only = grad.norm(2, dim=1)  # the common bug: a (6, 4, 4) "norm" over channels only
    assert not torch.allclose(gp, ((dim1_only - 1) ** 2).mean(), rtol=1e-2)


def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic():
    w = torch.randn(2)
    critic = nn.Linear(2, 1, bias=False)
    critic.weight.data = (w / w.norm()).view(1, 2)
    gp, mean_norm = losses.gradient_penalty(critic, torch.randn(32, 2), torch.randn(32, 2))
    assert gp.item() < 1e-10 and abs(mean_norm.item() - 1) < 1e-6
    norms = losses.interpolate_grad_norms(critic, torch.randn(32, 2), torch.randn(32, 2))
    assert norms.shape == (32,) and torch.allclose(norms, torch.ones(32))


@pytest.mark.parametrize("kind", FAMILIES)
def test_losses_are_finite_and_point_the_right_way(kind):
    high, low = torch.full((8,), 3.0), torch.full((8,), -3.0)
    d_good = losses.d_loss(kind, real_scores=high, fake_scores=low)   # D tells them apart
    d_fooled = losses.d_loss(kind, real_scores=low, fake_scores=high)
    g_winning = losses.g_loss(kind, fake_scores=high)                  # D calls fakes real
    g_losing = losses.g_loss(kind, fake_scores=low)
    for value in (d_good, d_fooled, g_winning, g_losing):
        assert value.dim() == 0 and torch.isfinite(value)
    assert d_good < d_fooled and g_winning < g_losing
    if kind in ("wgan", "wgan-gp"):
        assert d_good.item() == pytest.approx(-6.0)  # E[D(fake)] - E[D(real)]
    if kind in ("bce", "lsgan", "hinge"):
        assert d_good.item() >= 0 and g_losing.item() > 0


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.d_loss("wasserstein", torch.zeros(2), torch.zeros(2))


@pytest.mark.parametrize("loss", ["wgan", "wgan-gp"])
def test_a_batchnorm_critic_is_refused_with_the_reason(loss):
    cfg = gh.RunConfig(preset="dcgan64", image_size=64, loss=loss)  # dcgan64 D uses BatchNorm
    with pytest.raises(ValueError, match="BatchNorm makes each sample's critic value") as e:
        cfg.validate()
    assert "d_norm='instance'" in str(e.value)
    cfg.replace(d_norm="instance").validate()  # the fix the message names works
    gh.RunConfig(preset="dcgan64", image_size=64, loss="bce").validate()  # BCE D may use it


# ---- issue 24: the relativistic pairing loss and R1 / R2 ----------------------------------------
def test_rpgan_losses_by_hand_and_their_gradients():
    """D: softplus(-(D(x) - D(G(z)))); G: softplus(-(D(G(z)) - D(x))), each pair's difference."""
    real = torch.tensor([2.0, 0.5, -1.0], requires_grad=True)
    fake = torch.tensor([-1.0, 0.5, 1.0], requires_grad=True)
    d = losses.d_loss("rpgan", real, fake)
    diff = torch.tensor([3.0, 0.0, -2.0])
    assert torch.allclose(d, torch.log1p(torch.exp(-diff)).mean())
    d.backward()  # d/dreal softplus(-diff) = -sigmoid(-diff) / n, and the opposite for fake
    assert torch.allclose(real.grad, -torch.sigmoid(-diff) / 3)
    assert torch.allclose(fake.grad, torch.sigmoid(-diff) / 3)
    g = losses.g_loss("rpgan", fake.detach(), real.detach())
    assert torch.allclose(g, torch.log1p(torch.exp(diff)).mean())
    high, low = torch.full((8,), 3.0), torch.full((8,), -3.0)
    assert losses.d_loss("rpgan", high, low) < losses.d_loss("rpgan", low, high)
    assert losses.g_loss("rpgan", high, low) < losses.g_loss("rpgan", low, high)
    with pytest.raises(ValueError, match="pass real_scores"):
        losses.g_loss("rpgan", high)


def test_zero_centered_penalty_matches_a_hand_computation_and_trains_d():
    """R1/R2 = E ||grad_x D(x)||^2 over C, H, W; with create_graph it has a gradient for D's
    weights (it is a term of D's loss): d/dw of sum (2 w x)^2 = 8 w x^2."""
    torch.manual_seed(0)
    x = torch.randn(5, 3, 4, 4).requires_grad_(True)
    critic = Quadratic((3, 4, 4))
    penalty, mean_norm = losses.zero_centered_penalty(x, critic(x))
    grad = 2 * critic.w.detach() * x.detach()
    squared = grad.pow(2).sum(dim=(1, 2, 3))
    assert torch.allclose(penalty, squared.mean(), rtol=1e-5)
    assert torch.allclose(mean_norm, squared.sqrt().mean(), rtol=1e-5)
    penalty.backward()
    expected = (8 * critic.w.detach() * x.detach() ** 2).mean(0)
    assert torch.allclose(critic.w.grad, expected, rtol=1e-4)


def test_rpgan_trains_with_r1_and_r2_logged(mnist_ready):
    cfg = gh.RunConfig(loss="rpgan", r1_gamma=1.0, max_images=128, batch_size=64, epochs=1,
                       device="cpu", precision="fp32").validate()
    history = gh.train(cfg, gh.load_dataset(cfg), progress=False, live=False)
    assert math.isfinite(history["d_loss"][0]) and history["gp"][0] > 0
    off = gh.train(cfg.replace(r1_gamma=0.0), gh.load_dataset(cfg), progress=False, live=False)
    assert "gp" not in off or off["gp"][0] is None
    with pytest.raises(ValueError, match="d_norm='batch' cannot be used with loss='rpgan'"):
        gh.RunConfig(loss="rpgan", preset="dcgan64", image_size=64, channels=3).validate()
