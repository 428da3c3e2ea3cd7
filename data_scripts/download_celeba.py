"""CelebA faces -> a prepared 64x64 tensor file for notebook 05.

    python data_scripts/download_celeba.py [--root DIR] [--limit N] [--size 64] [--out OUT.pt]
        [--no-download]

Tries torchvision's download first. CelebA lives on Google Drive, whose download quota
often runs out ("Too many users have viewed or downloaded this file"); then download
img_align_celeba.zip by hand from the CelebA page into DIR/celeba/ and run this again:
the script unzips it and prepares the images (the first N with --limit). An unpacked
DIR/celeba/img_align_celeba/ folder works too. --no-download (or GAN_HELPERS_NO_DOWNLOAD=1)
skips torchvision and uses only what is already there.
"""
import argparse
import os
import sys
import zipfile
from pathlib import Path

from gan_helpers.env import data_dir
from gan_helpers.image_folder import prepare_folder

CELEBA_PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


def find_images(root):
    """DIR/celeba/img_align_celeba/ (unzipping DIR/celeba/img_align_celeba.zip if needed)."""
    base = Path(root) / "celeba"
    folder, archive = base / "img_align_celeba", base / "img_align_celeba.zip"
    if not folder.is_dir() and archive.is_file():
        print(f"Unzipping {archive} ...")
        with zipfile.ZipFile(archive) as z:
            z.extractall(base)
    return folder if folder.is_dir() else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="data folder (default: GAN_DATA_DIR or ./data)")
    p.add_argument("--limit", type=int, default=None, help="prepare only the first N images")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--out", default=None, help="default: ROOT/celeba_<size>.pt")
    p.add_argument("--no-download", action="store_true", help="use only files already there")
    args = p.parse_args(argv)
    allow = not (args.no_download or os.environ.get("GAN_HELPERS_NO_DOWNLOAD", "") not in ("", "0"))
    root = Path(args.root) if args.root else data_dir()
    folder = find_images(root)
    if folder is None and allow:
        try:
            from torchvision import datasets
            datasets.CelebA(root=str(root), split="all", download=True)
        except Exception as e:  # noqa: BLE001 - Drive quota, network, missing gdown...
            print(f"torchvision could not download CelebA ({type(e).__name__}: {e}).", file=sys.stderr)
        folder = find_images(root)
    if folder is None:
        print(f"ERROR: no CelebA images under {Path(root) / 'celeba'}. Download "
              f"img_align_celeba.zip by hand from {CELEBA_PAGE} (its Google Drive or Baidu "
              f"links: Align&Cropped Images) and put it at {Path(root) / 'celeba' / 'img_align_celeba.zip'} "
              f"(or unpack it to {Path(root) / 'celeba' / 'img_align_celeba'}/), then run this "
              f"script again: it unzips and prepares it.", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path(root) / f"celeba_{args.size}.pt"
    m = prepare_folder(folder, out, size=args.size, limit=args.limit)
    print(f"{m['count']} faces -> {out} ({m['skipped_count']} skipped). Train with "
          f"data_path='{out}' in notebook 05.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
