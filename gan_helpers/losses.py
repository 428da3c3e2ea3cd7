"""GAN losses: discriminator/critic and generator objectives for each family.

All take raw scores (logits for BCE, critic values for WGAN) so one training loop
serves every family. `gradient_penalty` is the one WGAN-GP penalty, over all
non-batch dimensions of each sample; `zero_centered_penalty` is R1 (on real samples) and
R2 (on fakes), which the relativistic pairing loss "rpgan" comes with (R3GAN, Huang et
al. 2024: brownvc/R3GAN, R3GAN/Trainer.py).
"""
import torch
import torch.nn.functional as F


def d_loss(kind, real_scores, fake_scores, real_label=1.0):
    """Discriminator (critic) loss to minimise. real_label < 1 is one-sided label smoothing."""
    if kind == "bce":
        return (F.binary_cross_entropy_with_logits(real_scores, torch.full_like(real_scores, real_label))
                + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))
    if kind == "lsgan":
        return 0.5 * (((real_scores - real_label) ** 2).mean() + (fake_scores ** 2).mean())
    if kind == "hinge":
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()
    if kind in ("wgan", "wgan-gp"):
        return fake_scores.mean() - real_scores.mean()
    if kind == "rpgan":  # each real judged against its paired fake: softplus(-(D(x) - D(G(z))))
        return F.softplus(-(real_scores - fake_scores)).mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind, fake_scores, real_scores=None):
    """Generator loss to minimise (non-saturating for BCE). The relativistic pairing loss
    needs D's scores of a real batch too (as constants: only G learns from them)."""
    if kind == "rpgan":
        if real_scores is None:
            raise ValueError("loss='rpgan' compares each fake with a real sample: pass real_scores")
        return F.softplus(-(fake_scores - real_scores)).mean()
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))
    if kind == "lsgan":
        return 0.5 * ((fake_scores - 1.0) ** 2).mean()
    if kind in ("hinge", "wgan", "wgan-gp"):
        return -fake_scores.mean()
    raise ValueError(f"unknown loss {kind!r}")


def gradient_penalty(critic, real, fake, rng=None):
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2] on random
    interpolates, the norm taken per sample over every non-batch dimension (C, H, W),
    not over dim=1 alone. Returns (penalty, mean gradient norm)."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, device=real.device, generator=rng, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean(), norms.detach().mean()


def zero_centered_penalty(inputs, scores):
    """R1 (inputs real) or R2 (inputs fake): E[||grad D(x)||^2], the squared norm taken per
    sample over every non-batch dimension; it pulls D's gradient towards 0 at the samples
    (not towards 1 between them, as WGAN-GP does). `inputs` must require grad and `scores`
    be D(inputs). Returns (penalty, mean gradient norm)."""
    (grad,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    squared = grad.flatten(1).square().sum(1)
    return squared.mean(), squared.detach().sqrt().mean()


def interpolate_grad_norms(critic, real, fake, seed=0):
    """Per-sample ||grad D(x_hat)|| on random interpolates of real and fake (the quantity the
    penalty pushes towards 1), for plotting its distribution after training."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    g = torch.Generator(device=real.device).manual_seed(seed)
    eps = torch.rand(shape, device=real.device, generator=g, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    was_training = critic.training
    critic.eval()
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    critic.train(was_training)
    return grad.flatten(1).norm(2, dim=1).detach()


def score_to_probability(kind, scores):
    """What to log as D(x) / D(G(z)): a probability for BCE, the raw score otherwise."""
    return torch.sigmoid(scores) if kind == "bce" else scores
