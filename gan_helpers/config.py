"""RunConfig: every knob the experiments turn, checked before any training starts.

One flat dataclass so a notebook's parameters cell, a papermill run, a sweep grid and
`hyperparameters.json` all speak the same names. Architecture fields left at None
take their value from the named preset (see `models.PRESETS`).
"""
import dataclasses
import difflib
import json
import math
import os
import re
import typing
from dataclasses import dataclass, field, fields
from typing import Optional, Union

QUICK_ENV = "GAN_HELPERS_QUICK"

DATASETS = ("mnist", "fashion_mnist", "folder", "ring8", "grid25")
LOSSES = ("bce", "wgan", "wgan-gp", "hinge", "lsgan")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
NORMS = ("batch", "instance", "layer", "none")
ACTIVATIONS = ("relu", "leaky_relu")
UPSAMPLE_MODES = ("transposed", "nearest", "bilinear")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
WANDB_MODES = ("auto", "online", "offline", "disabled")
IMAGE_SIZES = (28, 32, 64, 128)
AUGMENTATIONS = ("none", "flip", "diffaug", "rotate", "erase", "crop")  # see augment.py
# The papers' noise vectors have 100 (DCGAN) to 512 (StyleGAN) entries. G's first layer has
# noise_dim x (its width) weights, so a typo like 1e9 would try to allocate terabytes.
MAX_NOISE_DIM = 4096
MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64-bit seeds; beyond that it raises deep inside


@dataclass
class RunConfig:
    # data
    dataset: str = "mnist"
    data_path: str = ""            # image folder or prepared .pt file when dataset == "folder"
    image_size: int = 28
    channels: int = 1
    max_images: int = 0            # 0 = the whole data set
    augment: str = "none"          # "flip", "diffaug"; "rotate"/"erase"/"crop" leak (augment.py)
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
    init: Optional[str] = None             # "dcgan" = N(0, 0.02) weights, or "default"
    # training
    batch_size: int = 256
    epochs: int = 25
    noise_dim: int = 100
    optimizer: str = "adam"
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas_g: tuple = (0.9, 0.999)
    betas_d: tuple = (0.9, 0.999)
    loss: str = "bce"
    label_smoothing: float = 1.0   # target for real images; 1.0 = off, the seeds used 0.9
    instance_noise: float = 0.0    # std of noise added to D's inputs, annealed to 0 (seed: 0.15)
    n_critic: int = 0              # D steps per G step; 0 = 5 for wgan / wgan-gp, else 1
    gp_lambda: float = 10.0
    clip_value: float = 0.01       # weight clipping for loss == "wgan"
    lr_decay: str = "none"         # "linear": both lrs fall linearly towards 0 over the epochs
    precision: str = "auto"
    device: str = "auto"
    seed: int = 42
    snapshot_every: int = 1        # epochs between fixed-noise sample grids
    n_samples: int = 16            # images in the fixed-noise grid
    on_divergence: str = "stop"    # "stop" or "warn"
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
        """Build from a notebook's namespace (or any dict): picks the field names it finds.

        Quick mode (env GAN_HELPERS_QUICK=1) then shrinks the run; the config is validated.
        """
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
        )
        if not quiet:
            print(f"Quick mode ({QUICK_ENV}=1): {small.epochs} epochs on {small.max_images} "
                  f"images, batch {small.batch_size}. Unset it for the full run.")
        return small

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    # ---- derived values ---------------------------------------------------------------
    @property
    def critic_steps(self):
        if self.n_critic:
            return self.n_critic
        return 5 if self.loss in ("wgan", "wgan-gp") else 1

    @property
    def is_points(self):
        """2D toy data sets: MLP models, scatter plots instead of image grids."""
        return self.dataset in ("ring8", "grid25")

    # ---- validation -----------------------------------------------------------------
    def validate(self):
        """Raise ValueError naming the field and what to change; returns self."""
        _check_types(self)
        _check_finite(self)
        _choice("dataset", self.dataset, DATASETS)
        _choice("loss", self.loss, LOSSES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("wandb_mode", self.wandb_mode, WANDB_MODES)
        _choice("on_divergence", self.on_divergence, ("stop", "warn"))
        _choice("lr_decay", self.lr_decay, ("none", "linear"))
        _choice("augment", self.augment, AUGMENTATIONS)
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise ValueError(f"device={self.device!r} is not a device name: use 'auto' (GPU when "
                             f"there is one), 'cpu', 'cuda' or 'cuda:1'.")
        for name in ("batch_size", "epochs", "noise_dim", "snapshot_every", "n_samples"):
            _int(name, getattr(self, name), low=1)
        for name in ("max_images", "n_critic", "seed"):
            _int(name, getattr(self, name), low=0)
        _check_sizes(self)
        for name in ("lr_g", "lr_d"):
            value = _number(name, getattr(self, name))
            if value <= 0 or value >= 1:
                raise ValueError(f"{name}={value!r} is out of range: a learning rate must be "
                                 f"in (0, 1); the seeds used 1e-5 to 1e-3 (try 1e-4 or 2e-4).")
        for name in ("betas_g", "betas_d"):
            betas = getattr(self, name)
            if (not isinstance(betas, (list, tuple)) or len(betas) != 2
                    or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
                raise ValueError(f"{name}={betas!r} must be two numbers in [0, 1), "
                                 f"e.g. (0.5, 0.999) as in the DCGAN paper or (0.0, 0.9) for WGAN-GP.")
        smoothing = _number("label_smoothing", self.label_smoothing)
        if not 0 < smoothing <= 1:
            raise ValueError(f"label_smoothing={smoothing!r} is out of range: it is the target for "
                             f"real images, in (0, 1]; 1.0 turns it off, the seeds used 0.9.")
        noise = _number("instance_noise", self.instance_noise)
        if not 0 <= noise < 1:
            raise ValueError(f"instance_noise={noise!r} is out of range: it is a noise std in "
                             f"[0, 1); 0 turns it off, seed 001 used 0.15.")
        if _number("gp_lambda", self.gp_lambda) < 0:
            raise ValueError(f"gp_lambda={self.gp_lambda!r} must be >= 0 (the WGAN-GP paper uses 10).")
        if _number("clip_value", self.clip_value) <= 0:
            raise ValueError(f"clip_value={self.clip_value!r} must be > 0 (the WGAN paper uses 0.01).")
        if self.is_points:
            if self.augment != "none":
                raise ValueError(f"augment={self.augment!r} is for images; 2D data sets take "
                                 f"augment='none'.")
            return self
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size={self.image_size!r} is not supported: use one of "
                             f"{', '.join(map(str, IMAGE_SIZES))}.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels={self.channels!r} must be 1 (greyscale) or 3 (colour).")
        if self.dataset == "folder" and not self.data_path:
            raise ValueError("dataset='folder' needs data_path: the folder of your images "
                             "(or the .pt file written by data_scripts/prepare_images.py).")
        from .models import resolve_architecture  # shapes are checked where they are built
        _check_batch_norm(self, resolve_architecture(self))
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
        unknown = set(d) - set(cls.field_names())
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)}; "
                             f"{_suggest(sorted(unknown)[0], cls.field_names())}")
        d = dict(d)
        for name in ("betas_g", "betas_d"):
            if isinstance(d.get(name), list):
                d[name] = tuple(d[name])
        return cls(**d)

    @classmethod
    def from_json(cls, path):
        with open(path) as f:
            d = json.load(f)
        return cls.from_dict(d.get("config", d))


