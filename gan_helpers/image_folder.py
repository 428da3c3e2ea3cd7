"""Your own images: a messy folder -> one compact uint8 tensor (N, 3, S, S), and back.

Real folders mix JPEG, PNG with transparency, palette GIFs, 16-bit greyscale, CMYK, phone
photos stored sideways with an EXIF orientation, and a few broken files. `prepare_folder` opens what Pillow can, converts every mode to RGB (alpha
composited onto a chosen background, not dropped to black), crops and resizes with
antialiasing, optionally removes duplicates, and reports every file it skipped and why.
The source folder is only read.
"""
import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError
from torchvision.utils import save_image
from tqdm.auto import tqdm

from .env import cache_dir, data_dir, mount_drive, read_json, write_atomic

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
# Photo formats Pillow cannot open without a plugin the course does not install
NEEDS_PLUGIN = {".heic", ".heif", ".avif", ".jxl"}
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0)}
NEAR_DUPLICATE_BITS = 4     # difference-hash bits two near duplicates may differ in
NEAR_DUPLICATE_COLOUR = 6   # mean 0..255 difference of their 8x8 colour thumbnails


def to_rgb(img, background="white"):
    """Any Pillow mode -> RGB; transparency is composited onto `background`."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # Scaled by the format's range, never by the image's own maximum: a dark photo stays dark
        # (0-1000 of 65535 is 0-4 of 255, as its 8-bit twin). Pillow opens 16-bit PNGs as "I;16",
        # older versions as "I" (32-bit), whose values then still fit in 16 bits
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode != "I" or arr.max() <= 65535 else 2.0**31 - 1
        img = Image.fromarray((arr.clip(0, top) * (255.0 / top)).round().astype(np.uint8), "L")
    if img.mode == "P" or (img.mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUNDS[background] + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB")


def fit_square(img, size, crop="center", background="white"):
    """Centre-crop (or pad, crop="none") to a square, then resize with antialiasing."""
    w, h = img.size
    if crop == "center":
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    else:
        s = max(w, h)
        canvas = Image.new("RGB", (s, s), BACKGROUNDS[background])
        canvas.paste(img, ((s - w) // 2, (s - h) // 2))
        img = canvas
    return img.resize((size, size), Image.LANCZOS)


def difference_hash(img):
    """64-bit dHash: near-identical images (re-encoded, resized) differ in few bits."""
    small = np.asarray(img.convert("L").resize((9, 8), Image.LANCZOS), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return np.uint64(int("".join("1" if b else "0" for b in bits), 2))


def _thumbnail(img):
    return np.asarray(img.resize((8, 8), Image.LANCZOS), dtype=np.int16)


def _popcount(x):
    """Set bits per uint64 (np.bitwise_count is numpy >= 2.0 only)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)


class NearDuplicates:
    """Kept images' dHashes and 8x8 colour thumbnails, compared against each new image at
    once (numpy), so --dedupe stays quick on thousands of images."""

    def __init__(self):
        self.hashes, self.thumbs = [], []

    def find(self, img):
        """Index of a kept image this one nearly duplicates (same structure: dHash within a
        few bits, and same colours: thumbnails close; structure alone would merge every flat,
        single-colour image), else None. Remembers the image when it is new."""
        h, thumb = difference_hash(img), _thumbnail(img)
        if self.hashes:
            bits = _popcount(np.array(self.hashes, dtype=np.uint64) ^ h)
            for i in np.flatnonzero(bits <= NEAR_DUPLICATE_BITS):
                if np.abs(self.thumbs[i] - thumb).mean() < NEAR_DUPLICATE_COLOUR:
                    return int(i)
        self.hashes.append(h)
        self.thumbs.append(thumb)
        return None


def image_files(folder):
    return sorted(p for p in Path(folder).rglob("*")
                  if p.is_file() and p.suffix.lower() in EXTENSIONS)


def open_square(path, size, crop="center", background="white"):
    """One image file -> an upright RGB size x size Pillow image (raises when unreadable)."""
    with Image.open(path) as img:
        img.seek(0)  # GIF / WebP: first frame
        if img.format == "JPEG":  # decode big photos at a reduced scale (much faster)
            img.draft(img.mode, (2 * size, 2 * size))
        img.load()
        upright = ImageOps.exif_transpose(img)  # phone photos: EXIF says how to turn them
        return fit_square(to_rgb(upright, background), size, crop, background)


