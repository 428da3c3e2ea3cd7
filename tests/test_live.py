"""The live view: it draws without changing what training computes, redraws in place (a
headless execution keeps one final frame), and stays off in plain Python."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import torch

import gan_helpers as gh
from gan_helpers import live

ROOT = Path(__file__).resolve().parents[1]


class Recorder(live.LiveView):
    """The real LiveView drawing real frames, kept in a list instead of a notebook display."""
    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self.pngs = []

    def show(self, png):
        self.pngs.append(png)


def test_the_view_draws_every_epoch_and_changes_nothing_it_watches(mnist_ready):
    cfg = gh.RunConfig(max_images=256, batch_size=64, epochs=2, device="cpu", precision="fp32").validate()
    data = gh.load_dataset(cfg)
    torch.manual_seed(0)
    plain = gh.train(cfg, data, progress=False, live=False)
    view = Recorder(cfg, every_seconds=0.0, max_share=None)  # a frame after every step as well
    watched = gh.train(cfg, data, progress=False, live=view)
    assert watched["d_loss"] == plain["d_loss"] and watched["step_g_loss"] == plain["step_g_loss"]
    steps = 2 * (256 // 64)
    assert view.frames == len(view.pngs) == steps + 2  # every step (every_seconds=0) + 2 epochs
    assert all(png.startswith(b"\x89PNG") for png in view.pngs)
    assert len(set(view.pngs)) > 2  # the picture changes as G learns
    default = Recorder(cfg)  # short epochs: the first step's frame and the first two epochs'
    gh.train(cfg, data, progress=False, live=default)
    assert default.frames == 3 and default.seconds > 0


def test_frames_of_fast_epochs_wait_so_drawing_keeps_its_share(mnist_ready):
    """Epochs far shorter than the wait a frame's cost asks for (a GPU's one-second epochs):
    the first step and the first two epochs are drawn, the last always, the others wait."""
    cfg = gh.RunConfig(max_images=128, batch_size=64, epochs=6, device="cpu").validate()
    view = Recorder(cfg, max_share=0.001)  # a frame waits 1,000 frames' worth of time
    gh.train(cfg, gh.load_dataset(cfg), progress=False, live=view)
    assert view.frames == 4


def test_plain_python_trains_without_a_view(mnist_ready):
    code = ("import gan_helpers as gh\nfrom gan_helpers import live\n"
            "print(gh.env.in_notebook())\n"
            "cfg = gh.RunConfig(max_images=128, batch_size=64, epochs=1, device='cpu').validate()\n"
            "h = gh.train(cfg, gh.load_dataset(cfg), progress=False)\nprint(len(h['epoch']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "1"] and "Image" not in out.stdout


def test_a_headless_execution_keeps_the_final_frame_once(mnist_ready, tmp_path):
    """nbclient (what papermill and nbmake run) applies each in-place update to the one output:
    the executed cell holds a single image, the frame after the last epoch."""
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import gan_helpers as gh\n"
        "cfg = gh.RunConfig(max_images=128, batch_size=64, epochs=2, device='cpu').validate()\n"
        "history = gh.train(cfg, gh.load_dataset(cfg), progress=False)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, [o.get("output_type") for o in outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
