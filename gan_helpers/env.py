"""Where are we running? Device, Colab, Colab Secrets, Drive, data and cache folders, quick mode;
and the files we write there: atomic writes, a full disk said so, damaged JSON named.

The bottom of the package: it imports nothing of ours, so every other module may use it.
"""
import errno
import json
import os
import platform
import re
import shutil
import sys
from pathlib import Path

import torch

QUICK_ENV = "GAN_HELPERS_QUICK"
DATA_ENV = "GAN_DATA_DIR"
CACHE_ENV = "GAN_CACHE_DIR"


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
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gan-lab-notebooks")


# ---- files: one rule for every file the package writes, one for reading one back ---------------
FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a full disk, a full quota, a file-size limit
RESUME_HINT = ("Or set output_dir to a disk with room. Then run it again: with resume=True a run "
               "goes on from its newest checkpoint.")


def write_atomic(path, write, then=RESUME_HINT):
    """Write `path` through a hidden temporary file beside it, then rename it over `path`: a reader,
    a disconnect or a full disk sees the old file or the new one, never half of one. `write` is
    the text or bytes to write, or write(tmp_path) for writers that take a path (torch, Pillow,
    matplotlib; the temporary file keeps the suffix, so they pick the right format). A failure
    removes the temporary file and raises OSError naming the file (a full disk: how much was
    needed, how much is free, what to do, then `then`)."""
    path = Path(path)
    tmp = path.with_name(f".tmp.{path.name}")
    data = write.encode() if isinstance(write, str) else write
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # RuntimeError: torch.save's "enforce fail" around the OSError
        written = tmp.stat().st_size if tmp.exists() else 0
        tmp.unlink(missing_ok=True)
        exact = isinstance(data, bytes)
        failure = write_failed(path, e, len(data) if exact else written, exact, then)
        if failure is e:
            raise
        raise failure from e
    return path


def write_failed(path, error, size=0, exact=False, then=RESUME_HINT):
    """The OSError for a file that could not be written, naming it; a full disk says so, with the
    space needed (`exact`) or written before it filled, the space free, and what to free.
    An error with no OSError behind it (a bug in the writer, not the disk) is returned as it is."""
    cause = next((e for e in (error, error.__cause__, error.__context__) if isinstance(e, OSError)), None)
    if cause is None:
        return error
    path = Path(path)
    kept = (f"the earlier {path.name} is unchanged" if path.exists() else
            "nothing was left in its place")
    if cause.errno not in FULL_DISK:
        return OSError(cause.errno, f"could not write {path} ({cause.strerror or cause}); {kept}. "
                                    f"Check that you may write in {path.parent} (or write elsewhere: "
                                    f"output_dir), then run it again.")
    try:
        free = f"{size_text(shutil.disk_usage(path.parent).free)} free there"
    except OSError:
        free = "the free space could not be read"
    needed = (f"it needed {size_text(size)}; " if exact else
              f"{size_text(size)} were written before it filled; " if size else "")
    return OSError(errno.ENOSPC,
                   f"the disk is full ({cause.strerror}): {path.name} could not be written to "
                   f"{path.parent} ({needed}{free}). The partial file was removed and {kept}. "
                   f"Free space on that disk (delete run folders you no longer need, or wandb/ "
                   f"folders already synced). {then}")


def size_text(n):
    """Bytes as a person reads them: 812 bytes, 3.4 MB, 19.6 GB."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} bytes"


def read_json(path, fix):
    """The JSON in `path`. A damaged one (empty, cut off, not JSON at all) raises ValueError
    saying which file, what is wrong with it and `fix`, what to do about it."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return json.loads(data)
    except ValueError as e:  # JSONDecodeError, or bytes that are no text (UnicodeDecodeError)
        where = f" ({e.msg} at line {e.lineno}, column {e.colno})" if hasattr(e, "msg") else ""
        what = "empty" if not data else f"not complete JSON{where}"
        raise ValueError(f"{path} is damaged: it is {what}, {len(data):,} bytes; a write cut off "
                         f"by a full disk or a disconnect leaves such a file. {fix}") from None


# Filesystems take 255 bytes a name; the rest is room for what is added to it (-2, .failed-HHMMSS)
MAX_NAME_BYTES = 200


def check_folder_name(what, name, where="output_dir"):
    """experiment, run_name and a sweep's --name are one folder name each: a path would write
    outside the folder meant ('..' climbs out), and a control character or a name longer than a
    filesystem takes would fail only after the data has loaded (a newline breaks report links)."""
    if not isinstance(name, str):
        return
    problem = _name_problem(name)
    if problem:
        example = (f"{where} outputs/sweeps {what} my-sweep" if what.startswith("--") else
                   f"{where}='outputs', {what}='my-run'")
        raise ValueError(f"{what}={name!r} {problem}: it must be a plain folder name (no '/', '\\', "
                         f"'.' or '..', no control characters, at most {MAX_NAME_BYTES} bytes), as "
                         f"it names one folder inside {where}. Put the location in {where} "
                         f"instead, e.g. {example}.")


def _name_problem(name):
    if name in (".", "..") or re.search(r"[/\\]", name) or os.path.isabs(name):
        return "is a path"
    if re.search(r"[\x00-\x1f\x7f]", name):
        return "holds a control character (a newline, a tab, a NUL byte)"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"is {len(name.encode())} bytes long"
    return None


def in_colab():
    return "google.colab" in sys.modules