def not_image_files(folder):
    """Entries named like images that are no files: a folder called x.png, a symbolic link that
    loops or points nowhere. Reported as skipped, so the count of what was left out is honest."""
    skipped = []
    for p in sorted(Path(folder).rglob("*")):
        if p.suffix.lower() not in EXTENSIONS or p.is_file():
            continue
        if p.is_dir():
            reason = "a folder named like an image (its images are read if any; the name is not)"
        elif p.is_symlink():
            reason = f"a symbolic link that loops or points nowhere ({os.readlink(p)})"
        else:
            reason = "not a regular file (a device, pipe or socket)"
        skipped.append({"file": str(p.relative_to(folder)), "reason": reason})
    return skipped


def unread_files(folder):
    """The other files of the folder (not named like an image), each with why it is not read:
    reported as skipped and counted, so 'N images of M files' counts every file."""
    skipped = []
    for p in sorted(Path(folder).rglob("*")):
        if not p.is_file() or p.suffix.lower() in EXTENSIONS:
            continue
        kind = p.suffix.lower() or "a file without a suffix"
        reason = (f"{kind} photos need a plugin this course does not install: convert them to JPEG "
                  f"or PNG (any photo app exports them)" if kind in NEEDS_PLUGIN else
                  f"not an image format this reads ({kind}; it reads {', '.join(sorted(EXTENSIONS))})")
        skipped.append({"file": str(p.relative_to(folder)), "reason": reason})
    return skipped


def prepare_folder(src, out, size=64, crop="center", background="white", dedupe=False,
                   limit=None, progress=True):
    """src folder -> `out` (.pt: uint8 tensor (N, 3, size, size)) + `<out>.json` manifest +
    `<out>.preview.png` grid. Returns the manifest (sources, skipped files with reasons, counts)."""
    src, out = Path(src), output_path(src, out)
    files = source_images(src, crop, background)
    unread = unread_files(src)
    images, sources, skipped, seen, near = [], [], not_image_files(src) + unread, {}, NearDuplicates()
    for path in tqdm(files[:limit] if limit else files, desc="preparing images", disable=not progress):
        rel = str(path.relative_to(src))
        try:
            square = open_square(path, size, crop, background)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
                Image.DecompressionBombError) as e:
            skipped.append({"file": rel, "reason": f"{type(e).__name__}: {e}"})
            continue
        arr = np.asarray(square, dtype=np.uint8)
        if dedupe:
            digest = hashlib.sha1(arr.tobytes()).hexdigest()
            if digest in seen:
                skipped.append({"file": rel, "reason": f"exact duplicate of {sources[seen[digest]]}"})
                continue
            twin = near.find(square)
            if twin is not None:
                skipped.append({"file": rel, "reason": f"near duplicate of {sources[twin]}"})
                continue
            seen[digest] = len(sources)
        images.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
        sources.append(rel)
    if not images:
        raise ValueError(f"none of the {len(files)} files in {src} could be read; see the "
                         f"reasons: {skipped[:3]}")
    tensor = torch.stack(images).contiguous()
    manifest = {"source": str(src), "out": str(out), "content": folder_digest(src, files),
                "size": size, "crop": crop, "background": background,
                "dedupe": dedupe, "count": len(sources), "files_seen": len(files) + len(unread),
                "skipped_count": len(skipped), "sources": sources, "skipped": skipped}
    write_prepared(out, tensor, manifest)
    return manifest


AGAIN = ("Or write it to a disk with room (GAN_CACHE_DIR moves the cache gh.load_dataset prepares "
         "a folder into). Then prepare it again: a missing or damaged prepared file is prepared anew.")


def write_prepared(out, tensor, manifest):
    """The .pt, its preview and, last, the manifest: each written whole or not at all, and the
    cache counts as prepared only once its manifest is there."""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, lambda tmp: save_tensor(tensor, tmp), then=AGAIN)
    write_atomic(out.with_suffix(".preview.png"), then=AGAIN, write=lambda tmp: save_image(
        tensor[:64].float() / 255, tmp, nrow=8, pad_value=1.0))
    write_atomic(out.with_suffix(".json"), json.dumps(manifest, indent=2), then=AGAIN)


def save_tensor(tensor, path):
    with open(path, "wb") as f:  # through a Python file, so the OSError behind torch's
        torch.save(tensor, f)    # "enforce fail" RuntimeError keeps its errno (a full disk)


def fit_images(images, size, channels):
    """Resize uint8 images to size x size and 1 or 3 channels (MNIST at 32/64, say)."""
    if images.shape[1] != channels:
        images = images.repeat(1, 3, 1, 1) if channels == 3 else \
            images.float().mean(1, keepdim=True).round().to(torch.uint8)
    if images.shape[-1] != size:
        out = F.interpolate(images.float(), size=(size, size), mode="bilinear",
                            antialias=True, align_corners=False)
        images = out.round().clamp_(0, 255).to(torch.uint8)
    return images.contiguous()


