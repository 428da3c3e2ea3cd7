"""RunConfig: every knob the experiments turn, checked before any training starts.

One flat dataclass so a notebook's parameters cell, a papermill run, a sweep grid and
`hyperparameters.json` all speak the same names. Architecture fields left at None
take their value from the named preset (see `PRESETS` below, in this module).
"""
import dataclasses
import difflib
import json
import math
import re
import typing
from dataclasses import dataclass, fields
from typing import Optional, Union

from .env import QUICK_ENV, quick_mode, size_text

POINT_DATASETS = ("ring8", "grid25")  # the 2D mixtures of toy.py: MLPs, scatter plots
# stacked_mnist: three MNIST digits as the channels of one 3x28x28 image, 1,000 modes (data.py)
DATASETS = ("mnist", "fashion_mnist", "stacked_mnist", "folder") + POINT_DATASETS
# rpgan: the relativistic pairing loss with R1 + R2 (R3GAN, Huang et al. 2024; losses.py)
LOSSES = ("bce", "wgan", "wgan-gp", "hinge", "lsgan", "rpgan")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
NORMS = ("batch", "instance", "layer", "none")
ACTIVATIONS = ("relu", "leaky_relu")
UPSAMPLE_MODES = ("transposed", "nearest", "bilinear")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
WANDB_MODES = ("auto", "online", "offline", "disabled")
IMAGE_SIZES = (28, 32, 64, 128)
# A notebook's parameters that name the run, not the config: from_params passes over them
RUN_PARAMETERS = ("experiment", "output_dir", "run_name", "resume", "use_drive")
AUGMENTATIONS = ("none", "flip", "diffaug", "rotate", "erase", "crop")  # see augment.py
CHOICES = dict(dataset=DATASETS, loss=LOSSES, optimizer=OPTIMIZERS, precision=PRECISIONS,
               wandb_mode=WANDB_MODES, on_divergence=("stop", "warn"), lr_decay=("none", "linear"),
               augment=AUGMENTATIONS)  # the text fields that take one of a few names
# The papers' noise vectors have 100 (DCGAN) to 512 (StyleGAN) entries. G's first layer has
# noise_dim x (its width) weights, so a typo like 1e9 would try to allocate terabytes.
MAX_NOISE_DIM = 4096
MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64-bit seeds; beyond that it raises deep inside
# The fixed-noise grid is generated in one batch at every snapshot: 1,024 is a 32 x 32 grid (the
# notebooks show 16 to 64), while 10**6 would ask for tens of GB after the run folder exists
MAX_N_SAMPLES = 1024


