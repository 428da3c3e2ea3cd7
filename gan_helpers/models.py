"""Generator and discriminator/critic built from a RunConfig, with named presets.

Architecture is configuration, not code: channel lists, kernels, strides, norms and
upsampling mode. Padding is derived so every layer reaches its intended size, and a
combination that cannot reach it fails at build time with a message that says which
layer, what it produced, what was needed and what would work.
"""
import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from .config import ACTIVATIONS, NORMS, UPSAMPLE_MODES, _choice

# Presets: the architectures of the seeds and papers. Any field can be overridden.
PRESETS = {
    # TensorFlow DCGAN tutorial (seed 003 "Original Architecture").
    "tf_tutorial": dict(
        g_input="dense", g_channels=[256, 128, 64], g_strides=[1, 2, 2], g_kernel=5, g_refine=0,
        g_norm="batch", g_activation="leaky_relu", upsample="transposed",
        d_channels=[64, 128], d_strides=[2, 2], d_kernel=5, d_norm="none",
        d_activation="leaky_relu", d_dropout=0.3, d_dense=[], d_head="dense",
        leaky_slope=0.3, init="default"),
    # Seed 003 "Modified Architecture": 3x3 kernels, refinement convs, Dense(128) in D.
    "deeper_3x3": dict(
        g_input="dense", g_channels=[128, 64, 64, 32, 16], g_strides=[2, 1, 2, 1, 1], g_kernel=3,
        g_refine=0, g_norm="batch", g_activation="leaky_relu", upsample="transposed",
        d_channels=[32, 64, 128, 256], d_strides=[2, 1, 2, 1], d_kernel=3, d_norm="none",
        d_activation="leaky_relu", d_dropout=0.3, d_dense=[128], d_head="dense",
        leaky_slope=0.3, init="default"),
    # Seed 000's architecture variation: kernel 8, generator strides 1 then 2.
    "kernel8_stride1_2": dict(
        g_input="dense", g_channels=[256, 128, 64], g_strides=[1, 2, 2], g_kernel=8, g_refine=0,
        g_norm="batch", g_activation="leaky_relu", upsample="transposed",
        d_channels=[64, 128], d_strides=[2, 2], d_kernel=8, d_norm="none",
        d_activation="leaky_relu", d_dropout=0.3, d_dense=[], d_head="dense",
        leaky_slope=0.3, init="default"),
    # Radford et al. 2015, 64x64, with the widths of the PyTorch reference example (ngf = ndf = 64;
    # the paper's Figure 1 starts at 1024 channels, which is wgan_gp64's generator).
    "dcgan64": dict(
        g_input="convt", g_channels=[512, 256, 128, 64], g_strides=[2, 2, 2, 2], g_kernel=4,
        g_refine=0, g_norm="batch", g_activation="relu", upsample="transposed",
        d_channels=[64, 128, 256, 512], d_strides=[2, 2, 2, 2], d_kernel=4, d_norm="batch",
        d_activation="leaky_relu", d_dropout=0.0, d_dense=[], d_head="conv",
        leaky_slope=0.2, init="dcgan"),
    # Seed 004's WGAN-GP: 1024-wide first layer, InstanceNorm critic.
    "wgan_gp64": dict(
        g_input="convt", g_channels=[1024, 512, 256, 128], g_strides=[2, 2, 2, 2], g_kernel=4,
        g_refine=0, g_norm="batch", g_activation="relu", upsample="transposed",
        d_channels=[64, 128, 256, 512], d_strides=[2, 2, 2, 2], d_kernel=4, d_norm="instance",
        d_activation="leaky_relu", d_dropout=0.0, d_dense=[], d_head="conv",
        leaky_slope=0.2, init="dcgan"),
}
ARCH_FIELDS = tuple(PRESETS["tf_tutorial"])
# Details that change no shape but are part of each source's exact layer list (bias flags, the
# critic's last stride). They follow the preset; they are not config fields.
#   g_out_bias: bias on G's output layer (the TF tutorial and the PyTorch DCGAN example use none)
#   d_first_bias: bias on D's first conv (it has no norm; the PyTorch DCGAN example still omits it)
#   d_head_bias / d_head_stride: D's final layer (seed 004 wrote Conv2d(512, 1, 4, stride=2))
DETAILS = dict(g_out_bias=True, d_first_bias=True, d_head_bias=True, d_head_stride=1)
PRESET_DETAILS = {
    "tf_tutorial": dict(g_out_bias=False),
    "deeper_3x3": dict(g_out_bias=False),
    "kernel8_stride1_2": dict(g_out_bias=False),
    "dcgan64": dict(g_out_bias=False, d_first_bias=False, d_head_bias=False),
    "wgan_gp64": dict(d_head_stride=2),
}
POINT_WIDTH = 128
# PyTorch pads even kernels asymmetrically for padding="same" (as TF does) and says so.
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")


