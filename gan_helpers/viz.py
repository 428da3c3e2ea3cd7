"""Figures: image grids, sample snapshots, loss and D-output curves, the training GIF.

Every plot function takes plain data (tensors, a history dict, file paths), returns the
matplotlib figure, and saves it when given `save_to`; `show=False` for scripts.
"""
import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import torch
from PIL import Image
from torchvision.utils import make_grid

from .augment import preview
from .describe import overlap_pattern
from .metrics import METRIC_NAMES
from .models import critic_landscape


def epoch_axis(ax):
    """Label the x axis 'epoch' with whole-number ticks only (no epoch 1.25 or 5.2). Call it
    after drawing: a single epoch's point gets a window of +-1 epoch, so whole numbers show."""
    ax.set_xlabel("epoch")
    lo, hi = ax.get_xlim()
    if hi - lo < 2:
        mid = round((lo + hi) / 2)
        ax.set_xlim(min(lo, mid - 1), max(hi, mid + 1))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))

def to_grid(images, nrow=None):
    """(N, C, H, W) in [-1, 1] -> one HxWxC uint8 grid (numpy)."""
    images = images.detach().float().cpu()
    nrow = nrow or math.ceil(math.sqrt(len(images)))
    grid = make_grid(images, nrow=nrow, padding=2, normalize=True, value_range=(-1, 1),
                     pad_value=1.0)
    return grid.mul(255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def save_grid(images, path, nrow=None):
    arr = to_grid(images, nrow)
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(path)


def save_snapshot(samples, path, critic=None):
    """Images -> a grid PNG; 2D points -> a scatter (over the critic's contour if given)."""
    if samples.dim() == 4:
        save_grid(samples, path)
        return
    fig = plot_points(samples, critic=critic, show=False)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_points(samples, real=None, critic=None, title=None, ax=None, show=True, lim=None):
    """Scatter of 2D samples, with real points and the critic's value as a contour."""
    samples = samples.detach().float().cpu()
    lim = lim or max(5.0, float(samples.abs().max()) * 1.1 if len(samples) else 5.0)
    lim = min(lim, 10.0)
    values = None if critic is None else critic_landscape(critic, lim, 100)
    return plot_point_snapshot({"samples": samples, "lim": lim, "critic": values}, real, ax, show,
                               title)


def show_images(images, title=None, nrow=None, ax=None, show=True, save_to=None):
    """A grid of images in [-1, 1] (a data-set preview or generated samples)."""
    fig, ax, own = _figure(ax, (6, 6))
    arr = to_grid(images, nrow)
    ax.imshow(arr[..., 0] if arr.shape[2] == 1 else arr, cmap="gray", vmin=0, vmax=255)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return finish(fig, save_to, show, own)


def plot_losses(history, ax=None, show=True, save_to=None, label=""):
    """G and D loss: every step as a thin line (the tug of war within an epoch is visible),
    each epoch's mean as a marker at the epoch's end. A history without per-step losses (a
    run from before they were recorded) gets the epoch means alone."""
    fig, ax, own = _figure(ax, (6, 4))
    for key, name in (("d_loss", f"{label}D loss".strip()), ("g_loss", f"{label}G loss".strip())):
        x, y = step_curve(history, f"step_{key}")
        color = ax.plot(x, y, lw=0.6, alpha=0.45, label=f"{name}, each step")[0].get_color() if x else None
        ax.plot(history["epoch"], history[key], marker="o", ls="none" if x else "-", color=color,
                label=f"{name}, epoch mean" if x else name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    ax.set(xlabel="epoch", ylabel="loss", title="Generator and discriminator loss")
    ax.legend(fontsize="small")
    return finish(fig, save_to, show, own)


def step_curve(history, key):
    """Per-step values (one list per epoch) -> (x, y) with x in epochs: the j-th of an
    epoch's n values at epoch - 1 + (j + 1) / n, so the last lands on the epoch's mean marker."""
    x, y = [], []
    for epoch, values in zip(history["epoch"], history.get(key) or []):
        n = len(values or [])
        x += [epoch - 1 + (j + 1) / n for j in range(n)]
        y += values or []
    return x, y


def plot_d_outputs(history, ax=None, show=True, save_to=None):
    """D(x) on real and D(G(z)) on fake images; for BCE both drift to 0.5 when G keeps up."""
    curves = {"d_real": "D(x), real", "d_fake": "D(G(z)), fake"}
    return _curves(history, curves, "Discriminator outputs", None, ax, show, save_to)


def _curves(history, curves, title, ylabel, ax, show, save_to):
    """{history key: label} as lines over the epochs."""
    fig, ax, own = _figure(ax, (6, 4))
    for key, label in curves.items():
        ax.plot(history["epoch"], history[key], label=label)
    epoch_axis(ax)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return finish(fig, save_to, show, own)


def plot_epoch_times(history, ax=None, show=True, save_to=None):
    fig, ax, own = _figure(ax, (6, 3))
    ax.bar(history["epoch"], history["epoch_seconds"])
    epoch_axis(ax)
    ax.set_ylabel("seconds")
    ax.set_title(f"Time per epoch on {history.get('device', '?')}")
    return finish(fig, save_to, show, own)


def make_gif(frames, path, ms_per_frame=300):
    """Snapshot PNGs -> an animated GIF of training (the last frame held longer)."""
    images = [Image.open(f).convert("RGB") for f in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [ms_per_frame * 4]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return Path(path)


def _figure(ax, size):
    if ax is not None:  # drawing into the caller's figure: showing and closing are theirs
        return ax.figure, ax, False
    fig, ax = plt.subplots(figsize=size)
    return fig, ax, True


def finish(fig, save_to, show, own=True):
    if not own:
        return fig
    fig.tight_layout()
    if save_to is not None:
        fig.savefig(save_to, dpi=100)
    if show and "inline" in matplotlib.get_backend().lower():
        plt.show()
    elif not show:
        plt.close(fig)
    return fig


# ---- training dynamics: gradients, critics, metrics -----------------------------------------
def layer_grad_columns(history, net):
    """{layer: per-epoch gradient norms} from the history's "grad/G/..." or "grad/D/..." keys."""
    prefix = f"grad/{net}/"
    return {k[len(prefix):]: v for k, v in history.items() if k.startswith(prefix)}


def plot_layer_grad_norms(history, title="", axes=None, show=True, save_to=None):
    """Per-layer gradient norms of G and D per epoch (last step of each epoch), log scale.
    Vanishing: the early layers' curves fall towards 0 while D wins; exploding: they climb
    by orders of magnitude."""
    own = axes is None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6)) if own else (axes[0].figure, axes)
    for ax, net, name in zip(axes, "GD", ("generator", "discriminator / critic")):
        columns = layer_grad_columns(history, net)
        for i, (layer, values) in enumerate(columns.items()):
            pts = [(e, v) for e, v in zip(history["epoch"], values) if v is not None and v > 0]
            if pts:
                ax.plot(*zip(*pts), label=layer, color=plt.cm.viridis(i / max(len(columns) - 1, 1)))
        ax.set_yscale("log")
        epoch_axis(ax)
        ax.set_ylabel("||grad|| of the layer's weights")
        ax.set_title(f"{title} {name}: gradient norm per layer".strip())
        if columns:
            ax.legend(fontsize=7, title="input → output", title_fontsize=7)
    return finish(fig, save_to, show, own)


def plot_critic_grad_norms(norms, ax=None, show=True, save_to=None, label=None):
    """Histogram of ||grad D(x_hat)|| on interpolates against the target 1 the penalty asks for."""
    fig, ax, own = _figure(ax, (5, 3.6))
    norms = torch.as_tensor(norms).float().cpu()
    ax.hist(norms.numpy(), bins=40, alpha=0.6, label=label)
    ax.axvline(1.0, color="k", ls="--", label="target 1 (1-Lipschitz)")
    ax.set_xlabel("||∇D(x̂)|| on random interpolates x̂")
    ax.set_ylabel("count")
    ax.set_title(f"Critic gradient norms (mean {float(norms.mean()):.2f})")
    ax.legend(fontsize=8)
    return finish(fig, save_to, show, own)


def plot_wasserstein(history, ax=None, show=True, save_to=None, label=""):
    """Critic's Wasserstein estimate E[D(x)] - E[D(G(z))] per epoch (and the GP term when
    there is one): falling towards 0 means G's samples get harder to tell from the data."""
    fig, ax, own = _figure(ax, (6, 3.6))
    if "wasserstein" not in history:
        raise ValueError("this history has no 'wasserstein' column: it is logged for "
                         "loss='wgan' or 'wgan-gp' runs only.")
    ax.plot(history["epoch"], history["wasserstein"], label=f"{label} Wasserstein estimate".strip())
    if history.get("gp") and any(v is not None for v in history["gp"]):
        ax.plot(history["epoch"], history["gp"], ls=":", label=f"{label} GP term".strip())
    ax.axhline(0, color="grey", lw=0.5)
    epoch_axis(ax)
    ax.set_title("Critic's Wasserstein estimate")
    ax.legend(fontsize=8)
    return finish(fig, save_to, show, own)


def plot_metric(histories, name, ax=None, show=True, save_to=None, target=None):
    """One metric (e.g. modes_captured, class_coverage, fid) per evaluation epoch for several
    runs: {label: history}."""
    fig, ax, own = _figure(ax, (6, 3.6))
    for label, history in histories.items():
        pts = [(e, v) for e, v in zip(history["epoch"], history.get(name, [])) if v is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=label)
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=0.8, label="all")
    epoch_axis(ax)
    ax.set_title(name)
    ax.legend(fontsize=8)
    return finish(fig, save_to, show, own)