def file_kind(path):
    """What a file that should have been a folder is, for an error message: '.txt file'."""
    suffix = path.suffix.lower()
    if suffix in EXTENSIONS:
        return f"a single {suffix} image (a GAN needs a folder of them)"
    return f"a {suffix} file" if suffix else "a file without a suffix"


def source_images(src, crop="center", background="white"):
    """The image files prepare_folder will read, after checking its options and the folder."""
    if crop not in ("center", "none"):
        raise ValueError(f"crop={crop!r}: use 'center' or 'none'.")
    if background not in BACKGROUNDS:
        raise ValueError(f"background={background!r}: use 'white' or 'black'.")
    if src.is_file():
        raise NotADirectoryError(f"{src} is {file_kind(src)}, not a folder: give the folder that "
                                 f"holds your images ({', '.join(sorted(EXTENSIONS))}; subfolders "
                                 f"are searched too).")
    if not src.is_dir():
        raise FileNotFoundError(f"image folder {src} does not exist: set the path to the folder "
                                f"that holds your images (subfolders are searched too).")
    files = image_files(src)
    if not files:
        others = sorted({Path(s["file"]).suffix.lower() or "no suffix" for s in unread_files(src)})
        held = f" It holds {', '.join(others)} files only." if others else ""
        raise ValueError(f"no images in {src}: looked for {', '.join(sorted(EXTENSIONS))} "
                         f"(subfolders included).{held} Put your images there (HEIC photos "
                         f"converted to JPEG), or fix the path.")
    return files


def output_path(src, out):
    """Where prepare_folder writes: `out` with .pt appended when it has another suffix, and
    never inside the source folder (the README promises it is only read; an output there
    would overwrite an image, or be read as one by the next preparation)."""
    out = Path(out)
    if out.suffix != ".pt":
        out = out.with_name(out.name + ".pt")
        print(f"Writing {out} (a prepared data set is a .pt file).")
    src_abs, out_abs = Path(src).resolve(), out.resolve()
    if out_abs == src_abs or src_abs in out_abs.parents:
        raise ValueError(f"the output {out} is inside the image folder {src}, which is only read: "
                         f"writing there could overwrite your images. Choose an output outside "
                         f"it, e.g. {src_abs.parent / (src_abs.name + '_prepared.pt')}.")
    return out