@dataclass
class Arch:
    """The resolved architecture: preset values with the config's overrides applied."""
    g_input: str
    g_channels: list
    g_strides: list
    g_kernel: list
    g_refine: int
    g_norm: str
    g_activation: str
    upsample: str
    d_channels: list
    d_strides: list
    d_kernel: list
    d_norm: str
    d_activation: str
    d_dropout: float
    d_dense: list
    d_head: str
    leaky_slope: float
    init: str
    image_size: int
    channels: int
    start_size: int
    g_out_bias: bool = True
    d_first_bias: bool = True
    d_head_bias: bool = True
    d_head_stride: int = 1


def resolve_architecture(cfg):
    """Preset + overrides -> Arch, with every shape checked. Raises ValueError."""
    _choice("preset", cfg.preset, tuple(PRESETS))
    values = dict(PRESETS[cfg.preset])
    values.update({k: getattr(cfg, k) for k in ARCH_FIELDS if getattr(cfg, k) is not None})
    for name in ("g_norm", "d_norm"):
        _choice(name, values[name], NORMS)
    for name in ("g_activation", "d_activation"):
        _choice(name, values[name], ACTIVATIONS)
    _choice("upsample", values["upsample"], UPSAMPLE_MODES)
    _choice("g_input", values["g_input"], ("dense", "convt"))
    _choice("d_head", values["d_head"], ("dense", "conv"))
    _choice("init", values["init"], ("default", "dcgan"))
    for name in ("g_channels", "g_strides", "d_channels", "d_strides", "d_dense"):
        values[name] = _int_list(name, values[name], allow_empty=name == "d_dense")
    if len(values["g_strides"]) != len(values["g_channels"]):
        raise ValueError(
            f"g_strides has {len(values['g_strides'])} entries but g_channels has "
            f"{len(values['g_channels'])}: give one stride per layer after the projection "
            f"(the hidden layers, then the output layer), e.g. g_channels=[256, 128, 64] "
            f"with g_strides=[1, 2, 2].")
    if len(values["d_strides"]) != len(values["d_channels"]):
        raise ValueError(f"d_strides has {len(values['d_strides'])} entries but d_channels has "
                         f"{len(values['d_channels'])}: give one stride per conv layer.")
    values["g_kernel"] = _per_layer("g_kernel", values["g_kernel"], len(values["g_strides"]))
    values["d_kernel"] = _per_layer("d_kernel", values["d_kernel"], len(values["d_strides"]))
    if not 0 <= float(values["d_dropout"]) < 1:
        raise ValueError(f"d_dropout={values['d_dropout']!r} must be in [0, 1).")
    if not isinstance(values["g_refine"], int) or values["g_refine"] < 0:
        raise ValueError(f"g_refine={values['g_refine']!r} must be a whole number >= 0.")
    if cfg.loss in ("wgan", "wgan-gp") and values["d_norm"] == "batch":
        raise ValueError(
            f"d_norm='batch' cannot be used with loss={cfg.loss!r}: BatchNorm makes each "
            f"sample's critic value (and its gradient penalty) depend on the rest of the batch. "
            f"Set d_norm='instance' (seed 004), 'layer' or 'none'.")
    details = {**DETAILS, **PRESET_DETAILS.get(cfg.preset, {})}
    arch = Arch(**values, image_size=cfg.image_size, channels=cfg.channels, start_size=0, **details)
    arch.start_size = _check_generator_shapes(arch)
    _check_discriminator_shapes(arch)
    return arch