def plot_class_histograms(counts, ax=None, show=True, save_to=None):
    """Predicted-digit histograms of generated samples, {label: 10 counts}: a collapsed
    generator piles its samples onto one or two digits; uniform is the dashed line."""
    fig, ax, own = _figure(ax, (7, 3.6))
    k = len(counts)
    width = 0.8 / max(k, 1)
    for i, (label, c) in enumerate(counts.items()):
        c = torch.as_tensor(c).float()
        ax.bar(torch.arange(len(c)) + (i - (k - 1) / 2) * width, c / c.sum(), width, label=label)
    ax.axhline(0.1, color="k", ls="--", lw=0.8, label="uniform")
    ax.set_xticks(range(10))
    ax.set_xlabel("digit predicted by the classifier")
    ax.set_ylabel("fraction of samples")
    ax.legend(fontsize=8)
    return finish(fig, save_to, show, own)


def plot_point_snapshot(snapshot, real=None, ax=None, show=True, title=None):
    """One 2D snapshot (dict samples, lim, critic grid or None, epoch) as samples over the
    critic's contour; plot_points draws through here too."""
    fig, ax, own = _figure(ax, (4, 4))
    lim = snapshot["lim"]
    values = snapshot.get("critic")
    if values is not None:
        xs = torch.linspace(-lim, lim, values.shape[0])
        gx, gy = torch.meshgrid(xs, xs, indexing="xy")
        ax.contourf(gx, gy, values, levels=20, cmap="RdBu_r", alpha=0.5)
    if real is not None:
        real = torch.as_tensor(real).detach().float().cpu()
        ax.scatter(real[:, 0], real[:, 1], s=2, c="grey", alpha=0.3, label="real")
    s = snapshot["samples"]
    ax.scatter(s[:, 0], s[:, 1], s=3, c="tab:orange", label="generated")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    title = title or (f"epoch {snapshot['epoch']}" if "epoch" in snapshot else None)
    if title:
        ax.set_title(title)
    return finish(fig, None, show, own)


