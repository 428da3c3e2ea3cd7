"""Prepare a folder of your own images for training: one uint8 tensor file (N, 3, S, S).

    python -m gan_helpers.image_folder SRC_FOLDER OUT.pt [--size 64] [--crop center|none]
        [--background white|black] [--dedupe]

(the package's command, which works from any folder, Colab's /content included; this script is the
same command from the course's folder: python data_scripts/prepare_images.py SRC_FOLDER OUT.pt ...)

Writes OUT.pt, OUT.json (source file per index, skipped files with the reason, counts) and
OUT.preview.png (.pt is appended to an OUT without it). The source folder is only read: an
OUT inside it is refused. Train on it with dataset="folder",
data_path="OUT.pt" (notebook 05).
"""
import sys

from gan_helpers.image_folder import main

if __name__ == "__main__":
    sys.exit(main())