def in_notebook():
    """True in a Jupyter or Colab kernel (a display there can be updated in place), False in
    plain Python."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


# Why a Colab Secret could not be read, by the exception google.colab.userdata.get raises.
SECRET_PROBLEMS = {"SecretNotFoundError": "not set in Colab Secrets (the key icon on the left)",
                   "NotebookAccessError": "access denied (the Secret's notebook-access switch is off)",
                   "TimeoutException": "timed out (the 'grant access' dialog was not answered)"}
_secrets = {}  # name -> (value, why missing): read once per process, each read may pop a dialog


def colab_secret_and_reason(name):
    """(value, None) or (None, why it is missing). On Colab, userdata.get may open a 'grant
    access' dialog and wait for it, so the answer is cached: one dialog per process at most."""
    if not in_colab():
        return None, "not on Colab"
    if name not in _secrets:
        try:
            from google.colab import userdata
            value = userdata.get(name)
            _secrets[name] = (value, None) if value else (None, "empty in Colab Secrets")
        except Exception as e:  # noqa: BLE001 - the three below, or a Colab we do not know
            _secrets[name] = (None, SECRET_PROBLEMS.get(type(e).__name__, f"{type(e).__name__}: {e}"))
    return _secrets[name]


def after_parameters(namespace):
    """The cell right after the parameters cell: a name papermill injected that the parameters
    cell does not have stops the notebook here (papermill itself only warns and runs the
    defaults); with use_drive=True, Drive is mounted now, so Colab's popup comes at the start
    of Run All, not in the middle of it."""
    check_parameter_names(namespace)
    if namespace.get("use_drive"):
        mount_drive()


def check_parameter_names(namespace):
    """Compare the names papermill's injected cell assigns with the parameters cell's names.
    The kernel keeps the source of every cell it ran in `In` (IPython's input history):
    papermill's injected cell starts with '# Parameters', the parameters cell has #@param fields."""
    import ast
    cells = list(namespace.get("In") or [])
    injected = [i for i, text in enumerate(cells) if text.lstrip().startswith("# Parameters")]
    if not injected:
        return  # not run by papermill
    declared = [text for text in cells[:injected[-1]] if "#@param" in text]
    if not declared:
        return

    def names(text):
        return [t.id for node in ast.parse(text).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)]

    known = names(declared[-1])
    for name in names(cells[injected[-1]]):
        if name not in known:
            close = _closest_names(name, known)
            hint = (f"did you mean {' or '.join(map(repr, close))}?" if close else
                    f"its parameters: {', '.join(known)}.")
            raise NameError(f"this notebook has no parameter {name!r} (papermill -p {name} ... "
                            f"would otherwise be ignored and the defaults run); {hint}")


def _closest_names(name, known):
    """Names a typo most likely meant: by initials first (learning_rte -> lr_g, lr_d), since
    spelling similarity alone misses abbreviations, else by spelling."""
    import difflib
    initials = "".join(word[0] for word in name.split("_") if word)
    by_initials = [k for k in known if k.split("_")[0] == initials and len(initials) > 1]
    return by_initials[:2] or difflib.get_close_matches(name, known, n=1, cutoff=0.5)


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


def cuda_capability(device=None):
    """(major, minor) compute capability of the GPU (a T4 is (7, 5), an A100 (8, 0))."""
    return torch.cuda.get_device_capability(device)


def auto_gpu_precision(device=None):
    """What precision='auto' uses on this GPU: 'bf16' from compute capability 8.0 (native bf16
    units), 'fp16' + grad scaler on 7.x (tensor cores for fp16 only, e.g. Colab's T4), 'fp32'
    below. Not torch.cuda.is_bf16_supported(): it also answers True where bf16 is only emulated."""
    capability = cuda_capability(device)
    if capability >= (8, 0):
        return "bf16"
    return "fp16" if capability >= (7, 0) else "fp32"


def gpu_report():
    """One line on the hardware this notebook will train on."""
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        auto = {"bf16": "bf16 (native on compute capability 8.0+)",
                "fp16": "fp16 + grad scaler (no native bf16 below compute capability 8.0)",
                "fp32": "fp32 (no fast half precision below compute capability 7.0)"}
        return (f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability "
                f"{p.major}.{p.minor}; precision='auto' uses {auto[auto_gpu_precision(0)]}; "
                f"torch {torch.__version__}")
    hint = " On Colab: Runtime > Change runtime type > T4 GPU." if in_colab() else ""
    return f"No GPU: training runs on the CPU ({torch.get_num_threads()} threads).{hint}"


def memory_report(batch_size):
    """Peak GPU memory of the run so far and the batch size that would roughly fit: for
    choosing batch_size on your GPU (the Fashion-MNIST and D&D-maps report fought a 24 GB card)."""
    if not torch.cuda.is_available():
        return ("Trained on the CPU: no GPU memory to report. On a GPU this cell says how much "
                "memory training used and which batch size would fit.")
    peak, total = torch.cuda.max_memory_allocated(), torch.cuda.get_device_properties(0).total_memory
    fits = int(batch_size * 0.9 * total / max(peak, 1))
    return (f"Peak GPU memory {peak / 2**30:.2f} GiB of {total / 2**30:.1f} GiB at batch_size="
            f"{batch_size}: up to about batch_size={fits} would fit (an overestimate: part of the "
            f"peak is weights and optimiser state, which do not grow with the batch).")


def cpu_name():
    """The CPU's model name, for where a number was measured (platform.processor() is empty on
    most Linux machines)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
