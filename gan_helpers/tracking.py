"""A run folder (hyperparameters, metrics, images, checkpoints) plus a W&B run that never prompts.

Layout: <output_dir>/<experiment>/<run_name>/
    hyperparameters.json  training_metrics.json  images/epoch_XXX.png
    samples.gif  losses.png  d_outputs.png  checkpoints/epoch_XXX.pt  wandb/
The folder is created only when training really starts (`open`), so a bad config or a
missing data set leaves nothing behind, and an existing folder is never overwritten.
"""
import json
import os
import time
from pathlib import Path

import torch

from . import viz

KEEP_CHECKPOINTS = 2
# Fields that may differ between a run and its resumption; any other difference is an error.
RESUMABLE_CHANGES = {"epochs", "wandb_mode", "wandb_project", "on_divergence", "device",
                     "snapshot_every", "compile", "cudnn_benchmark", "channels_last",
                     "fused_optimizer"}


def write_json(path, obj):
    """Atomic write: a reader (or a disconnect) never sees half a file."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


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
        self.wandb_mode = resolve_wandb_mode(cfg.wandb_mode)

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
            self.wandb = _start_wandb(self, info.get("wandb_run_id"))
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
        viz.save_snapshot(samples, path, critic=critic)
        return path

    def log_epoch(self, history, snapshot=None):
        write_json(self.path / "training_metrics.json", history)
        if self.wandb is not None:
            row = {k: v[-1] for k, v in history.items()
                   if isinstance(v, list) and v and isinstance(v[-1], (int, float))}
            if snapshot is not None:
                import wandb
                row["samples"] = wandb.Image(str(snapshot))
            self.wandb.log(row, step=history["epoch"][-1])

    def save_checkpoint(self, state, epoch):
        """Atomic save, keeping the newest KEEP_CHECKPOINTS files."""
        path = self.checkpoint_dir / f"epoch_{epoch:03d}.pt"
        tmp = path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
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
            self.wandb.summary["total_seconds"] = history.get("total_seconds")
            self.wandb.finish()
            self.wandb = None


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def _latest_run(exp_dir):
    runs = [p for p in Path(exp_dir).glob("*/checkpoints") if any(p.glob("epoch_*.pt"))]
    if not runs:
        raise FileNotFoundError(f"resume=True but no run under {exp_dir} has checkpoints; "
                                f"set resume=False to start a new run.")
    return max(runs, key=lambda p: p.stat().st_mtime).parent


# ---- W&B -------------------------------------------------------------------------------

def _wandb_key():
    """The key from the environment or Colab Secrets; never printed or stored."""
    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"]
    from .colab import colab_secret
    return colab_secret("WANDB_API_KEY")


def resolve_wandb_mode(requested):
    """'auto' -> online with a key, else offline. Never a mode that would prompt for one."""
    if requested == "auto":
        env = os.environ.get("WANDB_MODE", "").lower()
        if env in ("online", "offline", "disabled"):
            requested = env
        elif env == "dryrun":
            requested = "offline"
        else:
            return "online" if _wandb_key() else "offline"
    if requested == "online" and not _wandb_key():
        raise ValueError("wandb_mode='online' needs a W&B key: set WANDB_API_KEY in the "
                         "environment or in Colab Secrets, or use wandb_mode='offline' and "
                         "upload later with `wandb sync`.")
    return requested


def _start_wandb(run, run_id):
    import wandb
    key = _wandb_key() if run.wandb_mode == "online" else None
    if key and not os.environ.get("WANDB_API_KEY"):
        os.environ["WANDB_API_KEY"] = key  # Colab Secrets -> this process only
    os.environ.setdefault("WANDB_SILENT", "true")
    return wandb.init(project=run.cfg.wandb_project, group=run.experiment, name=run.name,
                      dir=str(run.path), config=run.cfg.to_dict(), mode=run.wandb_mode,
                      id=run_id, resume="allow" if run_id else None, reinit="finish_previous",
                      settings=wandb.Settings(console="off"))


def load_generator(run_dir):
    """The generator of a run folder (its config rebuilt, its newest checkpoint loaded), in
    eval mode on the CPU: for sampling, spectra or metrics after the run."""
    from .config import RunConfig
    from .models import build_models
    run_dir = Path(getattr(run_dir, "path", run_dir))
    cfg = RunConfig.from_json(run_dir / "hyperparameters.json")
    g, _ = build_models(cfg)
    checkpoints = sorted((run_dir / "checkpoints").glob("epoch_*.pt"))
    if not checkpoints:
        raise FileNotFoundError(f"{run_dir} has no checkpoints/epoch_*.pt to load.")
    g.load_state_dict(torch.load(checkpoints[-1], map_location="cpu", weights_only=True)["generator"])
    return g.eval()
