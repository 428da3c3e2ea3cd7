"""A run folder (hyperparameters, metrics, images, checkpoints) and the checkpoint format.

Layout: <output_dir>/<experiment>/<run_name>/
    hyperparameters.json  training_metrics.json  images/epoch_XXX.png
    samples.gif  losses.png  d_outputs.png  checkpoints/epoch_XXX.pt  wandb/
The folder is created only when training really starts (`open`), so a bad config or a
missing data set leaves nothing behind, and an existing folder is never overwritten.
A checkpoint holds everything resuming needs to continue exactly as an uninterrupted run on
the same kind of device (`checkpoint_state`; on another device, see `set_loop_rng`); `restore` puts it back after checking it was made with this config.
W&B (wandb_log.py) is started, fed and finished from here.
"""
import hashlib
import json
import os
import random
import re
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from . import viz, wandb_log
from .config import RunConfig
from .env import QUICK_ENV, check_folder_name, output_root, quick_mode, read_json, write_atomic
from .models import build_models, generate, sample

KEEP_CHECKPOINTS = 2
# What train() and load_generator() need from a checkpoint; a file without them is skipped.
CHECKPOINT_KEYS = ("epoch", "config", "generator", "discriminator", "opt_g", "opt_d", "scaler",
                   "fixed_noise", "history", "rng")
# Fields that may differ between a run and its resumption; any other difference is an error.
# device and precision: a Colab student may start on a CPU runtime and go on on a T4 (fp16).
RESUMABLE_CHANGES = {"epochs", "wandb_mode", "wandb_project", "on_divergence", "device",
                     "precision", "snapshot_every", "compile", "cudnn_benchmark", "channels_last",
                     "fused_optimizer", "checkpoint_minutes"}


def write_json(path, obj):
    """Atomic write: a reader (or a disconnect) never sees half a file."""
    write_atomic(path, json.dumps(obj, indent=2) + "\n")


def start_run(cfg, experiment="experiment", output_dir="outputs", run_name="", resume=False,
              use_drive=False):
    """A run folder under output_dir/experiment (created when training starts); on Colab
    with use_drive=True it lives on Google Drive so a disconnect keeps the checkpoints."""
    # papermill's `-p run_name 123` arrives as a number: names are text, whatever was typed
    experiment, output_dir = str(experiment), str(output_dir)
    run_name = "" if run_name is None else str(run_name)
    return Run(cfg, experiment, output_root(output_dir, use_drive), run_name, resume)


