"""A run folder (hyperparameters, metrics, images, checkpoints) and the checkpoint format.

Layout: <output_dir>/<experiment>/<run_name>/
    hyperparameters.json  training_metrics.json  images/epoch_XXX.png
    samples.gif  losses.png  d_outputs.png  checkpoints/epoch_XXX.pt  wandb/
The folder is created only when training really starts (`open`), so a bad config or a
missing data set leaves nothing behind, and an existing folder is never overwritten.
A checkpoint holds everything resuming needs to continue exactly as an uninterrupted run
(`checkpoint_state`); `restore` puts it back after checking it was made with this config.
W&B (wandb_log.py) is started, fed and finished from here.
"""
import json
import random
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from . import viz, wandb_log
from .config import RunConfig
from .env import output_root, write_atomic
from .models import build_models, generate, sample

KEEP_CHECKPOINTS = 2
# Fields that may differ between a run and its resumption; any other difference is an error.
RESUMABLE_CHANGES = {"epochs", "wandb_mode", "wandb_project", "on_divergence", "device",
                     "snapshot_every", "compile", "cudnn_benchmark", "channels_last",
                     "fused_optimizer"}


def write_json(path, obj):
    """Atomic write: a reader (or a disconnect) never sees half a file."""
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n"))


def start_run(cfg, experiment="experiment", output_dir="outputs", run_name="", resume=False,
              use_drive=False):
    """A run folder under output_dir/experiment (created when training starts); on Colab
    with use_drive=True it lives on Google Drive so a disconnect keeps the checkpoints."""
    return Run(cfg, experiment, output_root(output_dir, use_drive), run_name, resume)


class Run:
    def __init__(self, cfg, experiment="experiment", output_dir="outputs", run_name="",
                 resume=False):
        self.cfg, self.experiment, self.resume = cfg, experiment, resume
        exp_dir = Path(output_dir) / experiment
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
        return sorted(self.checkpoint_dir.glob("epoch_*.pt"))

    def open(self, device, parameters=None):
        """Create the folder, write hyperparameters.json and start W&B. Called by train()
        with the networks' parameter counts (G, D)."""
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir.mkdir(exist_ok=True)
        info_path = self.path / "hyperparameters.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        info.update(experiment=self.experiment, run_name=self.name, device=str(device),
                    parameters=parameters, config=self.cfg.to_dict())
        info.setdefault("created", time.strftime("%Y-%m-%d %H:%M:%S"))
        if self.wandb_mode != "disabled":
            self.wandb = wandb_log.start(self, info.get("wandb_run_id"))
            info["wandb_run_id"] = self.wandb.id
            info["wandb_mode"] = self.wandb_mode
        write_json(info_path, info)
        print(f"Run folder: {self.path}  (W&B: {self.wandb_mode})")
        return self

    # ---- per epoch -----------------------------------------------------------------------
    def save_snapshot(self, epoch, samples, critic=None):
        path = self.images_dir / f"epoch_{epoch:03d}.png"
        viz.save_snapshot(samples, path, critic=critic)
        return path

    def log_epoch(self, history, snapshot=None):
        write_json(self.path / "training_metrics.json", history)
        if self.wandb is not None:
            wandb_log.log(self.wandb, history, snapshot)

    def end_epoch(self, gan, epoch, fixed_noise, history, save_checkpoint=True):
        """After each epoch: the fixed-noise snapshot (every snapshot_every epochs and the
        last), the checkpoint, the metrics file and W&B."""
        cfg, snap = self.cfg, None
        if epoch % cfg.snapshot_every == 0 or epoch == cfg.epochs:
            snap = self.save_snapshot(epoch, sample(gan.g, fixed_noise), gan.d if cfg.is_points else None)
        if save_checkpoint:
            self.save_checkpoint(checkpoint_state(cfg, epoch, gan, fixed_noise, history), epoch)
        self.log_epoch(history, snap)

    def save_checkpoint(self, state, epoch):
        """Atomic save, keeping the newest KEEP_CHECKPOINTS files."""
        path = write_atomic(self.checkpoint_dir / f"epoch_{epoch:03d}.pt",
                            lambda tmp: torch.save(state, tmp))
        for old in self.checkpoints()[:-KEEP_CHECKPOINTS]:
            old.unlink()
        return path

    def load_checkpoint(self):
        """The newest checkpoint that loads; a half-written or corrupt one is skipped."""
        for path in reversed(self.checkpoints()):
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - any unreadable file: try the one before
                print(f"Skipping unreadable checkpoint {path.name}: {e}")
        raise FileNotFoundError(f"no readable checkpoint in {self.checkpoint_dir}")

    def restore(self, gan, saved):
        """Put a checkpoint back into the GAN (weights, optimisers, scaler, random state);
        returns (fixed noise, history, epoch) to continue from."""
        self.check_resumable(saved["config"])
        gan.g.load_state_dict(saved["generator"])
        gan.d.load_state_dict(saved["discriminator"])
        gan.opt_g.load_state_dict(saved["opt_g"])
        gan.opt_d.load_state_dict(saved["opt_d"])
        gan.scaler.load_state_dict(saved["scaler"])
        set_rng_state(saved["rng"], gan.rng)
        print(f"Resuming {self.path} after epoch {saved['epoch']} of {self.cfg.epochs}.")
        return saved["fixed_noise"].to(gan.device), saved["history"], saved["epoch"]

    def check_resumable(self, saved_config):
        """A checkpoint from another config is an error naming the fields that differ."""
        now = self.cfg.to_dict()
        diff = [k for k in now if k not in RESUMABLE_CHANGES
                and _plain(saved_config.get(k)) != _plain(now[k])]
        if diff:
            details = ", ".join(f"{k}: saved {saved_config.get(k)!r}, now {now[k]!r}" for k in diff)
            raise ValueError(f"cannot resume {self.path}: its checkpoint was made with another "
                             f"config ({details}). Set these back, or set resume=False for a new run.")

    def finish(self, history):
        """Final figures (GIF, loss curves) and close W&B."""
        frames = sorted(self.images_dir.glob("epoch_*.png"))
        if frames:
            viz.make_gif(frames, self.path / "samples.gif")
        viz.plot_losses(history, save_to=self.path / "losses.png", show=False)
        viz.plot_d_outputs(history, save_to=self.path / "d_outputs.png", show=False)
        if self.wandb is not None:
            wandb_log.finish(self.wandb, history)
            self.wandb = None


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
            "fixed_noise": fixed_noise.cpu(), "history": history, "rng": rng_state(gan.rng)}


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
        torch.cuda.set_rng_state_all(state["cuda"])
    rng.set_state(state["loop"])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def load_generator(run_dir):
    """The generator of a run folder (its config rebuilt, its newest checkpoint loaded), in
    eval mode on the CPU: for sampling, spectra or metrics after the run."""
    run_dir = Path(getattr(run_dir, "path", run_dir))
    cfg = RunConfig.from_json(run_dir / "hyperparameters.json")
    g, _ = build_models(cfg)
    checkpoints = sorted((run_dir / "checkpoints").glob("epoch_*.pt"))
    if not checkpoints:
        raise FileNotFoundError(f"{run_dir} has no checkpoints/epoch_*.pt to load.")
    g.load_state_dict(torch.load(checkpoints[-1], map_location="cpu", weights_only=True)["generator"])
    return g.eval()


def load_run(run_dir):
    run_dir = Path(run_dir)
    history = json.loads((run_dir / "training_metrics.json").read_text())
    info = json.loads((run_dir / "hyperparameters.json").read_text())
    return info, history


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
    frames = sorted((run_dir / "images").glob("epoch_*.png"))
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