@dataclass
class RunConfig:
    # data
    dataset: str = "mnist"
    data_path: str = ""            # image folder or prepared .pt file when dataset == "folder"
    image_size: int = 28
    channels: int = 1
    max_images: int = 0            # 0 = the whole data set
    augment: str = "none"          # "flip", "diffaug"; "rotate"/"erase"/"crop" leak (augment.py)
    point_depth: int = 3           # 2D data only: hidden layers (128 wide) of both MLPs
    # model (None = take the preset's value)
    preset: str = "tf_tutorial"
    g_input: Optional[str] = None          # "dense" (TF tutorial) or "convt" (DCGAN paper)
    g_channels: Optional[list] = None      # first = width of the projected noise
    g_strides: Optional[list] = None       # one per layer after the projection, output layer last
    g_kernel: Optional[Union[int, list]] = None
    g_refine: Optional[int] = None         # extra stride-1 convs after each upsampling layer
    g_norm: Optional[str] = None
    g_activation: Optional[str] = None
    upsample: Optional[str] = None
    d_channels: Optional[list] = None
    d_strides: Optional[list] = None
    d_kernel: Optional[Union[int, list]] = None
    d_norm: Optional[str] = None
    d_activation: Optional[str] = None
    d_dropout: Optional[float] = None
    d_dense: Optional[list] = None         # hidden dense widths before the output unit
    d_head: Optional[str] = None           # "dense" (flatten + Linear) or "conv" (valid conv to 1x1)
    leaky_slope: Optional[float] = None
    init: Optional[str] = None             # "glorot" (Keras's), "dcgan" = N(0, 0.02), "default" (PyTorch's)
    # training
    batch_size: int = 256
    epochs: int = 25
    # The budget in G steps (0 = train `epochs` epochs): a small folder gives few steps per
    # epoch, so a fixed count of epochs gives it too few updates. fit_steps turns it into epochs
    steps: int = 0
    noise_dim: int = 100
    optimizer: str = "adam"
    # The DCGAN paper's Adam settings. The case-study reports' (TF tutorial's) 1e-4 with betas (0.9, 0.999)
    # collapsed notebook 01 to one blob in every PyTorch port we measured (issue 11)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas_g: tuple = (0.5, 0.999)
    betas_d: tuple = (0.5, 0.999)
    loss: str = "bce"
    label_smoothing: float = 1.0   # target for real images; 1.0 = off, the reports used 0.9
    instance_noise: float = 0.0    # std of noise added to D's inputs, annealed to 0 (a report: 0.15)
    n_critic: int = 0              # D steps per G step; 0 = 5 for wgan / wgan-gp, else 1
    gp_lambda: float = 10.0
    # loss="rpgan": the weight gamma of the R1 and R2 penalties, added as gamma / 2 * (R1 + R2)
    # as in R3GAN's trainer; 0 = RpGAN alone. R3GAN tunes gamma per data set: no default of
    # ours is measured yet
    r1_gamma: float = 1.0
    # PacGAN (Lin et al. 2018): D judges `pack` samples at once, side by side as one input, so a
    # batch of near-copies looks fake to it; 1 = off. batch_size must be a multiple of it
    pack: int = 1
    clip_value: float = 0.01       # weight clipping for loss == "wgan"
    lr_decay: str = "none"         # "linear": both lrs fall linearly towards 0 over the epochs
    # An exponential moving average of G's weights, updated after every G step with this decay
    # (Yazici et al., ICLR 2019; StyleGAN2, DiffAugment and R3GAN sample from it); 0 = off. When
    # on, snapshots, metrics, the report and load_generator use the averaged G. 0.99 averages
    # over about the last 100 G steps, right for a budget of hundreds of steps
    ema: float = 0.0
    precision: str = "auto"
    device: str = "auto"
    seed: int = 42
    snapshot_every: int = 1        # epochs between fixed-noise sample grids
    quality_every: int = 5         # epochs between quality readings (class coverage, FID, ...)
    n_samples: int = 16            # images in the fixed-noise grid
    on_divergence: str = "stop"    # "stop" or "warn"
    # Minutes between checkpoints (the first and last epochs are always saved); 0 = after every
    # epoch, right for MNIST's minute-long epochs. Notebook 05 sets 3: a 76 MB DCGAN-64
    # checkpoint after every 2 s epoch of a small folder filled 12 GB
    checkpoint_minutes: float = 0.0
    # speed switches (None = automatic: on where they pay, see train.speed_settings)
    channels_last: Optional[bool] = None
    compile: Optional[bool] = None
    fused_optimizer: Optional[bool] = None
    cudnn_benchmark: Optional[bool] = None
    # tracking
    wandb_mode: str = "auto"
    wandb_project: str = "gan-lab-notebooks"

    # ---- construction -------------------------------------------------------------
    @classmethod
    def field_names(cls):
        return [f.name for f in fields(cls)]

    @classmethod
    def from_params(cls, params, quiet=False):
        """Build from a notebook's namespace (`globals()`) or a dict of parameters.

        A namespace also holds imports, In/Out and earlier results, so its field names are
        picked; a dict must hold field names (and RUN_PARAMETERS) only: an unknown name is
        refused as from_dict refuses it. Quick mode (env GAN_HELPERS_QUICK=1) then shrinks
        the run; the config is validated.
        """
        if "__name__" not in params:  # a dict of parameters, not a module's namespace
            cls._refuse_unknown(set(params) - set(RUN_PARAMETERS))
        cfg = cls(**_parse_literals({k: params[k] for k in cls.field_names() if k in params}))
        _check_types(cfg)  # before quick mode compares numbers
        if quick_mode():
            cfg = cfg.quick(quiet=quiet)
        return cfg.validate()

    def quick(self, quiet=False):
        """The same run, shrunk to a CPU-minute: few images, 2 epochs, small batches."""
        small = dataclasses.replace(
            self,
            epochs=min(self.epochs, 2),
            max_images=min(self.max_images or 512, 512),
            batch_size=min(self.batch_size, 64),
            snapshot_every=min(self.snapshot_every, 1),
            steps=0,                 # 2 epochs, whatever the budget in steps
            checkpoint_minutes=0.0,  # a checkpoint every epoch, as resume tests need
        )
        if not quiet:
            print(f"Quick mode ({QUICK_ENV}=1): {small.epochs} epochs on {small.max_images} "
                  f"images, batch {small.batch_size}. Unset it for the full run.")
        return small

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def fit_steps(self, n_images, snapshots=10, quiet=False):
        """With `steps` > 0: the same run with `epochs` set so G gets at least `steps` updates
        on `n_images` images, and `snapshot_every` set for about `snapshots` snapshots. The
        training loop itself still counts epochs. With steps = 0: unchanged."""
        if not self.steps:
            return self
        # as train() counts them: full batches only (data.steps_per_epoch), G every critic_steps
        per_epoch = max(max(n_images // self.batch_size, 1) // self.critic_steps, 1)
        epochs = math.ceil(self.steps / per_epoch)
        fitted = self.replace(epochs=epochs, snapshot_every=max(epochs // snapshots, 1))
        if not quiet:
            print(f"{self.steps} G steps on {n_images} images at batch {self.batch_size} "
                  f"({per_epoch} G steps an epoch) = {epochs} epochs, a snapshot every "
                  f"{fitted.snapshot_every}.")
        return fitted.validate()

    # ---- derived values ---------------------------------------------------------------
    @property
    def critic_steps(self):
        if self.n_critic:
            return self.n_critic
        return 5 if self.loss in ("wgan", "wgan-gp") else 1

    @property
    def is_points(self):
        """2D toy data sets: MLP models, scatter plots instead of image grids."""
        return self.dataset in POINT_DATASETS

    # ---- validation -----------------------------------------------------------------
    def validate(self):
        """Raise ValueError naming the field and what to change; returns self."""
        _check_types(self)
        _check_finite(self)
        for name, valid in CHOICES.items():
            _choice(name, getattr(self, name), valid)
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise ValueError(f"device={self.device!r} is not a device name: use 'auto' (GPU when "
                             f"there is one), 'cpu', 'cuda' or 'cuda:1'.")
        for name in ("batch_size", "epochs", "noise_dim", "snapshot_every", "quality_every", "n_samples", "pack",
                     "point_depth"):
            _at_least(name, getattr(self, name), low=1)
        _check_pack(self)
        for name in ("max_images", "n_critic", "seed", "steps", "checkpoint_minutes"):
            _at_least(name, getattr(self, name), low=0)
        _check_sizes(self)
        _check_ranges(self)
        if self.is_points:
            if self.augment != "none":
                raise ValueError(f"augment={self.augment!r} is for images; 2D data sets take "
                                 f"augment='none'.")
            _check_memory(self)
            return self
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size={self.image_size!r} is not supported: use one of "
                             f"{', '.join(map(str, IMAGE_SIZES))}.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels={self.channels!r} must be 1 (greyscale) or 3 (colour).")
        if self.dataset == "stacked_mnist" and (self.channels, self.image_size) != (3, 28):
            raise ValueError(f"dataset='stacked_mnist' is three 28x28 digits as three colour "
                             f"channels: set channels=3 and image_size=28 (now {self.channels} "
                             f"and {self.image_size}).")
        if self.dataset == "folder" and not self.data_path:
            raise ValueError("dataset='folder' needs data_path: the folder of your images "
                             "(or the .pt file written by `python -m gan_helpers.image_folder`).")
        # every layer's shape, checked before anything is built, and what training them needs
        arch = resolve_architecture(self)
        _check_batch_norm(self, arch)
        _check_memory(self, arch)
        return self

    # ---- JSON ---------------------------------------------------------------------------
    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self, path=None):
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_dict(cls, d):
        cls._refuse_unknown(d)
        d = dict(d)
        for name in ("betas_g", "betas_d"):
            if isinstance(d.get(name), list):
                d[name] = tuple(d[name])
        return cls(**d)

    @classmethod
    def _refuse_unknown(cls, names):
        unknown = set(names) - set(cls.field_names())
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)}; "
                             f"{_suggest(sorted(unknown)[0], cls.field_names())}")

    @classmethod
    def from_json(cls, path):
        with open(path) as f:
            d = json.load(f)
        return cls.from_dict(d.get("config", d))