def show_metrics(history, names=METRIC_NAMES):
    """The quality metrics of a run per evaluated epoch, as a printed table (and the FID curve
    when there are several evaluations)."""
    names = [n for n in names if n in history]
    rows = [(e, [history[n][i] for n in names]) for i, e in enumerate(history["epoch"])
            if any(history[n][i] is not None for n in names)]
    if not rows:
        print("No quality metrics were recorded for this run.")
        return None
    print(f"{'epoch':>6}" + "".join(f"{n:>16}" for n in names))
    for epoch, values in rows:
        print(f"{epoch:>6}" + "".join(f"{v:>16.3f}" if isinstance(v, float) else f"{v!s:>16}"
                                      for v in values))
    if "fid" in names and len(rows) > 1:
        return plot_metric({"this run": history}, "fid")
    return None


# ---- checkerboard artifacts: spectra, crops, overlap patterns ----------------------------------
def spectrum(images):
    """Mean log-magnitude 2D Fourier spectrum of images in [-1, 1], zero frequency centred.
    Transposed convolutions whose kernel is not a multiple of the stride leave periodic
    checkerboard patterns, which show as bright off-centre peaks (Odena et al., 2016)."""
    x = images.detach().float().cpu().mean(1)
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    mag = torch.fft.fftshift(torch.fft.fft2(x).abs(), dim=(-2, -1))
    return torch.log1p(mag).mean(0)