def quick_mode(environ=None):
    environ = os.environ if environ is None else environ
    return environ.get(QUICK_ENV, "").strip().lower() not in ("", "0", "false", "no")


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


def _check_sizes(cfg):
    if cfg.noise_dim > MAX_NOISE_DIM:
        raise ValueError(f"noise_dim={cfg.noise_dim} is too large: at most {MAX_NOISE_DIM}. It is "
                         f"the length of the random vector z (DCGAN used 100, StyleGAN 512), and G's "
                         f"first layer grows with it (1e9 would need terabytes).")
    if cfg.seed > MAX_SEED:
        raise ValueError(f"seed={cfg.seed} is too large: use a whole number from 0 to 2**64 - 1 "
                         f"(torch's random generators take 64-bit seeds), e.g. seed=42.")


def _check_batch_norm(cfg, arch):
    """BatchNorm normalises over the batch: with one image per batch it has nothing to
    normalise with and torch fails at the first step."""
    if cfg.batch_size == 1 and "batch" in (arch.g_norm, arch.d_norm):
        which = " and ".join(n for n, v in (("g_norm", arch.g_norm), ("d_norm", arch.d_norm))
                             if v == "batch")
        raise ValueError(f"batch_size=1 cannot train with BatchNorm ({which}='batch'): it needs "
                         f"more than one image per batch. Use batch_size >= 2 (the seeds used 64 to "
                         f"256), or set {which} to 'instance', 'layer' or 'none'.")


def _suggest(value, valid):
    close = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else f"valid names: {', '.join(map(str, valid))}."


def _choice(name, value, valid):
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, valid))}; "
                         f"{_suggest(value, valid)}")


def _int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r} must be a whole number (got {type(value).__name__}).")
    if value < low:
        raise ValueError(f"{name}={value!r} is out of range: it must be >= {low}.")


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}={value!r} must be a number (got {type(value).__name__}).")
    return float(value)