_TYPE_WORDS = {int: "a whole number", float: "a number", str: "text in quotes",
               bool: "True or False", list: "a list such as [256, 128, 64]",
               tuple: "a pair such as (0.5, 0.999)"}


def _is(value, kind):
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    if kind in (list, tuple):  # Colab form fields may hand a list over as "256,128,64"
        return isinstance(value, (list, tuple, str))
    return isinstance(value, kind)


def _check_types(cfg):
    """Every field against its annotation, so a wrong type is named before it fails deep inside."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        kinds = [k for k in (typing.get_args(f.type) or (f.type,)) if k is not type(None)]
        if value is None and len(kinds) < len(typing.get_args(f.type) or (f.type,)):
            continue
        if not any(_is(value, k) for k in kinds):
            expected = " or ".join(_TYPE_WORDS.get(k, k.__name__) for k in kinds)
            if f.default is None:
                expected += ", or None (the preset's or the automatic value)"
            raise ValueError(f"{f.name}={value!r} has the wrong type ({type(value).__name__}): "
                             f"expected {expected}.")


def _parse_literals(values):
    """Lists and tuples given as text, as papermill's `-p g_strides "[1, 2, 2]"` and
    `-p betas_g "(0.5, 0.999)"` hand them over (it converts only numbers, True/False/None)."""
    import ast
    kinds = {f.name: typing.get_args(f.type) or (f.type,) for f in fields(RunConfig)}
    out = dict(values)
    for name, value in values.items():
        sequence = [k for k in kinds[name] if k in (list, tuple)]
        if not sequence or not isinstance(value, str) or value.strip()[:1] not in ("[", "("):
            continue
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise ValueError(f"{name}={value!r} is not a valid Python list or tuple: write it as "
                             f"{_TYPE_WORDS[sequence[0]].split('such as ')[-1]}.") from None
        out[name] = tuple(parsed) if sequence[0] is tuple and isinstance(parsed, list) else parsed
    return out


def _check_finite(cfg):
    """NaN slips through every range check (all comparisons with NaN are False) and inf
    breaks the optimiser: refuse both in every number field, naming the field."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                default = "None, the preset's value" if f.default is None else repr(f.default)
                raise ValueError(f"{f.name}={value!r} is not a finite number: give a real value "
                                 f"(the default is {default}).")