def plot_spectra(samples, show=True, save_to=None):
    """{label: images} -> one spectrum per label, side by side, on a shared
    colour scale."""
    specs = {label: spectrum(images) for label, images in samples.items()}
    vmax = max(float(s.max()) for s in specs.values())
    fig, axes = plt.subplots(1, len(specs), figsize=(3.2 * len(specs), 3.4), squeeze=False)
    for ax, (label, spec) in zip(axes[0], specs.items()):
        ax.imshow(spec, cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle("Mean log |FFT| of generated images (centre = low frequencies)")
    return finish(fig, save_to, show)


def show_zoomed_crops(samples, crop=14, show=True, save_to=None):
    """{label: images} -> the same corner of the first three images of each, enlarged with no
    smoothing, so pixel-level patterns (checkerboards) are visible."""
    fig, axes = plt.subplots(len(samples), 3, figsize=(7, 2.4 * len(samples)), squeeze=False)
    for row, (label, images) in zip(axes, samples.items()):
        for i, ax in enumerate(row):
            img = images[i].detach().float().cpu()
            ax.imshow(img[:, :crop, :crop].permute(1, 2, 0).squeeze(-1).add(1).div(2).clamp(0, 1),
                      cmap="gray", interpolation="nearest", vmin=0, vmax=1)
            ax.axis("off")
        row[0].set_title(label, fontsize=9, loc="left")
    return finish(fig, save_to, show)


def plot_overlap_patterns(cases, show=True, save_to=None):
    """{label: (kernel, stride, upsample)} -> each layer's overlap pattern side by side."""
    fig, axes = plt.subplots(1, len(cases), figsize=(3.2 * len(cases), 3.4), squeeze=False)
    for ax, (label, (kernel, stride, upsample)) in zip(axes[0], cases.items()):
        pattern = overlap_pattern(kernel, stride, upsample)
        ax.imshow(pattern / pattern.max(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        spread = float(pattern.max() - pattern.min()) / float(pattern.max())
        ax.set_title(f"{label}\nunevenness {spread:.0%}", fontsize=9)
        ax.axis("off")
    fig.suptitle("Writes per output pixel for a constant input (all-one weights)")
    return finish(fig, save_to, show)


def show_augmentations(images, kinds=None, show=True, save_to=None):
    """The same real images as D sees them under each augmentation: one row per kind. The
    rows D is shown as "real" are what G learns to imitate."""
    views = preview(images) if kinds is None else preview(images, kinds)
    fig, axes = plt.subplots(len(views), 1, figsize=(len(images) * 0.9, 1.1 * len(views)), squeeze=False)
    for ax, (kind, batch) in zip(axes[:, 0], views.items()):
        arr = to_grid(batch, nrow=len(batch))
        ax.imshow(arr[..., 0] if arr.shape[2] == 1 else arr, cmap="gray")
        ax.set_ylabel(kind, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
    return finish(fig, save_to, show)


def plot_image_strip(images, labels=None, title=None, show=True, save_to=None):
    """Images (N, C, H, W) in [-1, 1] in one row, one axis each, with an optional label under
    each (an interpolation's t, say)."""
    images = images.detach().float().cpu()
    fig, axes = plt.subplots(1, len(images), figsize=(1.3 * len(images), 1.7), squeeze=False)
    for i, (ax, image) in enumerate(zip(axes[0], images)):
        _show_one(ax, image)
        if labels is not None:
            ax.set_xlabel(labels[i], fontsize="small")
    if title:
        fig.suptitle(title)
    return finish(fig, save_to, show)


def plot_nearest_neighbours(samples, neighbours, n=8, show=True, save_to=None):
    """Top row: generated samples; below each, its nearest training image and their
    distance (`neighbours` from metrics.nearest_neighbours). Distances near 0 are copies."""
    samples = samples.detach().float().cpu()[:n]
    n = len(samples)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.4), squeeze=False)
    for j in range(n):
        for row, image in enumerate((samples[j], neighbours.images[j, 0])):
            _show_one(axes[row, j], image)
        axes[1, j].set_xlabel(f"L2 {float(neighbours.distance[j, 0]):.1f}", fontsize="small")
    axes[0, 0].set_ylabel("generated")
    axes[1, 0].set_ylabel("nearest\ntraining")
    fig.suptitle("Generated samples and their nearest training images (pixel L2 in [-1, 1])")
    return finish(fig, save_to, show)


def _show_one(ax, image):
    """One (C, H, W) image in [-1, 1] on an axis, without ticks (the label stays free)."""
    arr = to_grid(image[None], nrow=1)
    ax.imshow(arr[..., 0] if arr.shape[2] == 1 else arr, cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([]), ax.set_yticks([])