class Run:
    def __init__(self, cfg, experiment="experiment", output_dir="outputs", run_name="",
                 resume=False):
        self.cfg, self.experiment, self.resume = cfg, experiment, resume
        for what, value in (("experiment", experiment), ("run_name", run_name)):
            check_folder_name(what, value)
        exp_dir = Path(output_dir) / experiment
        check_writable(exp_dir)  # now, not after the data has loaded
        if resume:
            self.path = Path(exp_dir / run_name) if run_name else _latest_run(exp_dir)
            if not self.path.is_dir() or not self.checkpoints():
                raise FileNotFoundError(
                    f"resume=True but {self.path} has no checkpoints to resume from. Set "
                    f"run_name to a run folder under {exp_dir} that has checkpoints/, or set "
                    f"resume=False to start a new run.")
        else:
            name = run_name or time.strftime("run-%Y%m%d-%H%M%S")
            path, n = exp_dir / name, 2
            while path.exists():  # never overwrite what an earlier run wrote
                path, n = exp_dir / f"{name}-{n}", n + 1
            if run_name and path.name != run_name:
                print(f"Run folder {exp_dir / run_name} exists; writing to {path} instead.")
            self.path = path
        self.name = self.path.name
        self.wandb = None
        self.wandb_mode = wandb_log.resolve_wandb_mode(cfg.wandb_mode)

    # ---- folders -------------------------------------------------------------------------
    @property
    def images_dir(self):
        return self.path / "images"

    @property
    def checkpoint_dir(self):
        return self.path / "checkpoints"

    def checkpoints(self):
        return checkpoint_files(self.checkpoint_dir)

    def _claim_folder(self):
        """mkdir that fails if the folder exists is atomic: of two runs that picked the same
        name, exactly one gets it and the other moves on to <name>-2, -3, ..."""
        base, n = self.path, 2
        while True:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.mkdir()
                break
            except FileExistsError:
                self.path, n = base.parent / f"{base.name}-{n}", n + 1
        if self.path != base:
            print(f"Run folder {base} was taken meanwhile; writing to {self.path} instead.")
        self.name = self.path.name

    def open(self, device, parameters=None, weights=None):
        """Create the folder, write hyperparameters.json and start W&B. Called by train()
        with the networks' parameter counts (G, D) and where the weights came from."""
        if not self.resume:
            self._claim_folder()
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir.mkdir(exist_ok=True)
        info_path = self.path / "hyperparameters.json"
        try:
            info = read_json(info_path, "It is written again now, from this run's config.") \
                if info_path.exists() else {}
        except ValueError as e:  # resuming does not need it: the checkpoint holds the config
            print(e)
            info = {}
        info.update(experiment=self.experiment, run_name=self.name, device=str(device),
                    parameters=parameters, config=self.cfg.to_dict())
        if weights is not None:  # fresh init or continued in memory; a resume keeps the first
            info.setdefault("weights", weights)
        info.setdefault("created", time.strftime("%Y-%m-%d %H:%M:%S"))
        if self.wandb_mode != "disabled":
            self.wandb = wandb_log.start(self, info.get("wandb_run_id"))
            info["wandb_run_id"] = self.wandb.id
            info["wandb_mode"] = self.wandb_mode
            if self.wandb_mode == "online":  # the dashboard's address, for the report
                info["wandb_url"] = self.wandb.url
        write_json(info_path, info)
        print(f"Run folder: {self.path}  (W&B: {self.wandb_mode})")
        return self

    # ---- per epoch -----------------------------------------------------------------------
    def save_snapshot(self, epoch, samples, critic=None):
        path = self.images_dir / f"epoch_{epoch:03d}.png"
        write_atomic(path, lambda tmp: viz.save_snapshot(samples, tmp, critic=critic))
        return path

    def log_epoch(self, history, snapshot=None, to_wandb=True):
        """training_metrics.json, and the last epoch to W&B (to_wandb=False at the end of
        training: that epoch was logged already, and W&B drops a second copy with a warning)."""
        write_json(self.path / "training_metrics.json", history)
        if self.wandb is not None and to_wandb:
            wandb_log.log(self.wandb, history, snapshot, self.cfg.critic_steps)

    def end_epoch(self, gan, epoch, fixed_noise, history, save_checkpoint=True):
        """After each epoch: the fixed-noise snapshot (every snapshot_every epochs and the
        last), the checkpoint, the metrics file and W&B."""
        cfg, snap = self.cfg, None
        if epoch % cfg.snapshot_every == 0 or epoch == cfg.epochs:
            snap = self.save_snapshot(epoch, sample(gan.sampler, fixed_noise), gan.d if cfg.is_points else None)
        if save_checkpoint and self.checkpoint_due(epoch):
            self.save_checkpoint(checkpoint_state(cfg, epoch, gan, fixed_noise, history), epoch)
            self._checkpoint_clock = self.clock()
        self.log_epoch(history, snap)

    clock = staticmethod(time.monotonic)  # the wall clock checkpoint_due reads (tests fake it)

    def checkpoint_due(self, epoch):
        """Save by wall time: after the first epoch (so a run that fails early still has a good
        checkpoint), after the last, and otherwise once cfg.checkpoint_minutes have passed since
        the last save. A checkpoint after every 2 s epoch cost more than the training itself."""
        last = getattr(self, "_checkpoint_clock", None)
        if last is None or epoch == self.cfg.epochs or not self.cfg.checkpoint_minutes:
            return True
        return self.clock() - last >= 60 * self.cfg.checkpoint_minutes

    def save_checkpoint(self, state, epoch):
        """Atomic save, keeping the newest KEEP_CHECKPOINTS files (by epoch number)."""
        path, kept = self.checkpoint_dir / f"epoch_{epoch:03d}.pt", self.checkpoints()
        last = (f"The newest checkpoint kept is {kept[-1].name}; resume=True continues from it"
                if kept else "No checkpoint was kept yet; the run starts again from epoch 1")
        write_atomic(path, lambda tmp: _save_through_file(state, tmp),
                     then=f"Or set output_dir to a disk with room. {last}.")
        for old in self.checkpoints()[:-KEEP_CHECKPOINTS]:
            if old != path:  # never the file just written
                old.unlink()
        return path

    def load_checkpoint(self):
        """The newest checkpoint that loads; a half-written or corrupt one is skipped."""
        return load_newest(self.checkpoint_dir)

    def restore(self, gan, saved):
        """Put a checkpoint back into the GAN (weights, optimisers, scaler, random state);
        returns (fixed noise, history, epoch) to continue from."""
        self.check_resumable(saved["config"])
        check_epochs_left(self.cfg, saved["epoch"], self.path)  # before anything is rewritten
        gan.g.load_state_dict(saved["generator"])
        gan.d.load_state_dict(saved["discriminator"])
        if gan.g_ema is not None:  # the average goes on from where it was (cfg.ema is fixed)
            gan.g_ema.load_state_dict(saved["generator_ema"])
        for opt, state in ((gan.opt_g, saved["opt_g"]), (gan.opt_d, saved["opt_d"])):
            opt.load_state_dict(state)
            match_parameter_layout(opt)
        load_scaler(gan.scaler, saved["scaler"])
        set_rng_state(saved["rng"], gan.rng)
        print(f"Resuming {self.path} after epoch {saved['epoch']} of {self.cfg.epochs}.")
        return saved["fixed_noise"].to(gan.device), saved["history"], saved["epoch"]

    def check_resumable(self, saved_config):
        """A checkpoint from another config is an error naming the fields that differ."""
        now = self.cfg.to_dict()
        # a field added since the checkpoint was written had its default then
        saved_config = {**RunConfig().to_dict(), **saved_config}
        diff = [k for k in now if k not in RESUMABLE_CHANGES
                and _plain(saved_config.get(k)) != _plain(now[k])]
        if diff:
            details = ", ".join(f"{k}: saved {saved_config.get(k)!r}, now {now[k]!r}" for k in diff)
            raise ValueError(f"cannot resume {self.path}: its checkpoint was made with another "
                             f"config ({details}). {_undo_advice(saved_config, now, diff)}")

    def finish(self, history):
        """Final figures (GIF, loss curves) and close W&B."""
        frames = readable_frames(self.images_dir)
        if frames:
            write_atomic(self.path / "samples.gif", lambda tmp: viz.make_gif(frames, tmp))
        for name, plot in (("losses.png", viz.plot_losses), ("d_outputs.png", viz.plot_d_outputs)):
            write_atomic(self.path / name, lambda tmp: plot(history, save_to=tmp, show=False))
        if self.wandb is not None:
            wandb_log.finish(self.wandb, history)
            self.wandb = None


