"""Rebuild the real image folders notebook 05's defaults were measured on, from Debian packages.

    python -m gan_helpers.course get_debian_images [OUT_DIR]      (default: data/own_images)
    python data_scripts/get_debian_images.py [OUT_DIR]             (the same, from the course's folder)

Needs a Debian or Ubuntu machine with `apt-get` (as root, run `apt-get update` once first) and
`dpkg`. Each folder is one package's images, picked as below, copied unchanged:

  wesnoth_portraits  wesnoth-1.16-data: the painted unit portraits under data/core/images/portraits
                     (238 PNGs, RGBA and palette, 400 to 500 px; GPL-2+, artists listed in its ARTISTS file)
  faenza_icons       faenza-icon-theme: the Faenza theme's 96x96 icons, regular files only (the
                     theme's symbolic links are aliases of the same icon; 733 PNGs, RGBA; GPL-3)

The packages are downloaded into OUT_DIR/debs and unpacked into OUT_DIR/unpacked; nothing is
installed. Both folders sit outside git (data/ is ignored).
"""
import shutil
import subprocess
import sys
from pathlib import Path

FOLDERS = {
    # name: (package, folder inside the package, file pattern)
    "wesnoth_portraits": ("wesnoth-1.16-data",
                          "usr/share/games/wesnoth/1.16/data/core/images/portraits", "**/*.png"),
    "faenza_icons": ("faenza-icon-theme", "usr/share/icons/Faenza", "*/96/*.png"),
}


def unpack(package, out):
    """apt-get download + dpkg -x: the package's files under out/unpacked/<package>."""
    debs, target = out / "debs", out / "unpacked" / package
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{package}_*.deb")):
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
    if not target.is_dir():
        deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
        target.mkdir(parents=True)
        subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)
    return target


def build(name, out):
    package, inside, pattern = FOLDERS[name]
    root = unpack(package, out) / inside
    files = sorted(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink())
    dest = out / name
    if dest.exists():
        shutil.rmtree(dest)
    for path in files:
        # keep the sub-folder in the name: two portraits may share a file name
        target = dest / "_".join(path.relative_to(root).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    print(f"{name}: {len(files)} images from {package} -> {dest}")
    return dest


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    out = Path(argv[0] if argv else "data/own_images")
    for name in FOLDERS:
        build(name, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
