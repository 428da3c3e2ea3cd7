"""W&B for a run folder, never prompting: the mode ('auto' = online with a key, else offline),
the key (environment or Colab Secrets, never printed or stored), start, log, finish."""
import os

from .env import colab_secret


def _wandb_key():
    """The key from the environment or Colab Secrets; never printed or stored."""
    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"]
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


def start(run, run_id):
    import wandb
    key = _wandb_key() if run.wandb_mode == "online" else None
    if key and not os.environ.get("WANDB_API_KEY"):
        os.environ["WANDB_API_KEY"] = key  # Colab Secrets -> this process only
    os.environ.setdefault("WANDB_SILENT", "true")
    return wandb.init(project=run.cfg.wandb_project, group=run.experiment, name=run.name,
                      dir=str(run.path), config=run.cfg.to_dict(), mode=run.wandb_mode,
                      id=run_id, resume="allow" if run_id else None, reinit="finish_previous",
                      settings=wandb.Settings(console="off"))


def log(wandb_run, history, snapshot=None):
    """The last epoch's numbers (and the snapshot image) at step = the epoch."""
    row = {k: v[-1] for k, v in history.items()
           if isinstance(v, list) and v and isinstance(v[-1], (int, float))}
    if snapshot is not None:
        import wandb
        row["samples"] = wandb.Image(str(snapshot))
    wandb_run.log(row, step=history["epoch"][-1])


def finish(wandb_run, history):
    wandb_run.summary["total_seconds"] = history.get("total_seconds")
    wandb_run.finish()
