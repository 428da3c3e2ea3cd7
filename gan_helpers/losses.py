"""GAN losses: discriminator/critic and generator objectives for each family.

One class a family (BCE, LSGAN, Hinge, WGAN, WGANGP, RpGAN), each taking raw scores (logits for
BCE, critic values for WGAN) and carrying its own extras (a penalty, clipping), so one training
step serves every family without asking which it holds. `gradient_penalty` is the one WGAN-GP penalty, over all
non-batch dimensions of each sample; `zero_centered_penalty` is R1 (on real samples) and
R2 (on fakes), which the relativistic pairing loss "rpgan" comes with (R3GAN, Huang et
al. 2024: brownvc/R3GAN, R3GAN/Trainer.py).
"""
import torch
import torch.nn.functional as F


class Loss:
    """One loss family: D's (the critic's) and G's objectives on raw scores, and the extras the
    family comes with, each a no-op here: `penalty` (added to D's loss), `after_d_step` (after
    D's optimiser step) and the two switches below. train.d_step and g_step call these and never
    ask which family they hold. Subclasses give the objectives."""
    input_grads = False  # D's loss needs D's gradient at its very inputs (R1 / R2)
    pairs_reals = False  # G's loss compares each fake with a real's score (relativistic)
    critic = False       # raw critic values, not logits: the Wasserstein estimate is logged

    def __init__(self, cfg=None):
        self.cfg = cfg

    def d_loss(self, real_scores, fake_scores, real_label=1.0):
        raise NotImplementedError

    def g_loss(self, fake_scores, real_scores=None):
        raise NotImplementedError

    def penalty(self, d, real, fake, real_side, fake_side, rng=None):
        """(weighted penalty added to D's loss, the penalty, mean ||grad D|| where it looks)."""
        zero = torch.zeros((), device=real.device)
        return zero, zero, zero

    def has_penalty(self):
        return False

    def after_d_step(self, d):
        pass

    def probability(self, scores):
        """What to log as D(x) / D(G(z)): the raw score (a probability for BCE)."""
        return scores


class BCE(Loss):
    """The original GAN's loss with the non-saturating G (Goodfellow et al. 2014; DCGAN's).
    real_label < 1 is one-sided label smoothing."""
    def d_loss(self, real_scores, fake_scores, real_label=1.0):
        return (F.binary_cross_entropy_with_logits(real_scores, torch.full_like(real_scores, real_label))
                + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))

    def g_loss(self, fake_scores, real_scores=None):
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))

    def probability(self, scores):
        return torch.sigmoid(scores)


class LSGAN(Loss):
    """Least squares (Mao et al. 2017): D regresses reals to 1 and fakes to 0."""
    def d_loss(self, real_scores, fake_scores, real_label=1.0):
        return 0.5 * (((real_scores - real_label) ** 2).mean() + (fake_scores ** 2).mean())

    def g_loss(self, fake_scores, real_scores=None):
        return 0.5 * ((fake_scores - 1.0) ** 2).mean()


class Hinge(Loss):
    """The hinge loss (SNGAN, BigGAN): D wants reals above 1 and fakes below -1."""
    def d_loss(self, real_scores, fake_scores, real_label=1.0):
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()

    def g_loss(self, fake_scores, real_scores=None):
        return -fake_scores.mean()


class WGAN(Loss):
    """Wasserstein GAN (Arjovsky et al. 2017): a critic's mean gap, its weights clipped to
    [-clip_value, clip_value] after each step, the paper's crude Lipschitz constraint."""
    critic = True

    def d_loss(self, real_scores, fake_scores, real_label=1.0):
        return fake_scores.mean() - real_scores.mean()

    def g_loss(self, fake_scores, real_scores=None):
        return -fake_scores.mean()

    def after_d_step(self, d):
        with torch.no_grad():
            for p in d.parameters():
                p.clamp_(-self.cfg.clip_value, self.cfg.clip_value)


class WGANGP(WGAN):
    """WGAN-GP (Gulrajani et al. 2017): no clipping; gp_lambda x the gradient penalty instead."""
    def penalty(self, d, real, fake, real_side, fake_side, rng=None):
        gp, grad_norm = gradient_penalty(d, real.float(), fake.detach().float(), rng)
        return self.cfg.gp_lambda * gp, gp, grad_norm

    def has_penalty(self):
        return True

    def after_d_step(self, d):
        pass


class RpGAN(Loss):
    """The relativistic pairing loss with R1 + R2 (R3GAN, Huang et al. 2024): each real judged
    against its paired fake, softplus(-(D(x) - D(G(z)))), and r1_gamma / 2 x (R1 + R2) at the
    real and fake inputs (r1_gamma = 0: none)."""
    pairs_reals = True

    @property
    def input_grads(self):
        return self.has_penalty()

    def has_penalty(self):
        return self.cfg is not None and self.cfg.r1_gamma > 0

    def d_loss(self, real_scores, fake_scores, real_label=1.0):
        return F.softplus(-(real_scores - fake_scores)).mean()

    def g_loss(self, fake_scores, real_scores=None):
        if real_scores is None:
            raise ValueError("loss='rpgan' compares each fake with a real sample: pass real_scores")
        return F.softplus(-(fake_scores - real_scores)).mean()

    def penalty(self, d, real, fake, real_side, fake_side, rng=None):
        if not self.has_penalty():
            return super().penalty(d, real, fake, real_side, fake_side, rng)
        r1, grad_norm = zero_centered_penalty(real_side[0], real_side[1].float())
        r2, _ = zero_centered_penalty(fake_side[0], fake_side[1].float())
        return self.cfg.r1_gamma / 2 * (r1 + r2), r1 + r2, grad_norm


FAMILIES = {"bce": BCE, "lsgan": LSGAN, "hinge": Hinge, "wgan": WGAN, "wgan-gp": WGANGP, "rpgan": RpGAN}


def family(kind, cfg=None):
    """The loss object of `kind` ('bce', ...), its settings read from cfg."""
    if kind not in FAMILIES:
        raise ValueError(f"unknown loss {kind!r}")
    return FAMILIES[kind](cfg)


def d_loss(kind, real_scores, fake_scores, real_label=1.0):
    """Discriminator (critic) loss of family `kind` to minimise."""
    return family(kind).d_loss(real_scores, fake_scores, real_label)


def g_loss(kind, fake_scores, real_scores=None):
    """Generator loss of family `kind` to minimise (rpgan needs D's scores of a real batch)."""
    return family(kind).g_loss(fake_scores, real_scores)


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