def _check_ranges(cfg):
    """The number fields that live in an interval: learning rates, betas, smoothing, noise,
    the penalty and clipping constants."""
    for name in ("lr_g", "lr_d"):
        value = float(getattr(cfg, name))
        if value <= 0 or value >= 1:
            raise ValueError(f"{name}={value!r} is out of range: a learning rate must be "
                             f"in (0, 1); the case-study reports used 1e-5 to 1e-3 (try 1e-4 or 2e-4).")
    for name in ("betas_g", "betas_d"):
        betas = getattr(cfg, name)
        if (not isinstance(betas, (list, tuple)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"{name}={betas!r} must be two numbers in [0, 1), "
                             f"e.g. (0.5, 0.999) as in the DCGAN paper or (0.0, 0.9) for WGAN-GP.")
    smoothing = float(cfg.label_smoothing)
    if not 0 < smoothing <= 1:
        raise ValueError(f"label_smoothing={smoothing!r} is out of range: it is the target for "
                         f"real images, in (0, 1]; 1.0 turns it off, the case-study reports used 0.9.")
    noise = float(cfg.instance_noise)
    if not 0 <= noise < 1:
        raise ValueError(f"instance_noise={noise!r} is out of range: it is a noise std in "
                         f"[0, 1); 0 turns it off, the Fashion-MNIST and D&D-maps report used 0.15.")
    if float(cfg.gp_lambda) < 0:
        raise ValueError(f"gp_lambda={cfg.gp_lambda!r} must be >= 0 (the WGAN-GP paper uses 10).")
    if float(cfg.r1_gamma) < 0:
        raise ValueError(f"r1_gamma={cfg.r1_gamma!r} must be >= 0 (0 turns R1 and R2 off).")
    if not 0 <= float(cfg.ema) < 1:
        raise ValueError(f"ema={cfg.ema!r} is out of range: it is the decay of the average of G's "
                         f"weights, in [0, 1); 0 turns it off, 0.99 averages over ~100 G steps, "
                         f"0.999 over ~1,000.")
    if float(cfg.clip_value) <= 0:
        raise ValueError(f"clip_value={cfg.clip_value!r} must be > 0 (the WGAN paper uses 0.01).")


def _check_sizes(cfg):
    if cfg.noise_dim > MAX_NOISE_DIM:
        raise ValueError(f"noise_dim={cfg.noise_dim} is too large: at most {MAX_NOISE_DIM}. It is "
                         f"the length of the random vector z (DCGAN used 100, StyleGAN 512), and G's "
                         f"first layer grows with it (1e9 would need terabytes).")
    if cfg.n_samples > MAX_N_SAMPLES:
        raise ValueError(f"n_samples={cfg.n_samples} is too large: at most {MAX_N_SAMPLES} (a 32 x 32 "
                         f"grid). It is the number of images in the fixed-noise grid, all generated "
                         f"at once at every snapshot; the notebooks use 16 to 64, e.g. n_samples=64.")
    if cfg.seed > MAX_SEED:
        raise ValueError(f"seed={cfg.seed} is too large: use a whole number from 0 to 2**64 - 1 "
                         f"(torch's random generators take 64-bit seeds), e.g. seed=42.")


def _check_pack(cfg):
    """Packing cuts every batch into groups of `pack`: a remainder would have no group."""
    if cfg.batch_size % cfg.pack:
        lower = cfg.batch_size - cfg.batch_size % cfg.pack
        raise ValueError(f"batch_size={cfg.batch_size} is not a multiple of pack={cfg.pack}: the "
                         f"discriminator judges the batch in groups of {cfg.pack} samples, so use "
                         f"batch_size={lower or cfg.pack} or {lower + cfg.pack}, or pack=1 (off).")


def _check_batch_norm(cfg, arch):
    """BatchNorm normalises over the batch: with one image per batch it has nothing to
    normalise with and torch fails at the first step."""
    if cfg.batch_size == 1 and "batch" in (arch.g_norm, arch.d_norm):
        which = " and ".join(n for n, v in (("g_norm", arch.g_norm), ("d_norm", arch.d_norm))
                             if v == "batch")
        raise ValueError(f"batch_size=1 cannot train with BatchNorm ({which}='batch'): it needs "
                         f"more than one image per batch. Use batch_size >= 2 (the case-study reports used 64 to "
                         f"256), or set {which} to 'instance', 'layer' or 'none'.")


def _suggest(value, valid):
    close = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else f"valid names: {', '.join(map(str, valid))}."


def _choice(name, value, valid):
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, valid))}; "
                         f"{_suggest(value, valid)}")


