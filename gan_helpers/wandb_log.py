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
    """The key `wandb login` saved (~/.netrc, or the file $NETRC names), read the way wandb
    reads it and without ever prompting; None when this machine is not logged in."""
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    try:  # wandb's own reader (recent wandb); its module moved between versions, hence the guard
        from wandb.sdk.lib.wbauth.wbnetrc import read_netrc_auth
        return read_netrc_auth(host=host)
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - a malformed entry: as if not logged in
        return None
    import netrc  # older wandb: the same file, read with the standard library
    from urllib.parse import urlsplit
    try:
        creds = netrc.netrc(os.environ.get("NETRC") or None).authenticators(urlsplit(host).netloc)
    except (OSError, netrc.NetrcParseError):
        return None
    return creds[2] if creds else None


def child_env(env=None):
    """The environment for a child process (a sweep variant's papermill and kernel) with the
    W&B key added when it came from `wandb login` or Colab Secrets: a child kernel cannot
    read Secrets itself. Only in the environment: never on a command line or in a file."""
    env = dict(os.environ if env is None else env)
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
