"""Generator and discriminator/critic built from a RunConfig (its preset resolved in config.py).

Architecture is configuration, not code: channel lists, kernels, strides, norms and
upsampling mode. Padding is derived so every layer reaches its intended size, and a
combination that cannot reach it fails at build time with a message that says which
layer, what it produced, what was needed and what would work.
"""
import copy
import warnings

import torch
from torch import nn

from .config import conv_out, resolve_architecture, upsample_padding

POINT_WIDTH = 128
# PyTorch pads even kernels asymmetrically for padding="same" (as TF does) and says so.
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")


# ---- building blocks -------------------------------------------------------------------------

def _norm(kind, ch):
    """The norm layer as a list: empty for "none", so printed models list only real layers."""
    return {"batch": lambda: [nn.BatchNorm2d(ch)],
            "instance": lambda: [nn.InstanceNorm2d(ch, affine=True)],
            "layer": lambda: [nn.GroupNorm(1, ch)],
            "none": lambda: []}[kind]()


def _act(kind, slope):
    return nn.ReLU() if kind == "relu" else nn.LeakyReLU(slope)


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.shape[0], *self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


def upsampling_layers(c_in, c_out, k, s, upsample="transposed", bias=True):
    """The layers that grow a size by the stride `s`: a transposed conv (padding derived so it
    grows by exactly s) or Upsample + a same-size conv (as a list: printed models show each)."""
    if s == 1:  # a stride-1 transposed conv is a plain conv: same shapes and parameter count
        return [nn.Conv2d(c_in, c_out, k, padding="same", bias=bias)]
    if upsample == "transposed":
        p, op = upsample_padding(k, s)
        return [nn.ConvTranspose2d(c_in, c_out, k, s, p, output_padding=op, bias=bias)]
    return [nn.Upsample(scale_factor=s, mode=upsample),
            nn.Conv2d(c_in, c_out, k, padding="same", bias=bias)]


class Generator(nn.Module):
    """noise (N, noise_dim) -> images (N, C, S, S) in [-1, 1]."""

    def __init__(self, a, noise_dim):
        super().__init__()
        c0, s0, bias = a.g_channels[0], a.start_size, a.g_norm == "none"
        if a.g_input == "dense":
            features = c0 * s0 * s0
            # a norm on the projected vector (TF tutorial: BatchNormalization after Dense)
            norm1d = {"batch": lambda: [nn.BatchNorm1d(features)], "none": lambda: []}.get(
                a.g_norm, lambda: [nn.LayerNorm(features)])()
            layers = [nn.Linear(noise_dim, features, bias=bias), *norm1d,
                      _act(a.g_activation, a.leaky_slope), Reshape(c0, s0, s0)]
        else:  # DCGAN paper: a 1x1 noise "image" through a valid transposed conv to s0 x s0
            layers = [Reshape(noise_dim, 1, 1), nn.ConvTranspose2d(noise_dim, c0, s0, bias=bias),
                      *_norm(a.g_norm, c0), _act(a.g_activation, a.leaky_slope)]
        outs = a.g_channels[1:] + [a.channels]
        c_in = c0
        for i, (c_out, k, s) in enumerate(zip(outs, a.g_kernel, a.g_strides)):
            last = i == len(outs) - 1
            layers += upsampling_layers(c_in, c_out, k, s, a.upsample, bias=a.g_out_bias if last else bias)
            if last:
                layers.append(nn.Tanh())
                break
            layers += [*_norm(a.g_norm, c_out), _act(a.g_activation, a.leaky_slope)]
            for _ in range(a.g_refine if s > 1 else 0):  # stride-1 convs that refine, not grow
                layers += [nn.Conv2d(c_out, c_out, k, padding="same", bias=bias),
                           *_norm(a.g_norm, c_out), _act(a.g_activation, a.leaky_slope)]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        self.noise_dim = noise_dim

    def forward(self, z):
        return self.net(z)