def _undo_advice(saved, now, diff):
    """How to resume after all: quick mode shrinks the values again, whatever is set back, so
    a full run resumed in quick mode is told to turn quick mode off."""
    known = {k: v for k, v in saved.items() if k in RunConfig.field_names()}
    shrunk = RunConfig.from_dict(known).quick(quiet=True).to_dict()
    if quick_mode() and any(_plain(shrunk[k]) == _plain(now[k]) for k in diff):
        return (f"Quick mode ({QUICK_ENV}=1) shrinks these in every config, whatever you set, and "
                f"this run trained without it: turn it off ({QUICK_ENV}=0; in a notebook "
                f"%env {QUICK_ENV}=0, then run the parameters cell again) to resume it, or set "
                f"resume=False for a new quick run.")
    return "Set these back, or set resume=False for a new run."


def check_epochs_left(cfg, done, path):
    """Resuming with fewer epochs than are done would mislabel the run and rewrite its
    hyperparameters.json: refused before anything is written."""
    if cfg.epochs < done:
        raise ValueError(f"epochs={cfg.epochs} but {path} has already trained {done} epochs: set "
                         f"epochs to {done} or more to resume it (epochs={done} only redraws its "
                         f"figures), or set resume=False for a new run.")


def _save_through_file(state, tmp):
    with open(tmp, "wb") as f:  # through a Python file, so the OSError behind torch's
        torch.save(state, f)    # "enforce fail" RuntimeError keeps its errno


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def _latest_run(exp_dir):
    runs = [p for p in Path(exp_dir).glob("*/checkpoints") if any(p.glob("epoch_*.pt"))]
    if not runs:
        raise FileNotFoundError(f"resume=True but no run under {exp_dir} has checkpoints; "
                                f"set resume=False to start a new run.")
    return max(runs, key=lambda p: p.stat().st_mtime).parent


def checkpoint_state(cfg, epoch, gan, fixed_noise, history):
    """What a checkpoint holds: everything an uninterrupted run would still have in memory."""
    return {"epoch": epoch, "config": cfg.to_dict(), "generator": gan.g.state_dict(),
            "discriminator": gan.d.state_dict(), "opt_g": gan.opt_g.state_dict(),
            "opt_d": gan.opt_d.state_dict(), "scaler": gan.scaler.state_dict(),
            "fixed_noise": fixed_noise.cpu(), "history": history, "rng": rng_state(gan.rng),
            # cfg.ema: the averaged G with its count of updates (AveragedModel's n_averaged)
            **({"generator_ema": gan.g_ema.state_dict()} if gan.g_ema is not None else {})}