def folder_digest(folder, files):
    """sha1 over every file's bytes (and name): a replaced image changes it even when its
    modification date is older (`cp -p`, a restored backup), which a date check would miss.
    Reading the files costs about a second per GB, far less than preparing them again."""
    h = hashlib.sha1()
    for path in files:
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def check_prepared(images, path):
    """A .pt from prepare_images.py holds one uint8 tensor (N, 1 or 3, S, S); anything else
    (a checkpoint's dict, a batch of vectors) is refused here, not deep inside training."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"data_path={str(path)!r} holds a {type(images).__name__}, not an image "
                         f"tensor: point data_path at a file written by "
                         f"`python -m gan_helpers.image_folder`, or at your image folder.")
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.dtype != torch.uint8 \
            or len(images) == 0:
        raise ValueError(f"data_path={str(path)!r} holds a {images.dtype} tensor of shape "
                         f"{tuple(images.shape)}; training needs uint8 images (N, 1 or 3, H, W) as "
                         f"`python -m gan_helpers.image_folder` writes them. Prepare the folder again.")
    return images


def load_image_folder(path, size=64):
    """A prepared .pt file, or a folder prepared on first use and cached outside it."""
    path = Path(path).expanduser()
    if path.suffix == ".pt":
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: run `python -m gan_helpers.image_folder` "
                                    f"FOLDER {path}, or set data_path to your image folder.")
        try:
            images = torch.load(path, weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged file
            raise ValueError(f"data_path={str(path)!r} is damaged or no prepared image file "
                             f"({type(e).__name__}): prepare your folder into it again with "
                             f"`python -m gan_helpers.image_folder FOLDER {path}`.") from None
        images = check_prepared(images, path)
    else:
        if path.is_file():
            raise NotADirectoryError(
                f"data_path={str(path)!r} is {file_kind(path)}, not an image folder. data_path "
                f"accepts a folder of images ({', '.join(sorted(EXTENSIONS))}; subfolders are "
                f"searched too) or a .pt file written by `python -m gan_helpers.image_folder`.")
        if not path.is_dir():
            raise FileNotFoundError(
                f"image folder {path} does not exist: set data_path to the folder of your images "
                f"(on Colab, a Drive folder such as /content/drive/MyDrive/my_images), or to a "
                f".pt file written by `python -m gan_helpers.image_folder`.")
        images = _cached(path, size)
    return fit_images(images, size, 3)


def _cached(folder, size):
    """The folder's prepared images from the cache, prepared first when the cache is missing,
    out of date or damaged (a damaged entry is rebuilt, never kept)."""
    cache = _cache_file(folder, size)
    images = None if _stale(cache, folder) else _load_cache(cache)
    if images is None:
        manifest = prepare_folder(folder, cache, size=size)
        print(f"Prepared {manifest['count']} images from {folder} -> {cache} "
              f"({manifest['skipped_count']} skipped, see {cache.with_suffix('.json')}).")
        images = torch.load(cache, weights_only=True)
    return images


def _load_cache(cache):
    try:
        return torch.load(cache, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged file
        print(f"The cached {cache} is damaged ({type(e).__name__}); preparing the folder again.")
        return None


def _cache_file(folder, size):
    return cache_dir() / "prepared" / f"{folder.name}-{_path_digest(folder)}-{size}.pt"


def skipped_files(path, size=64):
    """The files preparing `path` (a folder, or a .pt from prepare_images.py) left out, each
    {"file", "reason"}, read from its manifest; [] when there is none."""
    path = Path(path).expanduser()
    prepared = path if path.suffix == ".pt" else _cache_file(path, size)
    manifest = prepared.with_suffix(".json")
    if not manifest.is_file():
        return []
    fix = (f"Delete it and load the folder again (gh.load_dataset prepares it anew), or run "
           f"`python -m gan_helpers.image_folder FOLDER {prepared}`.")
    return read_json(manifest, fix)["skipped"]


def _path_digest(path):
    return hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]


def _stale(cache, folder):
    """Prepare again when there is no cache, or any file was added, removed or changed since:
    compared by content, never by modification dates."""
    manifest = cache.with_suffix(".json")
    if not cache.is_file() or not manifest.is_file():
        return True
    try:
        content = read_json(manifest, "Preparing the folder again.").get("content")
    except ValueError as e:  # a damaged cache entry is rebuilt, not kept
        print(e)
        return True
    return content != folder_digest(folder, image_files(folder))


def write_demo_folder(folder, n=128, seed=0):
    """A small folder of real, mixed-format images (coloured shapes on gradients: PNG with
    transparency, JPEG, palette GIF, BMP, WebP) to try the notebook on before your own."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    formats = [("png", "RGBA"), ("jpg", "RGB"), ("gif", "P"), ("bmp", "RGB"), ("webp", "RGB")]
    for i in range(n):
        w, h = int(rng.integers(80, 160)), int(rng.integers(80, 160))
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, h)[:, None, None]
        arr = (top * (1 - ramp) + bottom * ramp).repeat(w, axis=1).astype(np.uint8)
        img = Image.fromarray(arr, "RGB")
        draw = ImageDraw.Draw(img)
        for _ in range(3):
            x, y, r = rng.integers(0, w), rng.integers(0, h), int(rng.integers(10, 40))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x - r, y - r, x + r, y + r), fill=colour)
        ext, mode = formats[i % len(formats)]
        if mode == "RGBA":
            alpha = Image.new("L", img.size, 255)
            ImageDraw.Draw(alpha).rectangle((0, 0, w // 4, h), fill=0)  # a transparent band
            img.putalpha(alpha)
        elif mode == "P":
            img = img.convert("P", palette=Image.ADAPTIVE, colors=64)
        img.save(folder / f"shape_{i:03d}.{ext}")
    # what real folders hold too: a download cut short. Preparing skips it and says why
    broken = folder / "shape_cut_short.jpg"
    img.convert("RGB").save(broken, quality=90)
    broken.write_bytes(broken.read_bytes()[:200])
    return folder


def folder_or_demo(data_path):
    """The user's folder (a path, or a name under GAN_DATA_DIR), or, when none is given, the
    demo folder, written once."""
    if data_path:
        if str(data_path).startswith("/content/drive"):
            mount_drive()
        path = Path(data_path).expanduser()
        if not path.is_absolute() and not path.exists() and (data_dir() / path).exists():
            path = data_dir() / path  # a name under GAN_DATA_DIR (./data, /content/data on Colab)
        return str(path)
    demo = cache_dir() / "demo_shapes"
    if not demo.is_dir() or not (demo / "shape_cut_short.jpg").is_file():  # none, or an older one
        write_demo_folder(demo)
    print(f"No data_path given: using the demo folder {demo} (coloured shapes). "
          f"Set data_path to your own image folder.")
    return str(demo)


# ---- the command line: python -m gan_helpers.image_folder SRC OUT.pt [--size 64] [--dedupe] ----------
# A module of the installed package, so the command works from any folder (Colab's terminal
# starts in /content, not in the course's clone); data_scripts/prepare_images.py calls it too.

def main(argv=None):
    p = argparse.ArgumentParser(description="Prepare a folder of your own images for training: one uint8 tensor file.")
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
