"""Download MNIST and/or Fashion-MNIST into DIR/<Name>/raw and check every file's MD5.

    python data_scripts/download_mnist.py [--root DIR] [--dataset mnist|fashion_mnist|both]

Files already there with the right checksum are kept; a bad one is reported with where to
get it by hand. DIR defaults to GAN_DATA_DIR (else ./data); training reads from there.
"""
import argparse
import hashlib
import sys
from pathlib import Path

from torchvision import datasets

from gan_helpers.data import data_dir

SETS = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def verify(cls, root):
    """[(file, problem)] for the data set's four .gz files under root/<Name>/raw."""
    raw = Path(root) / cls.__name__ / "raw"
    problems = []
    for name, expected in cls.resources:
        path = raw / Path(name).name
        if not path.is_file():
            problems.append((path.name, "missing"))
        elif md5(path) != expected:
            problems.append((path.name, f"MD5 {md5(path)} != expected {expected} (corrupt or partial)"))
    return problems


def fetch(name, root):
    cls = SETS[name]
    if not verify(cls, root):
        print(f"{cls.__name__}: all files present under {root}, checksums OK.")
        return True
    try:
        cls(root=str(root), train=True, download=True)
        cls(root=str(root), train=False, download=True)
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        print(f"{cls.__name__}: download failed ({e}).", file=sys.stderr)
    problems = verify(cls, root)
    if problems:
        mirror = cls.mirrors[0] if getattr(cls, "mirrors", None) else ""
        print(f"{cls.__name__}: not usable yet under {Path(root) / cls.__name__ / 'raw'}:", file=sys.stderr)
        for file, problem in problems:
            print(f"  {file}: {problem}", file=sys.stderr)
        print(f"Download them by hand (e.g. from {mirror}) into that folder and run this again.",
              file=sys.stderr)
        return False
    print(f"{cls.__name__}: downloaded and verified under {root}.")
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="data folder (default: GAN_DATA_DIR or ./data)")
    p.add_argument("--dataset", choices=("mnist", "fashion_mnist", "both"), default="both")
    args = p.parse_args(argv)
    root = Path(args.root) if args.root else data_dir()
    names = ["mnist", "fashion_mnist"] if args.dataset == "both" else [args.dataset]
    return 0 if all([fetch(n, root) for n in names]) else 1


if __name__ == "__main__":
    sys.exit(main())
