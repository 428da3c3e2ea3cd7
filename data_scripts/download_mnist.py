"""Download MNIST and/or Fashion-MNIST into DIR/<Name>/raw and check every file's MD5.

    python data_scripts/download_mnist.py [--root DIR] [--dataset mnist|fashion_mnist|both]
        [--no-download]

The four .gz files of each set are checked against torchvision's own list (MNIST.resources,
FashionMNIST.resources). Files already there with the right MD5 are kept and not fetched
again; missing or corrupt ones are fetched from torchvision's mirrors. If that fails, the
script says which files to download by hand and where to put them. DIR defaults to
GAN_DATA_DIR (else ./data); training reads from there. --no-download (or the environment
variable GAN_HELPERS_NO_DOWNLOAD=1, as in the tests) only checks.
"""
import argparse
import os
import sys
from pathlib import Path

from torchvision import datasets
from torchvision.datasets.utils import download_and_extract_archive

from gan_helpers.data import file_md5 as md5
from gan_helpers.data import prefer_working_mirrors
from gan_helpers.env import data_dir

SETS = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}


def raw_folder(cls, root):
    return Path(root) / cls.__name__ / "raw"


def verify(cls, root):
    """[(file, problem)] for the data set's four .gz files under root/<Name>/raw; [] = all good."""
    problems = []
    for name, expected in cls.resources:
        path = raw_folder(cls, root) / name
        if not path.is_file():
            problems.append((name, "missing"))
        elif md5(path) != expected:
            problems.append((name, f"MD5 {md5(path)}, expected {expected} (corrupt or partial "
                                   f"download)"))
    return problems


def download(cls, root, names):
    """Fetch the named files through torchvision (every mirror in turn); {file: error}."""
    expected = dict(cls.resources)
    errors = {}
    for name in names:
        for mirror in prefer_working_mirrors(cls):  # the mirrors that still answer first
            try:
                download_and_extract_archive(f"{mirror}{name}", download_root=str(raw_folder(cls, root)),
                                             filename=name, md5=expected[name])
                errors.pop(name, None)
                break
            except Exception as e:  # noqa: BLE001 - URLError, HTTP errors, RuntimeError (MD5)...
                errors[name] = f"{type(e).__name__}: {e}"
    return errors


def fetch(name, root, allow_download=True):
    """True when the set is complete and verified (downloading what is missing or corrupt)."""
    cls = SETS[name]
    problems = verify(cls, root)
    if not problems:
        cls(root=str(root), train=True, download=True)  # unpacks the .gz if needed; no network
        print(f"{cls.__name__}: all {len(cls.resources)} files present under "
              f"{raw_folder(cls, root)}, MD5 OK; nothing downloaded.")
        return True
    if allow_download:
        print(f"{cls.__name__}: fetching {', '.join(f for f, _ in problems)} ...")
        for file, error in download(cls, root, [f for f, _ in problems]).items():
            print(f"  {file}: download failed ({error})", file=sys.stderr)
        problems = verify(cls, root)
    if problems:
        print(f"ERROR {cls.__name__}: not usable under {raw_folder(cls, root)}:", file=sys.stderr)
        for file, problem in problems:
            print(f"  {file}: {problem}", file=sys.stderr)
        print(f"Download them by hand into that folder (replacing any bad copy), then run this "
              f"script again to check them:", file=sys.stderr)
        for file, _ in problems:
            print(f"  {cls.mirrors[0]}{file}", file=sys.stderr)
        return False
    cls(root=str(root), train=True, download=True)
    print(f"{cls.__name__}: downloaded and verified under {raw_folder(cls, root)}.")
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="data folder (default: GAN_DATA_DIR or ./data)")
    p.add_argument("--dataset", choices=("mnist", "fashion_mnist", "both"), default="both")
    p.add_argument("--no-download", action="store_true", help="only check the files")
    args = p.parse_args(argv)
    root = Path(args.root) if args.root else data_dir()
    allow = not (args.no_download or os.environ.get("GAN_HELPERS_NO_DOWNLOAD", "") not in ("", "0"))
    names = ["mnist", "fashion_mnist"] if args.dataset == "both" else [args.dataset]
    return 0 if all([fetch(n, root, allow) for n in names]) else 1


if __name__ == "__main__":
    sys.exit(main())
