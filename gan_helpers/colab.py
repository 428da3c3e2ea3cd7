"""Where are we running? Colab detection, Colab Secrets, Drive-backed output, GPU report."""
import sys
from pathlib import Path

import torch


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
        drive = Path("/content/drive")
        if not (drive / "MyDrive").exists():
            from google.colab import drive as gdrive
            gdrive.mount(str(drive))
        return drive / "MyDrive" / "gan-lab-notebooks" / output_dir
    return Path(output_dir)


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
