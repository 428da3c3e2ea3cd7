"""Image folders the tests write themselves, in the real formats: shared by several test files."""
import shutil

import numpy as np
import pytest
from PIL import Image


def _rgb(w, h, colour):
    return Image.new("RGB", (w, h), colour)


def _scene(w, h):
    """A structured image (gradient, a disc, a bar): its resized JPEG copy is a near duplicate."""
    from PIL import ImageDraw
    ramp = np.linspace(0, 255, w)[None, :, None] * np.array([1.0, 0.5, 0.2])
    img = Image.fromarray(np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    draw.ellipse((10, 10, 60, 60), fill=(250, 250, 40))
    draw.rectangle((70, 20, 90, 80), fill=(20, 40, 200))
    return img


@pytest.fixture
def messy_folder(tmp_path):
    """Every mode the issue names, two sizes, nested folders, a duplicate, broken files."""
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    _rgb(40, 30, (200, 30, 30)).save(src / "red.jpg", quality=95)
    _rgb(100, 80, (30, 200, 30)).save(src / "nested" / "green.png")
    Image.new("L", (50, 50), 128).save(src / "grey_L.png")
    la = Image.new("LA", (50, 50), (0, 0))  # transparent black, grey right half
    la.paste((100, 255), (25, 0, 50, 50))
    la.save(src / "transparent_LA.png")
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 32, 64))  # left half transparent
    rgba.save(src / "nested" / "half_transparent.png")
    p = Image.new("P", (48, 48), 1)
    p.putpalette([0, 0, 0, 0, 255, 0, 0, 128, 255] + [0] * 759)
    p.paste(2, (24, 0, 48, 48))
    p.info["transparency"] = 1
    p.save(src / "palette.png", transparency=1)
    Image.new("CMYK", (60, 40), (0, 255, 255, 0)).save(src / "cmyk.jpg")
    ramp = np.tile(np.linspace(0, 40000, 30), (30, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(src / "nested" / "deeper" / "i16.png")
    frames = [_rgb(32, 32, (0, 0, 200)), _rgb(32, 32, (200, 200, 0))]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:])
    _rgb(33, 33, (10, 10, 10)).save(src / "dark.bmp")
    _rgb(70, 70, (120, 60, 200)).save(src / "purple.webp")
    shutil.copy(src / "nested" / "green.png", src / "green_copy.png")  # exact duplicate
    scene = _scene(120, 90)
    scene.save(src / "scene.png")
    scene.resize((100, 75), Image.LANCZOS).save(src / "nested" / "scene_small.jpg", quality=90)  # near
    good = (src / "red.jpg").read_bytes()
    buf = src / "truncated.png"
    _rgb(64, 64, (1, 2, 3)).save(buf)
    buf.write_bytes(buf.read_bytes()[:100])
    (src / "notes.jpg").write_text("not an image at all")
    assert good
    return src