def _int_list(name, value, allow_empty=False):
    if isinstance(value, str):  # Colab form fields hand over "256,128,64"
        value = [v for v in value.replace(" ", "").split(",") if v]
    try:
        out = [int(v) for v in value]
        # int(1.9) is 1: a fraction would train as another architecture than the one recorded
        fractions = [v for v in value if isinstance(v, float) and not v.is_integer()]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a list of whole numbers, e.g. [256, 128, 64].")
    if fractions:
        raise ValueError(f"{name}={value!r} holds {fractions[0]!r}, not a whole number: every "
                         f"entry is a count (channels, a stride, a kernel size), e.g. [1, 2, 2].")
    if (not out and not allow_empty) or any(v < 1 for v in out):
        raise ValueError(f"{name}={value!r} must be a non-empty list of positive whole numbers.")
    return out


def _per_layer(name, value, n):
    kernels = [value] * n if isinstance(value, int) else _int_list(name, value)
    if len(kernels) == 1:
        kernels = kernels * n
    if len(kernels) != n:
        raise ValueError(f"{name} has {len(kernels)} entries but there are {n} layers: "
                         f"give one kernel for all layers or exactly one per layer.")
    if any(k < 1 for k in kernels):  # a 0x0 kernel sees nothing; torch fails deep inside
        raise ValueError(f"{name}={value!r}: every kernel size must be >= 1 (the presets use "
                         f"3 to 8, e.g. {name}=4).")
    return kernels


def upsample_padding(kernel, stride):
    """(padding, output_padding) that make ConvTranspose2d grow a size by exactly `stride`."""
    padding = max(math.ceil((kernel - stride) / 2), 0)
    return padding, 2 * padding - (kernel - stride)


def _working_strides(strides, image_size):
    """The same number of layers with the first stride-2s turned into 1s until they fit."""
    for j in range(len(strides) + 1):
        candidate = [1] * j + list(strides[j:])
        if image_size % math.prod(candidate) == 0 and candidate != list(strides):
            return candidate
    return None


