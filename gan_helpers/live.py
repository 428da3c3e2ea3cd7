"""Watch it learn: one figure, redrawn in place while training, and a live table of a sweep.

In a notebook, `gh.train` hands the training loop a `LiveView`: after every epoch, and every
~30 s within a long one, it redraws the fixed-noise samples, every step's losses, D(x) and
D(G(z)), and the quality numbers once they are measured. The figure is one display that is
updated in place (IPython's display_id), so a headless execution (papermill, nbmake) keeps
its last frame once instead of a stream of copies. The loop itself draws nothing: the arrows
point from here to train.py, never back.
"""
import io
import time

import matplotlib.pyplot as plt
import torch

from . import train as loop
from . import viz
from .env import in_notebook
from .metrics import METRIC_NAMES
from .models import sample

REDRAW_SECONDS = 30.0  # within a long epoch (minutes on a CPU), a new frame this often
# A frame costs about a second of plotting on a busy 2-core CPU. Frames wait until 20 frames'
# worth of training has passed (5 % of the time at most), except after the first two epochs
# and the last: a GPU's one-second epochs would otherwise spend more time drawing than training.
MAX_SHARE = 0.05
ALWAYS_DRAWN_EPOCHS = 2


def train(cfg, data, run=None, models=None, callbacks=(), progress=True, live=None):
    """The training loop (gan_helpers.train.train) with the live view: live=None shows it in
    a notebook and not in plain Python, live=False never, live=True always (a LiveView of your
    own: pass it). Returns the history, as the loop does."""
    if live is None:
        live = in_notebook()
    watch = live if isinstance(live, LiveView) else LiveView(cfg) if live else None
    return loop.train(cfg, data, run, models, callbacks, progress, watch=watch)


class LiveView:
    """What the loop's `watch` is: it is told about every step and every epoch, and draws
    when a frame is due. `seconds` counts the time spent drawing (its cost to training)."""

    def __init__(self, cfg, every_seconds=REDRAW_SECONDS, max_share=MAX_SHARE, seed=0):
        self.cfg, self.every, self.max_share, self.seed = cfg, every_seconds, max_share, seed
        self.noise, self.handle = None, None
        self.last, self.frames, self.seconds, self.cost = 0.0, 0, 0.0, 0.0

    def waited(self, at_least):
        """Whether `at_least` seconds, and enough to keep drawing within max_share of the
        time, have passed since the last frame."""
        if self.max_share:
            at_least = max(at_least, self.cost / self.max_share)
        return time.monotonic() - self.last >= at_least

    def step(self, gan, history):
        if self.waited(self.every):
            self.draw(gan, history, f"epoch {len(history['epoch']) + 1} in progress")

    def epoch(self, gan, history):
        epoch = history["epoch"][-1]
        if epoch <= ALWAYS_DRAWN_EPOCHS or epoch == self.cfg.epochs or self.waited(0.0):
            self.draw(gan, history, f"after epoch {epoch} of {self.cfg.epochs}")

    def draw(self, gan, history, when):
        """One frame: samples of G now (from noise of the view's own, so training's random
        numbers are untouched), the curves so far, and the quality numbers measured so far."""
        started = time.perf_counter()
        if self.noise is None:
            generator = torch.Generator().manual_seed(self.seed)
            self.noise = torch.randn(self.cfg.n_samples, self.cfg.noise_dim, generator=generator)
        with torch.no_grad():  # before the first epoch BatchNorm has no running averages yet
            images = sample(gan.sampler, self.noise.to(gan.device), batch_stats=not history["epoch"]).cpu()
        self.show(frame(self.cfg, images, history, when))
        self.cost = time.perf_counter() - started
        self.frames += 1
        self.seconds += self.cost
        self.last = time.monotonic()

    def show(self, png):
        from IPython.display import Image, display
        if self.handle is None:
            self.handle = display(Image(data=png), display_id=True)
        else:
            self.handle.update(Image(data=png))


def frame(cfg, images, history, when):
    """The live figure as PNG bytes: samples, losses, D outputs, the quality numbers."""
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), gridspec_kw={"width_ratios": [1, 1.4, 1.4, 1.2]})
    if cfg.is_points:
        viz.plot_points(images, ax=axes[0], show=False, title=f"G's samples, {when}")
    else:
        viz.show_images(images, ax=axes[0], show=False, title=f"Fixed-noise samples, {when}")
    viz.plot_losses(history, ax=axes[1], show=False)
    viz.plot_d_outputs(history, ax=axes[2], show=False)
    measured = [name for name in METRIC_NAMES
                if any(v is not None for v in history.get(name) or [])]
    if measured:
        viz.plot_metric({name: history for name in measured[:1]}, measured[0], ax=axes[3], show=False)
    else:
        axes[3].axis("off")
        axes[3].text(0.5, 0.5, "quality numbers appear\nhere when they are measured",
                     ha="center", va="center", color="gray")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    plt.close(fig)  # shown through the display above only, never again by the inline backend
    return buffer.getvalue()
