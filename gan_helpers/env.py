"""Where are we running? Device, Colab, Colab Secrets, Drive, data and cache folders, quick mode.

The bottom of the package: it imports nothing of ours, so every other module may use it.
"""
import os
import sys
from pathlib import Path

import torch

QUICK_ENV = "GAN_HELPERS_QUICK"
DATA_ENV = "GAN_DATA_DIR"


def quick_mode(environ=None):
    """GAN_HELPERS_QUICK=1: every run shrinks to a CPU-minute (tests, CI, a first look)."""
    environ = os.environ if environ is None else environ
    return environ.get(QUICK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def data_dir():
    """GAN_DATA_DIR, else /content/data on Colab, else ./data."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path("/content/data") if in_colab() else Path("data")


def may_download():
    """Tests set GAN_HELPERS_NO_DOWNLOAD=1: a missing data set is an error, not a download."""
    return os.environ.get("GAN_HELPERS_NO_DOWNLOAD", "") in ("", "0")


def cache_dir():
    """Where prepared folders and the demo images go: GAN_CACHE_DIR, else ~/.cache/gan-lab-notebooks
    (never inside your image folder, and never the data folder, which may be read-only)."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan-lab-notebooks")


def write_atomic(path, write):
    """write(tmp_path), then rename over `path`: a reader (or a disconnect) never sees half a
    file. The one place the package writes a file that something else may be reading."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)
    return path


def in_colab():
    return "google.colab" in sys.modules


def colab_secret(name):
    """A Colab Secret's value, or None (not on Colab, not set, or access not granted)."""
    if not in_colab():
        return None
    try:
        from google.colab import userdata
        return userdata.get(name)
    except Exception:  # noqa: BLE001 - SecretNotFoundError, NotebookAccessError, ...
        return None


def output_root(output_dir="outputs", use_drive=False):
    """The folder run folders go under; on Colab with use_drive, on Google Drive so a
    disconnect keeps checkpoints (MyDrive/gan-lab-notebooks/<output_dir>)."""
    if use_drive and in_colab():
        return mount_drive() / "MyDrive" / "gan-lab-notebooks" / output_dir
    return Path(output_dir)


def mount_drive():
    """Mount Google Drive at /content/drive once (Colab asks for permission in a popup)."""
    drive = Path("/content/drive")
    if in_colab() and not (drive / "MyDrive").exists():
        from google.colab import drive as gdrive
        gdrive.mount(str(drive))
    return drive


def pick_device(name="auto"):
    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={name!r} but no CUDA GPU is visible. On Colab choose "
                             f"Runtime > Change runtime type > GPU, or set device='auto'.")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def gpu_report():
    """One line on the hardware this notebook will train on."""
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        bf16 = "yes" if torch.cuda.is_bf16_supported() else "no (fp16 + grad scaler instead)"
        return (f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability "
                f"{p.major}.{p.minor}, bf16: {bf16}; torch {torch.__version__}")
    hint = " On Colab: Runtime > Change runtime type > T4 GPU." if in_colab() else ""
    return f"No GPU: training runs on the CPU ({torch.get_num_threads()} threads).{hint}"


def memory_report(batch_size):
    """Peak GPU memory of the run so far and the batch size that would roughly fit: for
    choosing batch_size on your GPU (seed 001 fought a 24 GB card)."""
    if not torch.cuda.is_available():
        return ("Trained on the CPU: no GPU memory to report. On a GPU this cell says how much "
                "memory training used and which batch size would fit.")
    peak, total = torch.cuda.max_memory_allocated(), torch.cuda.get_device_properties(0).total_memory
    fits = int(batch_size * 0.9 * total / max(peak, 1))
    return (f"Peak GPU memory {peak / 2**30:.2f} GiB of {total / 2**30:.1f} GiB at batch_size="
            f"{batch_size}: up to about batch_size={fits} would fit (an overestimate: part of the "
            f"peak is weights and optimiser state, which do not grow with the batch).")
