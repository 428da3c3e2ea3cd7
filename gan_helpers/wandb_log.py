"""W&B for a run folder, never prompting: the mode ('auto' = online with a key, else offline),
the key (environment, `wandb login` or Colab Secrets, never printed or stored; handed to a
sweep variant's kernel in its environment only), start, log, finish."""
import os

from .env import colab_secret_and_reason


def _wandb_key():
    """The key from the environment, `wandb login` or Colab Secrets; never printed or stored."""
    return _wandb_key_and_reason()[0]


def _wandb_key_and_reason():
    """(key, None), or (None, why there is none) for the one line printed when 'auto' logs offline."""
    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"], None
    stored = wandb_login_key()
    if stored:
        return stored, None
    key, why = colab_secret_and_reason("WANDB_API_KEY")
    if key:
        return key, None
    return None, f"no WANDB_API_KEY in the environment, no `wandb login` here, Colab Secret: {why}"


def wandb_login_key():
    """The key `wandb login` saved (~/.netrc, or the file $NETRC names), read with the standard
    library's netrc module (not wandb's private reader, which moves between versions) and
    without ever prompting; None when this machine is not logged in."""
    import netrc
    from urllib.parse import urlsplit
    host = urlsplit(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).netloc
    try:
        creds = netrc.netrc(os.environ.get("NETRC") or None).authenticators(host)
    except FileNotFoundError:  # no ~/.netrc: not logged in
        return None
    except (OSError, netrc.NetrcParseError) as e:  # said, not silently taken as "offline"
        print(f"W&B: could not read the `wandb login` key from the netrc file ({e}).")
        return None
    return creds[2] if creds else None


def child_env(env=None):
    """The environment for a child process (a sweep variant's papermill and kernel) with the
    W&B key added when it came from `wandb login` or Colab Secrets: a child kernel cannot
    read Secrets itself. Only in the environment: never on a command line or in a file."""
    env = dict(os.environ if env is None else env)
    # each variant starts its own W&B service: one inherited from this process would keep a
    # stopped variant's run "in use" for as long as this process lives
    env.pop("WANDB_SERVICE", None)
    if not env.get("WANDB_API_KEY") and env.get("WANDB_MODE", "").lower() not in ("offline", "disabled", "dryrun"):
        key = _wandb_key()
        if key:
            env["WANDB_API_KEY"] = key
    return env


def resolve_wandb_mode(requested):
    """'auto' -> online with a key, else offline (saying why). Never a mode that would prompt."""
    if requested == "auto":
        env = os.environ.get("WANDB_MODE", "").lower()
        if env in ("online", "offline", "disabled"):
            requested = env
        elif env == "dryrun":
            requested = "offline"
        else:
            key, why = _wandb_key_and_reason()
            if not key:
                print(f"W&B logs offline (upload later with `wandb sync`): {why}.")
            return "online" if key else "offline"
    if requested == "online" and not _wandb_key():
        raise ValueError(f"wandb_mode='online' needs a W&B key ({_wandb_key_and_reason()[1]}): set "
                         f"WANDB_API_KEY in the environment or in Colab Secrets, or run `wandb login`, "
                         f"or use wandb_mode='offline' and upload later with `wandb sync`.")
    return requested


def start(run, run_id):
    import wandb
    key = _wandb_key() if run.wandb_mode == "online" else None
    if key and not os.environ.get("WANDB_API_KEY"):
        os.environ["WANDB_API_KEY"] = key  # Colab Secrets -> this process only
    os.environ.setdefault("WANDB_SILENT", "true")
    # a sweep's runs: one group per variant, its seeds side by side (sweep.py sets the name)
    group = os.environ.get("WANDB_RUN_GROUP") or run.experiment
    return wandb.init(project=run.cfg.wandb_project, group=group, name=run.name,
                      dir=str(run.path), config=run.cfg.to_dict(), mode=run.wandb_mode,
                      id=run_id, resume="allow" if run_id else None, reinit="finish_previous",
                      settings=wandb.Settings(console="off"))


def log(wandb_run, history, snapshot=None, critic_steps=1):
    """The last epoch, at W&B step = training steps so far: each of its steps' losses
    (step/d_loss, and step/g_loss at each G step) at that step's own number, then the epoch's
    numbers (with `epoch`, to choose as the x axis in W&B) and the snapshot at its last step.
    critic_steps: D steps per G step, so the j-th G loss lands after its D steps."""
    first, d_losses, g_losses = last_epoch_steps(history)
    every = critic_steps
    per_step = {first + i: {"step/d_loss": v} for i, v in enumerate(d_losses)}
    for j, v in enumerate(g_losses):  # the j-th G step follows D step (j + 1) * critic_steps
        per_step.setdefault(first + (j + 1) * every - 1, {})["step/g_loss"] = v
    for step in sorted(per_step):
        wandb_run.log(per_step[step], step=step)
    row = {k: v[-1] for k, v in history.items()
           if isinstance(v, list) and v and isinstance(v[-1], (int, float))}
    if snapshot is not None:
        import wandb
        row["samples"] = wandb.Image(str(snapshot))
    wandb_run.log(row, step=first + len(d_losses) - 1 if d_losses else history["epoch"][-1])


def last_epoch_steps(history):
    """(W&B step of the last epoch's first D step, its D losses, its G losses); steps count
    from 1 over the whole run (a resumed run continues the count from its history)."""
    per_epoch = [v or [] for v in history.get("step_d_loss", [])]
    if not per_epoch:
        return 1, [], []
    first = 1 + sum(len(v) for v in per_epoch[:-1])
    return first, per_epoch[-1], history["step_g_loss"][-1] or []


def finish(wandb_run, history):
    """The run's totals into its summary (the last epoch was logged already), then close."""
    wandb_run.summary["total_seconds"] = history.get("total_seconds")
    wandb_run.summary["images_per_second"] = history.get("images_per_second")
    wandb_run.finish()