def _at_least(name, value, low):
    """Range only: validate() has checked every field's type against its annotation."""
    if value < low:
        raise ValueError(f"{name}={value!r} is out of range: it must be >= {low}.")


# ---- architecture: named presets and the shape arithmetic (no torch needed) ------------
# Presets: the architectures of the case-study reports and papers. Any field can be overridden.
PRESETS = {
    # TensorFlow DCGAN tutorial (the TF-tutorial variations report's "Original Architecture").
    "tf_tutorial": dict(
        g_input="dense", g_channels=[256, 128, 64], g_strides=[1, 2, 2], g_kernel=5, g_refine=0,
        g_norm="batch", g_activation="leaky_relu", upsample="transposed",
        d_channels=[64, 128], d_strides=[2, 2], d_kernel=5, d_norm="none",
        d_activation="leaky_relu", d_dropout=0.3, d_dense=[], d_head="dense",
        leaky_slope=0.3, init="glorot"),
    # The TF-tutorial variations report's "Modified Architecture": 3x3 kernels, refinement
    # convs, Dense(128) in D.
    "deeper_3x3": dict(
        g_input="dense", g_channels=[128, 64, 64, 32, 16], g_strides=[2, 1, 2, 1, 1], g_kernel=3,
        g_refine=0, g_norm="batch", g_activation="leaky_relu", upsample="transposed",
        d_channels=[32, 64, 128, 256], d_strides=[2, 1, 2, 1], d_kernel=3, d_norm="none",
        d_activation="leaky_relu", d_dropout=0.3, d_dense=[128], d_head="dense",
        leaky_slope=0.3, init="glorot"),
    # Radford et al. 2015, 64x64, with the widths of the PyTorch reference example (ngf = ndf = 64;
    # the paper's Figure 1 starts at 1024 channels, which is wgan_gp64's generator).
    "dcgan64": dict(
        g_input="convt", g_channels=[512, 256, 128, 64], g_strides=[2, 2, 2, 2], g_kernel=4,
        g_refine=0, g_norm="batch", g_activation="relu", upsample="transposed",
        d_channels=[64, 128, 256, 512], d_strides=[2, 2, 2, 2], d_kernel=4, d_norm="batch",
        d_activation="leaky_relu", d_dropout=0.0, d_dense=[], d_head="conv",
        leaky_slope=0.2, init="dcgan"),
}
# The abstract-art report's architecture variation: the TF tutorial's layers with kernel 8
# (strides 1 then 2).
PRESETS["kernel8_stride1_2"] = dict(PRESETS["tf_tutorial"], g_kernel=8, d_kernel=8)
# The small networks of Unrolled GAN's Stacked-MNIST experiment (Metz et al. 2017; PacGAN's
# Table 3, fjxmlzn/PacGAN unrolled_GAN_experiment/model.py): G of 3x3 transposed convs of 32,
# 16, 8 channels, a seventh of the tutorial G's weights: notebook 06 gives it 8,000 steps a run
# on a 2-core CPU. Two changes: the noise is projected to 7x7 (theirs to
# 4x4) so that 28 = 7 x 2 x 2, and D has no batch norm (R1 and R2 penalise each sample's own
# gradient, which a batch norm mixes across the batch); D's width is what notebook 06 varies.
PRESETS["unrolled_gan"] = dict(
    g_input="dense", g_channels=[64, 32, 16, 8], g_strides=[1, 2, 2, 1], g_kernel=3, g_refine=0,
    g_norm="batch", g_activation="relu", upsample="transposed",
    d_channels=[4, 8, 16], d_strides=[2, 2, 2], d_kernel=3, d_norm="none",
    d_activation="leaky_relu", d_dropout=0.0, d_dense=[], d_head="dense",
    leaky_slope=0.3, init="dcgan")