def match_parameter_layout(opt):
    """Lay each optimiser state tensor (Adam's running means) out in memory as its weight is.
    load_state_dict keeps the saved strides, so switching channels_last on resume would leave
    them differing, which CUDA's fused Adam refuses; the values are unchanged."""
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def load_scaler(scaler, saved):
    """The grad scaler's state, across precisions: a bf16 or fp32 run saved a disabled
    scaler ({}), which an fp16 run's scaler (a T4) cannot load, so it starts fresh (its scale
    settles within a few steps); a disabled scaler ignores a saved state."""
    if scaler.is_enabled() and not saved:
        print("Note: the checkpoint was trained without fp16's grad scaler; a fresh one starts now.")
        return
    scaler.load_state_dict(saved)


def rng_state(rng):
    np_state = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loop": rng.get_state()}


def set_rng_state(state, rng):
    random.setstate(_tuples(state["python"]))
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), *n[2:]))
    if state["cuda"] and torch.cuda.is_available():
        for i, cuda_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, i)
    set_loop_rng(rng, state["loop"])


def set_loop_rng(rng, saved):
    """The loop's generator back as it was; from another kind of device (a CPU generator's
    state is 5,056 bytes, a CUDA one's 16) it cannot be, so the stream goes on re-seeded from
    the saved state: the same checkpoint always resumes the same way."""
    if saved.numel() == rng.get_state().numel():
        rng.set_state(saved)
        return
    seed = int(hashlib.sha256(saved.numpy().tobytes()).hexdigest()[:15], 16)
    rng.manual_seed(seed)
    print(f"Note: this checkpoint was written on another kind of device than {rng.device.type}. "
          f"The weights, optimisers and history go on exactly; the random numbers (batch order, "
          f"noise) start a new stream, so the rest of the run differs from an uninterrupted one "
          f"as another seed would.")


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def load_generator(run_dir):
    """The generator of a run folder (its config rebuilt, its newest readable checkpoint
    loaded), in eval mode on the CPU: for sampling, spectra or metrics after the run."""
    run_dir = Path(getattr(run_dir, "path", run_dir))
    info = hyperparameters_of(run_dir)
    cfg = RunConfig.from_dict(info.get("config", info))
    g, _ = build_models(cfg)
    saved = load_newest(run_dir / "checkpoints", keys=("generator",))
    if cfg.ema and "generator_ema" in saved:  # the averaged G, as the run's snapshots showed
        prefix = "module."  # AveragedModel keeps G as .module, beside its update count
        g.load_state_dict({k[len(prefix):]: v for k, v in saved["generator_ema"].items()
                           if k.startswith(prefix)})
    else:
        g.load_state_dict(saved["generator"])
    return g.eval()


def load_run(run_dir):
    """(hyperparameters, history) of a run folder; a damaged file is named with what to do."""
    return hyperparameters_of(run_dir), read_history(run_dir)


def read_history(run_dir):
    """training_metrics.json of a run folder; a damaged one is named with what to do."""
    run_dir = Path(run_dir)
    fix = (f"It is written after every epoch: resume the run (resume=True, run_name="
           f"{run_dir.name!r}, the same config and epochs) to write it again from its newest checkpoint.")
    return read_json(run_dir / "training_metrics.json", fix)


def hyperparameters_of(run_dir):
    """hyperparameters.json of a run folder; where it is damaged, the config its newest
    checkpoint holds (said so), as resuming the run would write it again."""
    path = Path(run_dir) / "hyperparameters.json"
    try:
        return read_json(path, "Resuming the run (resume=True) writes it again; its checkpoints "
                               "hold the config too.")
    except ValueError as e:
        damaged = e
    try:
        saved = load_newest(Path(run_dir) / "checkpoints", keys=("config", "epoch"))
    except FileNotFoundError as e:
        raise ValueError(f"{damaged} No checkpoint of this run is readable either ({e}).") from None
    said = f"{damaged} Its config was read from its newest checkpoint (epoch {saved['epoch']}) instead."
    print(said)
    return {"config": saved["config"], "run_name": Path(run_dir).name, "read_from": said}


def samples_of(source, n=256, seed=0):
    """Images (N, C, H, W) in [-1, 1] from a tensor (returned as it is) or a run folder (n fresh
    samples from its newest checkpoint's generator), so the lesson's plots take either."""
    if isinstance(source, torch.Tensor):
        return source
    return generate(load_generator(source), n, seed=seed)


