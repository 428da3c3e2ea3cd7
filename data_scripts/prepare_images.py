"""Prepare a folder of your own images for training: one uint8 tensor file (N, 3, S, S).

    python data_scripts/prepare_images.py SRC_FOLDER OUT.pt [--size 64] [--crop center|none]
        [--background white|black] [--dedupe]

Writes OUT.pt, OUT.json (source file per index, skipped files with the reason, counts) and
OUT.preview.png (.pt is appended to an OUT without it). The source folder is only read: an
OUT inside it is refused. Train on it with dataset="folder",
data_path="OUT.pt" (notebook 05).
"""
import argparse
import sys

from gan_helpers.image_folder import prepare_folder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--crop", choices=("center", "none"), default="center")
    p.add_argument("--background", choices=("white", "black"), default="white",
                   help="colour under transparent pixels")
    p.add_argument("--dedupe", action="store_true", help="drop exact and near duplicates")
    args = p.parse_args(argv)
    try:
        m = prepare_folder(args.src, args.out, args.size, args.crop, args.background, args.dedupe)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{m['count']} images of {m['files_seen']} files -> {m['out']} "
          f"({args.size}x{args.size}); {m['skipped_count']} skipped:")
    for s in m["skipped"]:
        print(f"  {s['file']}: {s['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