# The WGAN-GP art report's WGAN-GP: dcgan64 with a 1024-wide first layer and an InstanceNorm critic.
PRESETS["wgan_gp64"] = dict(PRESETS["dcgan64"], g_channels=[1024, 512, 256, 128], d_norm="instance")
PRESETS["dcgan64"] = PRESETS.pop("dcgan64")  # the order of the course: 28x28 presets, then 64x64
PRESETS["wgan_gp64"] = PRESETS.pop("wgan_gp64")
ARCH_FIELDS = tuple(PRESETS["tf_tutorial"])
# Details that change no shape but are part of each source's exact layer list (bias flags, the
# critic's last stride). They follow the preset; they are not config fields.
#   g_out_bias: bias on G's output layer (the TF tutorial and the PyTorch DCGAN example use none)
#   d_first_bias: bias on D's first conv (it has no norm; the PyTorch DCGAN example still omits it)
#   d_head_bias / d_head_stride: D's final layer (the WGAN-GP art report wrote Conv2d(512, 1, 4, stride=2))
DETAILS = dict(g_out_bias=True, d_first_bias=True, d_head_bias=True, d_head_stride=1)
PRESET_DETAILS = {
    "tf_tutorial": dict(g_out_bias=False),
    "deeper_3x3": dict(g_out_bias=False),
    "kernel8_stride1_2": dict(g_out_bias=False),
    "dcgan64": dict(g_out_bias=False, d_first_bias=False, d_head_bias=False),
    "wgan_gp64": dict(d_head_stride=2),
}


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
    _choice("init", values["init"], ("default", "dcgan", "glorot"))
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
    if cfg.loss in ("wgan", "wgan-gp", "rpgan") and values["d_norm"] == "batch":
        raise ValueError(
            f"d_norm='batch' cannot be used with loss={cfg.loss!r}: BatchNorm makes each "
            f"sample's critic value (and its gradient penalty) depend on the rest of the batch. "
            f"Set d_norm='instance' (the WGAN-GP art report's choice), 'layer' or 'none'.")
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