def _check_generator_shapes(a):
    total = math.prod(a.g_strides)
    kind = "ConvTranspose2d" if a.upsample == "transposed" else f"Upsample({a.upsample}) + Conv2d"
    if a.image_size % total:
        start = max(a.image_size // total, 1)
        sizes, size = [], start
        for s in a.g_strides:
            size *= s
            sizes.append(size)
        last = max(i for i, s in enumerate(a.g_strides) if s > 1) + 1
        fixes = []
        working = _working_strides(a.g_strides, a.image_size)
        if working:
            fixes.append(f"g_strides={working} (a {a.image_size // math.prod(working)}x"
                         f"{a.image_size // math.prod(working)} start)")
        other = [n for n in (28, 32, 64, 128) if n % total == 0]
        if other:
            fixes.append(f"image_size={other[0]}")
        raise ValueError(
            f"generator layer {last} ({kind}, kernel {a.g_kernel[last - 1]}, stride "
            f"{a.g_strides[last - 1]}): produces {sizes[-1]}x{sizes[-1]} (from a {start}x{start} "
            f"start) but {a.image_size}x{a.image_size} is needed. g_strides={a.g_strides} "
            f"upsample by {total} in all and image_size {a.image_size} is not a multiple of "
            f"{total} (it would need a {a.image_size / total:g}x{a.image_size / total:g} start). "
            f"Use {' or '.join(fixes) if fixes else 'fewer stride-2 layers in g_strides'}.")
    size = a.image_size // total
    for i, (k, s) in enumerate(zip(a.g_kernel, a.g_strides), start=1):
        if s > 1 and a.upsample == "transposed" and k < s:
            raise ValueError(
                f"generator layer {i} (ConvTranspose2d, kernel {k}, stride {s}): produces "
                f"{size * s}x{size * s} from {size}x{size}, but only {k}x{k} of every {s}x{s} "
                f"output pixels gets a value (the rest are holes); every pixel needs kernel >= "
                f"stride. Use g_kernel={2 * s} (a multiple of the stride: no checkerboard), "
                f"or upsample='nearest'.")
        size *= s
    return a.image_size // total


def _conv_out(size, k, s):
    return size if s == 1 else (size + 2 * ((k - 1) // 2) - k) // s + 1


def _check_discriminator_shapes(a):
    size = a.image_size
    for i, (k, s) in enumerate(zip(a.d_kernel, a.d_strides), start=1):
        out = _conv_out(size, k, s)
        if k < s:
            raise ValueError(
                f"discriminator layer {i} (Conv2d, kernel {k}, stride {s}): produces "
                f"{out}x{out} from {size}x{size} but never looks at {s * s - k * k} of every "
                f"{s}x{s} input pixels; every pixel needs kernel >= stride. Use d_kernel={2 * s} "
                f"or stride 1 for this layer in d_strides.")
        if out < 1:
            fits = sum(1 for x in a.d_strides[:i - 1] if x > 1)
            raise ValueError(
                f"discriminator layer {i} (Conv2d, kernel {k}, stride {s}): produces "
                f"{out}x{out} from {size}x{size} but at least 1x1 is needed. Use fewer stride-2 "
                f"layers in d_strides (at most {fits} at this size and kernel), a smaller "
                f"d_kernel, or a larger image_size.")
        size = out
    return size


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


def _up_layer(a, c_in, c_out, k, s, bias):
    if s == 1:  # a stride-1 transposed conv is a plain conv: same shapes and parameter count
        return [nn.Conv2d(c_in, c_out, k, padding="same", bias=bias)]
    if a.upsample == "transposed":
        p, op = upsample_padding(k, s)
        return [nn.ConvTranspose2d(c_in, c_out, k, s, p, output_padding=op, bias=bias)]
    return [nn.Upsample(scale_factor=s, mode=a.upsample),
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
            layers += _up_layer(a, c_in, c_out, k, s, bias=a.g_out_bias if last else bias)
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


class Discriminator(nn.Module):
    """images -> one unbounded score per image (a logit for BCE, a critic value for WGAN)."""

    def __init__(self, a):
        super().__init__()
        layers, c_in, size = [], a.channels, a.image_size
        for i, (c_out, k, s) in enumerate(zip(a.d_channels, a.d_kernel, a.d_strides)):
            norm = "none" if i == 0 else a.d_norm  # DCGAN: no norm on the first layer
            padding = "same" if s == 1 else (k - 1) // 2
            bias = (a.d_first_bias if i == 0 else True) and norm == "none"
            layers += [nn.Conv2d(c_in, c_out, k, s, padding, bias=bias),
                       *_norm(norm, c_out), _act(a.d_activation, a.leaky_slope)]
            if a.d_dropout:
                layers.append(nn.Dropout(a.d_dropout))
            c_in, size = c_out, _conv_out(size, k, s)
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
        return self.net(x).view(-1)


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
    def __init__(self, width=POINT_WIDTH, depth=3, slope=0.2):
        super().__init__()
        layers, w = [], 2
        for _ in range(depth):
            layers += [nn.Linear(w, width), nn.LeakyReLU(slope)]
            w = width
        self.net = nn.Sequential(*layers, nn.Linear(w, 1))

    def forward(self, x):
        return self.net(x).view(-1)


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


def build_models(cfg):
    """(generator, discriminator) for the config, on the CPU; seeded by cfg.seed."""
    torch.manual_seed(cfg.seed)
    if cfg.is_points:
        return PointGenerator(cfg.noise_dim), PointDiscriminator()
    a = resolve_architecture(cfg)
    g, d = Generator(a, cfg.noise_dim), Discriminator(a)
    if a.init == "dcgan":
        g.apply(dcgan_init)
        d.apply(dcgan_init)
    return g, d


# ---- summary ------------------------------------------------------------------------------

def _flops(module, inp, out):
    """Multiply-adds x 2 for the layers that dominate the cost."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return 2 * module.in_channels // module.groups * k * out[0].numel()
    if isinstance(module, nn.ConvTranspose2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return 2 * module.out_channels * k * inp[0][0].numel()
    if isinstance(module, nn.Linear):
        return 2 * module.in_features * module.out_features
    return 0


def summary(model, input_shape):
    """Per-layer rows (name, layer, output shape, params, FLOPs per sample) from one forward pass."""
    rows, hooks = [], []
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]

    def hook(name):
        def record(module, inp, out):
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(dict(name=name, layer=type(module).__name__,
                             output=tuple(out.shape[1:]), params=params,
                             flops=_flops(module, inp, out)))
        return record

    for name, m in leaves:
        hooks.append(m.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return rows


def format_summary(title, rows):
    lines = [title, f"{'layer':<34}{'output shape':<20}{'params':>12}{'MFLOPs':>10}"]
    for r in rows:
        lines.append(f"{r['name'] + ' ' + r['layer']:<34}{str(r['output']):<20}"
                     f"{r['params']:>12,}{r['flops'] / 1e6:>10.2f}")
    total_p, total_f = sum(r["params"] for r in rows), sum(r["flops"] for r in rows)
    lines.append(f"{'total':<54}{total_p:>12,}{total_f / 1e6:>10.2f}")
    return "\n".join(lines)


def describe_models(cfg, g, d):
    """Both networks' summaries as one printable text."""
    g_rows = summary(g, (g.noise_dim,))
    d_in = (2,) if cfg.is_points else (cfg.channels, cfg.image_size, cfg.image_size)
    d_rows = summary(d, d_in)
    return (format_summary(f"Generator: noise ({g.noise_dim},) -> {g_rows[-1]['output']}", g_rows)
            + "\n\n" + format_summary(f"Discriminator: {d_in} -> score", d_rows))


def architecture_table(variants, **base):
    """{name: config overrides} -> a markdown table of each variant's parameters and MFLOPs per
    image for G and D, built but not trained: compare the cost of architectures before
    spending any time on them. `base` holds values every variant shares (e.g. image_size)."""
    from .config import RunConfig
    lines = ["| variant | G params | D params | G MFLOPs/image | D MFLOPs/image | G layers |",
             "|---|---|---|---|---|---|"]
    names = set(RunConfig.field_names())
    for name, overrides in variants.items():
        values = {k: v for k, v in {**base, **overrides}.items() if k in names}
        cfg = RunConfig(**values).validate()
        g, d = build_models(cfg)
        g_rows = summary(g, (cfg.noise_dim,))
        d_rows = summary(d, (cfg.channels, cfg.image_size, cfg.image_size))
        convs = sum(r["layer"] in ("Conv2d", "ConvTranspose2d", "Linear") for r in g_rows)
        lines.append(f"| {name} | {sum(r['params'] for r in g_rows):,} | "
                     f"{sum(r['params'] for r in d_rows):,} | "
                     f"{sum(r['flops'] for r in g_rows) / 1e6:.1f} | "
                     f"{sum(r['flops'] for r in d_rows) / 1e6:.1f} | {convs} |")
    return "\n".join(lines)