def pack_samples(x, pack):
    """PacGAN's input: (B, C, H, W) -> (B/pack, pack*C, H, W), each `pack` consecutive samples
    side by side as the channels of one input ((B, 2) points -> (B/pack, 2*pack)). D then
    scores the group: a generator that makes near-copies gives groups no real batch has."""
    if pack == 1:
        return x
    if x.shape[0] % pack:
        raise ValueError(f"a batch of {x.shape[0]} samples cannot be cut into groups of pack="
                         f"{pack}: give the packed discriminator a multiple of {pack} samples.")
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


class Discriminator(nn.Module):
    """images -> one unbounded score per image (a logit for BCE, a critic value for WGAN), or
    per group of `pack` images (PacGAN): its first layer then sees pack x the channels."""

    def __init__(self, a, pack=1):
        super().__init__()
        self.pack = pack
        layers, c_in, size = [], a.channels * pack, a.image_size
        for i, (c_out, k, s) in enumerate(zip(a.d_channels, a.d_kernel, a.d_strides)):
            norm = "none" if i == 0 else a.d_norm  # DCGAN: no norm on the first layer
            padding = "same" if s == 1 else (k - 1) // 2
            bias = (a.d_first_bias if i == 0 else True) and norm == "none"
            layers += [nn.Conv2d(c_in, c_out, k, s, padding, bias=bias),
                       *_norm(norm, c_out), _act(a.d_activation, a.leaky_slope)]
            if a.d_dropout:
                layers.append(nn.Dropout(a.d_dropout))
            c_in, size = c_out, conv_out(size, k, s)
        if a.d_head == "conv":  # a valid conv over the whole last feature map -> 1x1
            layers.append(nn.Conv2d(c_in, 1, size, a.d_head_stride, bias=a.d_head_bias))
        else:
            layers.append(nn.Flatten())
            width = c_in * size * size
            for hidden in a.d_dense:
                layers += [nn.Linear(width, hidden), _act(a.d_activation, a.leaky_slope)]
                if a.d_dropout:
                    layers.append(nn.Dropout(a.d_dropout))
                width = hidden
            layers.append(nn.Linear(width, 1, bias=a.d_head_bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(pack_samples(x, self.pack)).view(-1)


class PointGenerator(nn.Module):
    """2D toy data: noise -> (N, 2) through a small ReLU MLP."""

    def __init__(self, noise_dim, width=POINT_WIDTH, depth=3):
        super().__init__()
        layers, w = [], noise_dim
        for _ in range(depth):
            layers += [nn.Linear(w, width), nn.ReLU()]
            w = width
        self.net = nn.Sequential(*layers, nn.Linear(w, 2))
        self.noise_dim = noise_dim

    def forward(self, z):
        return self.net(z)


class PointDiscriminator(nn.Module):
    """2D toy data: (N, 2) points -> one score per point, or per group of `pack` points."""

    def __init__(self, width=POINT_WIDTH, depth=3, slope=0.2, pack=1):
        super().__init__()
        layers, w = [], 2 * pack
        for _ in range(depth):
            layers += [nn.Linear(w, width), nn.LeakyReLU(slope)]
            w = width
        self.net = nn.Sequential(*layers, nn.Linear(w, 1))
        self.pack = pack

    def forward(self, x):
        return self.net(pack_samples(x, self.pack)).view(-1)


def dcgan_init(module):
    """DCGAN paper init: conv/linear weights N(0, 0.02), norm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)):
        if module.weight is not None:
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)


def glorot_init(module):
    """Keras's default init, so the TF tutorial's own: Glorot-uniform weights, zero biases.
    PyTorch's default (Kaiming-uniform, a=sqrt(5)) counts a ConvTranspose2d's fan-in from its
    *output* channels: the tutorial's last layer (64 -> 1) gets weights of std 0.115 instead
    of 0.035, tanh starts saturated and D wins within the first hundred steps."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def build_models(cfg):
    """(generator, discriminator) for the config, on the CPU; seeded by cfg.seed."""
    torch.manual_seed(cfg.seed)
    if cfg.is_points:
        return (PointGenerator(cfg.noise_dim, depth=cfg.point_depth),
                PointDiscriminator(depth=cfg.point_depth, pack=cfg.pack))
    a = resolve_architecture(cfg)
    g, d = Generator(a, cfg.noise_dim), Discriminator(a, pack=cfg.pack)
    if a.init != "default":
        init = {"dcgan": dcgan_init, "glorot": glorot_init}[a.init]
        g.apply(init)
        d.apply(init)
    return g, d


@torch.no_grad()
def sample(g, noise, batch_stats=False):
    """G's images for `noise`, in eval mode: BatchNorm uses its running averages, as after
    training. batch_stats=True normalises with the batch's own statistics instead, on a copy
    (the running averages stay untouched): before the first step those averages are still
    0 and 1, and in eval mode every sample would look alike."""
    if batch_stats:
        return copy.deepcopy(g).train()(noise).float()
    was_training = g.training
    g.eval()
    out = g(noise).float()
    g.train(was_training)
    return out


@torch.no_grad()
def critic_landscape(d, lim=3.0, n=60):
    """D's score on an n x n lattice over [-lim, lim]^2 (2D data), in eval mode, on the CPU:
    the background of the 2D plots. A packed D (PacGAN) scores each point as a group of
    `pack` copies of it: its score for "many samples right here"."""
    xs = torch.linspace(-lim, lim, n)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1).to(next(d.parameters()).device)
    pts = pts.repeat_interleave(getattr(d, "pack", 1), 0)
    was_training = d.training
    d.eval()
    values = d(pts).float().cpu().view(n, n)
    d.train(was_training)
    return values


def generate(g, n, noise_dim=None, seed=0, device=None):
    """n fresh samples from a trained generator (eval mode, no grad)."""
    device = device or next(g.parameters()).device
    z = torch.randn(n, noise_dim or g.noise_dim, generator=torch.Generator().manual_seed(seed))
    return sample(g, z.to(device))


def interpolate(g, steps=10, seed=0, z0=None, z1=None, spherical=True):
    """G's images on a path through the latent space from z0 to z1 (two noise vectors drawn
    from `seed` unless given): (steps, C, H, W), the first exactly G(z0), the last G(z1), in
    eval mode. spherical=True follows the sphere (slerp) instead of the straight line: noise
    of noise_dim Gaussian numbers lies near a sphere of radius sqrt(noise_dim), and the middle
    of the straight line falls inside it, where G has never been trained."""
    gen = torch.Generator().manual_seed(seed)
    z0 = torch.randn(g.noise_dim, generator=gen) if z0 is None else z0.flatten().cpu()
    z1 = torch.randn(g.noise_dim, generator=gen) if z1 is None else z1.flatten().cpu()
    t = torch.linspace(0, 1, steps)[:, None]
    z = slerp(z0, z1, t) if spherical else torch.lerp(z0, z1, t)
    return sample(g, z.to(next(g.parameters()).device))


def slerp(z0, z1, t):
    """Spherical interpolation: at t = 0 exactly z0, at t = 1 exactly z1 (t: (steps, 1))."""
    omega = torch.acos(torch.dot(z0 / z0.norm(), z1 / z1.norm()).clamp(-1, 1))
    if torch.sin(omega) < 1e-6:  # (anti)parallel vectors: no unique great circle
        return torch.lerp(z0, z1, t)
    # the weights first: sin(omega) / sin(omega) is exactly 1, so the ends are exactly z0, z1
    w0, w1 = torch.sin((1 - t) * omega) / torch.sin(omega), torch.sin(t * omega) / torch.sin(omega)
    return w0 * z0 + w1 * z1


def latent_walk(g, n=8, seed=0, direction_seed=1, alphas=(-3, -2, -1, 0, 1, 2, 3)):
    """n noise vectors z (from seed) all moved along one random unit direction d in the
    latent space (from direction_seed): G(z + alpha * d) for each alpha, as a tensor
    (len(alphas), n, C, H, W). alpha counts standard deviations of the noise, so +-3 is
    as far as a single noise coordinate usually goes."""
    z = torch.randn(n, g.noise_dim, generator=torch.Generator().manual_seed(seed))
    d = torch.randn(g.noise_dim, generator=torch.Generator().manual_seed(direction_seed))
    d = d / d.norm()
    device = next(g.parameters()).device
    return torch.stack([sample(g, (z + a * d).to(device)).cpu() for a in alphas])