def conv_out(size, k, s):
    return size if s == 1 else (size + 2 * ((k - 1) // 2) - k) // s + 1


def _check_discriminator_shapes(a):
    size = a.image_size
    for i, (k, s) in enumerate(zip(a.d_kernel, a.d_strides), start=1):
        out = conv_out(size, k, s)
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


# ---- memory: what a Colab runtime can hold (no torch needed) -----------------------------------
# validate() refuses a config that cannot train within MEMORY_BUDGET, before anything is built or
# created: without it g_channels=[10**6, 128, 64] passes and then asks for tens of GB while the
# model is built, which takes a Colab runtime down. 15 GiB is the most the course's runtimes hold
# (a T4's 15 GB; a CPU runtime has 12.7 GB, and train() answers a real out-of-memory error there).
MEMORY_BUDGET = 15 * 2**30
BYTES_PER_PARAMETER = 16  # an fp32 weight, its gradient and Adam's two running averages
# Kept for the backward pass, per number a layer outputs: 3 tensors (conv, norm, activation) of
# 4 bytes (2 in half precision; 'auto' may be half on a GPU, so it counts 2). Measured for
# tf_tutorial on a CPU in fp32: 1.06 MB a sample (peak memory at batch 128 against 1,024); this
# counts 0.84 MB. An estimate below the truth refuses only what cannot fit.
SAVED_PER_OUTPUT = 3
POINT_WIDTH = 128  # the 2D MLPs' width (models.POINT_WIDTH)


def _generator_counts(a, noise_dim):
    """(weights, numbers output per sample) of the Generator models.py builds (no biases, norms)."""
    c_in, size = a.g_channels[0], a.start_size
    weights, outputs = noise_dim * c_in * size * size, c_in * size * size
    outs = a.g_channels[1:] + [a.channels]
    for i, (c_out, k, s) in enumerate(zip(outs, a.g_kernel, a.g_strides)):
        size *= s
        refine = a.g_refine if s > 1 and i < len(outs) - 1 else 0
        weights += (c_in + refine * c_out) * c_out * k * k
        outputs += (1 + refine) * c_out * size * size
        c_in = c_out
    return weights, outputs


def _discriminator_counts(a, pack):
    """(weights, numbers output per sample) of the Discriminator; packed, per group of `pack`."""
    c_in, size, weights, outputs = a.channels * pack, a.image_size, 0, 0
    for c_out, k, s in zip(a.d_channels, a.d_kernel, a.d_strides):
        size = conv_out(size, k, s)
        weights += c_in * c_out * k * k
        outputs += c_out * size * size
        c_in = c_out
    width = c_in * size * size
    for hidden in ([] if a.d_head == "conv" else a.d_dense):
        weights, outputs, width = weights + width * hidden, outputs + hidden, hidden
    return weights + width, outputs / pack


def memory_needed(cfg, arch=None):
    """{part: bytes} that training `cfg` needs at least: G's and D's weights with their gradients
    and Adam's state, one batch's activations, the data set (max_images of them; 0 = the whole
    set, which the course's sets keep under 0.5 GB, so not counted)."""
    if arch is None:  # 2D points: two MLPs of point_depth hidden layers
        hidden = (cfg.point_depth - 1) * POINT_WIDTH ** 2
        g = (cfg.noise_dim * POINT_WIDTH + hidden + 2 * POINT_WIDTH, cfg.point_depth * POINT_WIDTH)
        d = (2 * cfg.pack * POINT_WIDTH + hidden + POINT_WIDTH, cfg.point_depth * POINT_WIDTH / cfg.pack)
        item = 2 * 4  # two float coordinates
    else:
        g, d = _generator_counts(arch, cfg.noise_dim), _discriminator_counts(arch, cfg.pack)
        item = cfg.channels * cfg.image_size ** 2  # uint8 pixels
    number = 4 if cfg.precision == "fp32" else 2
    per_sample = SAVED_PER_OUTPUT * number * (g[1] + 2 * d[1])  # D sees a real and a fake batch
    return {"weights": BYTES_PER_PARAMETER * (g[0] + d[0]), "activations": cfg.batch_size * per_sample,
            "data": cfg.max_images * item, "parameters": (g[0], d[0]), "per_sample": per_sample}


def _check_memory(cfg, arch=None):
    """Refuse what cannot fit in MEMORY_BUDGET, naming the part that is too large and what fits."""
    need = memory_needed(cfg, arch)
    parts = {k: need[k] for k in ("weights", "activations", "data")}
    if sum(parts.values()) <= MEMORY_BUDGET:
        return
    g, d = need["parameters"]
    data = f", {size_text(parts['data'])} for max_images={cfg.max_images}" if parts["data"] else ""
    raise ValueError(
        f"this config needs at least {size_text(sum(parts.values()))} of memory to train, more than "
        f"the {size_text(MEMORY_BUDGET)} a Colab T4 GPU has (a CPU runtime has 12.7 GB): "
        f"{size_text(parts['weights'])} for G's {g:,} and D's {d:,} weights with their gradients "
        f"and Adam's state, {size_text(parts['activations'])} for one batch of {cfg.batch_size}"
        f"{data}. {_memory_advice(cfg, arch, need, max(parts, key=parts.get))}")


def _memory_advice(cfg, arch, need, biggest):
    """What to lower, for the largest part of memory_needed."""
    if biggest == "data":  # what is left beside the weights and one batch, in images
        fits = (MEMORY_BUDGET - need["weights"] - need["activations"]) // (need["data"] // cfg.max_images)
        return f"Lower max_images: above {max(int(fits), 0):,} it cannot fit (0 = the whole data set)."
    room = MEMORY_BUDGET - need["weights"] - need["data"]
    if biggest == "activations" and room > need["per_sample"]:
        return (f"Lower batch_size: above {int(room // need['per_sample']):,} it cannot fit (the "
                f"case-study reports used 16 to 256).")
    g, d = need["parameters"]
    if arch is None:
        return f"Lower point_depth={cfg.point_depth} (the 2D lessons use 3)."
    fields = (f"g_channels={arch.g_channels} or g_refine={arch.g_refine}" if g >= d else
              f"d_channels={arch.d_channels} or d_dense={arch.d_dense}")
    return f"Lower {fields}: the presets use 4 to 1024 channels a layer and g_refine=0."