def show_run(run_dir, show_gif=True):
    """A finished run folder at a glance: last samples, curves, time per epoch, the GIF."""
    run_dir = Path(getattr(run_dir, "path", run_dir))
    _, history = load_run(run_dir)
    frames = readable_frames(run_dir / "images")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    if frames:
        axes[0].imshow(Image.open(frames[-1]), cmap="gray")
        axes[0].set_title(f"Fixed-noise samples, {frames[-1].stem.replace('_', ' ')}")
    axes[0].axis("off")
    viz.plot_losses(history, ax=axes[1], show=False)
    viz.plot_d_outputs(history, ax=axes[2], show=False)
    viz.finish(fig, None, True)
    seconds = history["epoch_seconds"]
    print(f"{len(seconds)} epochs on {history['device']}: {sum(seconds) / len(seconds):.2f} s per "
          f"epoch on average ({min(seconds):.2f} fastest), "
          f"{history.get('images_per_second') or 0:,.0f} images/s. Files in {run_dir}")
    gif = run_dir / "samples.gif"
    if show_gif and gif.exists():
        try:
            from IPython.display import Image as IPImage, display
            display(IPImage(filename=str(gif)))
        except ImportError:
            pass
    return history
# ---- checkpoint files: one loader, one fallback rule ---------------------------------------

def epoch_files(folder, ext):
    """epoch_*.<ext> oldest first by epoch NUMBER: as text, epoch_1000 would sort before
    epoch_998 (checkpoints pruned as they are written, GIF frames out of order)."""
    def number(path):
        digits = path.stem.split("_", 1)[1]
        return int(digits) if digits.isdigit() else -1
    return sorted(Path(folder).glob(f"epoch_*.{ext}"), key=number)


def readable_frames(folder):
    """The snapshot PNGs of images/ that open, oldest first; a damaged one (a 0-byte file an
    older version left on a full disk) is named and passed over."""
    frames = []
    for path in epoch_files(folder, "png"):
        try:
            with Image.open(path) as img:
                img.verify()
            frames.append(path)
        except (OSError, SyntaxError) as e:  # PIL's UnidentifiedImageError is an OSError
            print(f"Passing over {path}: it is damaged ({type(e).__name__}); delete it.")
    return frames


def checkpoint_files(folder):
    return epoch_files(folder, "pt")


def load_newest(folder, keys=CHECKPOINT_KEYS):
    """The newest checkpoint in `folder` that loads and has `keys`; each one skipped is
    printed with the reason. No readable one: FileNotFoundError listing every reason."""
    reasons = []
    for path in reversed(checkpoint_files(folder)):
        try:
            return read_checkpoint(path, keys)
        except ValueError as e:
            print(f"Skipping checkpoint {path.name}: {e}. Trying the one before.")
            reasons.append(f"{path.name}: {e}")
    detail = "; ".join(reasons) if reasons else "there are no checkpoints/epoch_*.pt files"
    raise FileNotFoundError(f"no readable checkpoint in {folder} ({detail}). Set resume=False "
                            f"to train again from scratch.")


def read_checkpoint(path, keys=CHECKPOINT_KEYS):
    """One checkpoint file as a dict, or ValueError with a reason a student can act on."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise ValueError(unreadable_reason(e)) from None
    if not isinstance(state, dict):
        raise ValueError(f"it holds a {type(state).__name__}, not a training checkpoint")
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}: not a checkpoint written by train()")
    return state


def unreadable_reason(error):
    """torch's message, turned into what it means here. Never pass on torch's advice to set
    weights_only=False: that would run whatever code a damaged or foreign file holds."""
    text = str(error)
    if "Unsupported global" in text:
        return "it holds Python objects train() never saves (not one of this course's checkpoints)"
    if "weights_only" in text:  # the safe unpickler met bytes that are no tensors and numbers
        return "it is damaged or not a torch checkpoint at all (it holds no readable tensors)"
    if "zip archive" in text or "central directory" in text or isinstance(error, EOFError):
        return "it is truncated or damaged (a save cut off by a disconnect or a full disk)"
    return f"it is damaged ({type(error).__name__}; not a checkpoint torch can read)"


def check_writable(folder):
    """The nearest existing folder on the way to `folder` must be a folder we can write in:
    said when the run is created, not as a PermissionError after the data has loaded."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(
            f"cannot create run folders in {folder}: {existing} is a file, not a folder. Set "
            f"output_dir to a folder (e.g. 'outputs'), or move that file away.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass  # the only honest test of writability (permissions, read-only disks, quotas)
    except OSError as e:
        raise PermissionError(
            f"cannot write in {existing} ({e.strerror}), so no run folder can be created at "
            f"{folder}. Set output_dir to a folder you can write to (e.g. 'outputs', or on Colab "
            f"use_drive=True), or make this one writable.") from None
