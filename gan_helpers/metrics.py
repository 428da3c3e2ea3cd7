"""Offline quality metrics: is the generator covering the data, and how well?

2D toy sets (ring8, grid25), after VEEGAN / PacGAN: a sample is *high quality* when it lies
within 3 standard deviations of its nearest mode; a mode is *captured* when it is the nearest
mode of at least one high-quality sample; `mode_kl` is KL(captured-mode histogram || uniform).

MNIST: a small CNN classifier (`MnistClassifier`, trained by data_scripts/train_classifier.py,
weights shipped in gan_helpers/weights/) labels generated digits: `class_coverage` (classes
that get at least 1 % of the samples), `class_kl` (KL of the predicted-class histogram from
uniform), and `fid` / `kid` on its 128-d penultimate features against the MNIST test set.
FID here is *classifier-FID*: it is not comparable with Inception-FID numbers from papers,
and FID is biased upward at small N, so only compare values computed at the same N
(FID_SAMPLES = 2000 by default; quick mode uses 500).

`CollapseDetector` is a training callback that samples every K epochs, records these
numbers in the history (so in training_metrics.json and W&B) and prints a warning when the
generator has collapsed.

Any image set: `nearest_neighbours` finds each generated sample's closest training images
(pixel L2), so memorising (samples that are copies) can be seen.
"""
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import mnist, normalise
from .env import quick_mode
from .losses import interpolate_grad_norms
from .models import generate
from .toy import mode_centers, mode_std

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FID_SAMPLES = 2000          # generated and test images per FID/KID; compare only at equal N
QUICK_FID_SAMPLES = 500
MIN_CLASS_FRACTION = 0.01   # a class is "covered" when >= 1 % of the samples are predicted as it
# every quality number a run may record, under its history name
METRIC_NAMES = ("class_coverage", "class_kl", "fid", "kid", "modes_captured", "high_quality_fraction")


# ---- 2D toy mixtures -----------------------------------------------------------------------
def _points(samples):
    return torch.as_tensor(samples).detach().float().cpu().reshape(-1, 2)


def nearest_modes(samples, dataset="ring8"):
    """(index of the nearest mode, is-high-quality) for every 2D sample."""
    centers = mode_centers(dataset)
    dist = torch.cdist(_points(samples), centers)
    d_min, idx = dist.min(1)
    return idx, d_min <= 3 * mode_std(dataset)


def mode_histogram(samples, dataset="ring8"):
    """How many high-quality samples sit at each mode (a LongTensor, one count per mode)."""
    idx, hq = nearest_modes(samples, dataset)
    return torch.bincount(idx[hq], minlength=len(mode_centers(dataset)))


def modes_captured(samples, dataset="ring8"):
    """Modes that are the nearest mode of at least one high-quality sample (0..8 or 0..25)."""
    return int((mode_histogram(samples, dataset) > 0).sum())


def high_quality_fraction(samples, dataset="ring8"):
    """Fraction of samples within 3 std of their nearest mode."""
    _, hq = nearest_modes(samples, dataset)
    return float(hq.float().mean()) if len(hq) else 0.0


def modes_reached(samples, dataset="ring8", min_fraction=MIN_CLASS_FRACTION):
    """Where *all* samples are, whatever their quality: modes that are the nearest mode of at
    least `min_fraction` of the samples (the 1 % rule of class_coverage). A generator whose
    samples spread over the right regions but sit between or around the modes (not converged)
    reaches many modes and captures few; a collapsed one reaches few."""
    idx, _ = nearest_modes(samples, dataset)
    if not len(idx):
        return 0
    counts = torch.bincount(idx, minlength=len(mode_centers(dataset)))
    return int((counts >= max(min_fraction * len(idx), 1)).sum())


def dominant_mode(samples, dataset="ring8"):
    """The mode nearest to the most samples (whatever their quality): where the bulk of the
    generator's mass is. A collapsed generator that hops moves it from snapshot to snapshot."""
    idx, _ = nearest_modes(samples, dataset)
    return int(torch.bincount(idx, minlength=len(mode_centers(dataset))).argmax())


def mode_kl(samples, dataset="ring8"):
    """KL(histogram of high-quality samples over modes || uniform): 0 = every mode equally
    often, log(#modes) = everything at one mode (also returned when no sample is high quality)."""
    return _kl_from_uniform(mode_histogram(samples, dataset))


def _kl_from_uniform(counts):
    counts = torch.as_tensor(counts).double()
    k, total = len(counts), float(counts.sum())
    if total == 0:
        return math.log(k)
    p = counts / total
    p = p[p > 0]
    return float((p * torch.log(p * k)).sum())


def point_metrics(samples, dataset="ring8"):
    """All five 2D metrics under their history names."""
    return {"modes_captured": modes_captured(samples, dataset),
            "modes_reached": modes_reached(samples, dataset),
            "high_quality_fraction": high_quality_fraction(samples, dataset),
            "mode_kl": mode_kl(samples, dataset),
            "dominant_mode": dominant_mode(samples, dataset)}


# ---- the MNIST classifier ------------------------------------------------------------------
class MnistClassifier(nn.Module):
    """A small CNN (about 240k weights, ~99.3 % on MNIST test) whose 128-d penultimate layer
    is the feature space for classifier-FID/KID. Input: (N, 1, 28, 28) in [-1, 1]."""

    feature_dim = 128

    def __init__(self, n_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 14x14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 7x7
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 3x3
            nn.Flatten(), nn.Linear(128 * 9, self.feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(self.feature_dim, n_classes))

    def forward(self, x):
        return self.head(self.features(x))


def classifier_path(dataset="mnist"):
    return WEIGHTS_DIR / f"{dataset}_classifier.pt"


_CLASSIFIERS = {}


def load_classifier(dataset="mnist", device="cpu"):
    """The shipped classifier for `dataset`, in eval mode (loaded once per process)."""
    path = classifier_path(dataset)
    if not path.is_file():
        raise FileNotFoundError(
            f"no classifier weights for dataset={dataset!r} at {path}. Train them with "
            f"`python data_scripts/train_classifier.py --dataset {dataset}` (needs the data set "
            f"under GAN_DATA_DIR); the package ships MNIST's.")
    key = (dataset, str(device))
    if key not in _CLASSIFIERS:
        model = MnistClassifier()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        _CLASSIFIERS[key] = model.to(device).eval()
    return _CLASSIFIERS[key]


def _as_classifier_input(images):
    """Generated or real images -> (N, 1, 28, 28) float in [-1, 1]."""
    x = normalise(torch.as_tensor(images)).float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    if x.shape[-1] != 28:
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x


@torch.no_grad()
def classify(images, dataset="mnist", batch_size=500):
    """(predicted classes, 128-d features) for images in [-1, 1] (or uint8)."""
    device = images.device if torch.is_tensor(images) else "cpu"
    model = load_classifier(dataset, device)
    preds, feats = [], []
    x_all = _as_classifier_input(images)
    for i in range(0, len(x_all), batch_size):
        f = model.features(x_all[i:i + batch_size].to(device))
        feats.append(f.float().cpu())
        preds.append(model.head(f).argmax(1).cpu())
    return torch.cat(preds), torch.cat(feats)


def class_histogram(images, dataset="mnist", n_classes=10):
    preds, _ = classify(images, dataset)
    return torch.bincount(preds, minlength=n_classes)


def class_coverage(images, dataset="mnist", min_fraction=MIN_CLASS_FRACTION):
    """How many of the 10 classes get at least `min_fraction` of the samples."""
    return covered_classes(class_histogram(images, dataset), min_fraction)


def covered_classes(counts, min_fraction=MIN_CLASS_FRACTION):
    """Classes with at least `min_fraction` of the samples (and at least one), from the counts."""
    return int((counts >= max(1, min_fraction * counts.sum())).sum())


def class_kl(images, dataset="mnist"):
    """KL(predicted-class histogram || uniform): 0 = balanced, log 10 = 2.30 = one class."""
    return _kl_from_uniform(class_histogram(images, dataset))


# ---- FID / KID on classifier features ------------------------------------------------------
_TEST_FEATURES = {}


def test_images(dataset="mnist"):
    """The real test split as uint8 (N, 1, 28, 28): the reference set for FID/KID."""
    return mnist(dataset, train=False, download=False)


def test_features(dataset="mnist", n=FID_SAMPLES):
    """Features of a fixed subset (the first n after a seeded shuffle) of the test set."""
    if (dataset, n) not in _TEST_FEATURES:
        images, _ = test_images(dataset)
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n]
        _TEST_FEATURES[(dataset, n)] = classify(images[idx], dataset)[1]
    return _TEST_FEATURES[(dataset, n)]


def _features(x, dataset):
    x = torch.as_tensor(x)
    if x.dim() == 2 and x.shape[1] == MnistClassifier.feature_dim:
        return x.double()  # already features
    return classify(x, dataset)[1].double()


def fid(images, reference=None, dataset="mnist"):
    """Frechet distance between classifier features of `images` and the reference (default:
    as many test images as there are samples). Biased upward at small N: compare at equal N."""
    a = _features(images, dataset)
    b = _features(reference, dataset) if reference is not None else test_features(dataset, len(a)).double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    # trace sqrt(ca cb) from the eigenvalues of sqrt(ca) cb sqrt(ca) (symmetric, stable)
    va, ua = torch.linalg.eigh(ca)
    sa = (ua * va.clamp(min=0).sqrt()) @ ua.T
    eig = torch.linalg.eigvalsh(sa @ cb @ sa).clamp(min=0)
    value = (mu_a - mu_b).pow(2).sum() + ca.trace() + cb.trace() - 2 * eig.sqrt().sum()
    return float(value.clamp(min=0))


def kid(images, reference=None, dataset="mnist", subsets=10, subset_size=None, seed=0):
    """Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel k(x,y) = (x.y/d+1)^3)
    on classifier features scaled by the reference's RMS, averaged over random subsets of up to
    1000; ~0 (it can dip below 0) for the same distribution, unbiased in N."""
    a = _features(images, dataset)
    b = _features(reference, dataset) if reference is not None else test_features(dataset, len(a)).double()
    scale = b.pow(2).mean().sqrt()  # ReLU features are O(10): rescale so the kernel is O(1)
    a, b = a / scale, b / scale
    m = min(subset_size or 1000, len(a), len(b))
    d = a.shape[1]
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=g)[:m]]
        y = b[torch.randperm(len(b), generator=g)[:m]]
        kxx, kyy, kxy = [(p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y))]
        mmd = ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
               + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean())
        values.append(float(mmd))
    return float(np.mean(values))


def image_metrics(images, dataset="mnist", with_fid=True):
    """class_coverage, class_kl (and fid, kid) of a batch of generated images."""
    preds, feats = classify(images, dataset)
    counts = torch.bincount(preds, minlength=10)
    out = {"class_coverage": covered_classes(counts),
           "class_kl": _kl_from_uniform(counts)}
    if with_fid:
        out["fid"] = fid(feats, dataset=dataset)
        out["kid"] = kid(feats, dataset=dataset)
    return out


def fid_samples():
    return QUICK_FID_SAMPLES if quick_mode() else FID_SAMPLES


def critic_grad_norms(g, critic, data, n=1000, seed=0):
    """||grad D(x_hat)|| per sample on n interpolates between real items of `data` and fresh
    samples of the generator `g`, from the trained critic: the penalty asks for 1."""
    device = next(critic.parameters()).device
    real = data.sample(n, seed=seed).to(device)
    n = len(real)  # a data set smaller than n (quick mode) gives all its items
    fake = generate(g, n, seed=seed + 1).to(device)
    return interpolate_grad_norms(critic, real, fake, seed=seed).cpu()


class Neighbours(NamedTuple):
    """For each sample (N of them), its k nearest training images, nearest first."""
    distance: torch.Tensor  # (N, k) L2 distances in [-1, 1] pixel space
    index: torch.Tensor     # (N, k) positions in the data set
    images: torch.Tensor    # (N, k, C, H, W) those training images, in [-1, 1]


@torch.no_grad()
def nearest_neighbours(samples, data, k=1, chunk=2048):
    """Each sample's k nearest training images by plain L2 distance between pixel values in
    [-1, 1] (no classifier, so it works on any data set; it finds pixel copies, not the same
    face in another pose). A sample that is a training image finds it at distance exactly 0.
    The data is compared chunk by chunk, so only `chunk` images are float at a time."""
    images = getattr(data, "images", data)
    x = samples.detach().float().cpu().flatten(1)
    best_d, best_i = torch.zeros(len(x), 0), torch.zeros(len(x), 0, dtype=torch.long)
    for start in range(0, len(images), chunk):
        block = normalise(images[start:start + chunk].cpu()).flatten(1)
        # the direct difference, not the |a|^2 - 2ab + |b|^2 shortcut, whose rounding
        # would put an exact copy at a distance of about 0.01 instead of 0
        d = torch.cdist(x, block, compute_mode="donot_use_mm_for_euclid_dist")
        best_d = torch.cat([best_d, d], 1)
        best_i = torch.cat([best_i, torch.arange(start, start + len(block)).expand(len(x), -1)], 1)
        best_d, order = best_d.topk(min(k, best_d.shape[1]), dim=1, largest=False)
        best_i = best_i.gather(1, order)
    found = normalise(images[best_i.flatten().to(images.device)].cpu())
    return Neighbours(best_d, best_i, found.view(*best_i.shape, *found.shape[1:]))


# ---- your own images: numbers that need no downloaded weights ------------------------------
# No classifier knows your folder, so these compare the samples with the training images
# themselves. Each is read against the same number of the training set:
#   ms_ssim (diversity, as AC-GAN measured collapse): mean MS-SSIM of random pairs of samples;
#       a collapsed G makes look-alikes (near 1), a varied one sits near the training pairs'
#       `ms_ssim_train`. The target is within 0.1 of it.
#   checkerboard: the share of spectral power at the frequencies stride-2 upsampling repeats
#       at (periods of 2 and 4 pixels), over the training images' share: ~1 is clean, a grid
#       pattern reads above (target <= 1.5).
#   memorisation: the median distance of a sample to its nearest training image, over the
#       median distance of a training image to its nearest other one: ~1 = as new as another
#       training image would be, near 0 = copies (target >= 0.9).
#   edge_alignment: how horizontal-or-vertical the edges are, beside the training images'
#       `edge_alignment_train`: the `rotate` augmentation's leak shows as a drop.
FOLDER_METRIC_NAMES = ("ms_ssim", "ms_ssim_train", "checkerboard", "memorisation",
                       "edge_alignment", "edge_alignment_train")
STACKED_METRIC_NAMES = ("stacked_modes", "stacked_kl", "stacked_readable")  # callbacks.StackedModeCounter
METRIC_NAMES = METRIC_NAMES + FOLDER_METRIC_NAMES + STACKED_METRIC_NAMES
CHECKERBOARD_PERIODS = (2, 4)  # the last two stride-2 layers of a 64x64 DCGAN's generator
# MS-SSIM over 3 scales with a 7-pixel window: the standard 5 scales with 11 pixels need images
# of 161+ pixels (AC-GAN's were 128x128 and it used fewer scales too); 3 fit 32x32 and up.
MS_SSIM_BETAS = (0.0710, 0.4530, 0.4760)  # the standard first three weights, rescaled to sum 1
MS_SSIM_KERNEL = 7


def _as_float(images):
    """uint8 (as stored) or [-1, 1] float images -> float32 [-1, 1] on the CPU."""
    x = torch.as_tensor(images).detach().cpu()
    return normalise(x) if x.dtype == torch.uint8 else x.float()


@torch.no_grad()
def mean_ms_ssim(images, pairs=200, seed=0):
    """Mean MS-SSIM of `pairs` random pairs of different images (torchmetrics' MS-SSIM):
    1 = every pair identical, lower = more varied."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim
    x = _as_float(images)
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, len(x), (pairs,), generator=g)
    b = (a + torch.randint(1, len(x), (pairs,), generator=g)) % len(x)  # never the same image
    value = ms_ssim(x[a], x[b], data_range=2.0, kernel_size=MS_SSIM_KERNEL, betas=MS_SSIM_BETAS,
                    normalize="relu")
    return float(value)


def upsampling_power(images, periods=CHECKERBOARD_PERIODS):
    """The share of the (mean-removed) power spectrum at the frequencies that repeat every
    `periods` pixels along either axis: where a stride-2 transposed convolution's uneven
    overlap leaves its grid (Odena et al. 2016; notebook 02 shows the spectrum)."""
    x = _as_float(images).mean(1)
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2).mean(0)
    n = power.shape[-1]
    step = n // max(periods)  # e.g. 64 // 4: the bins 0, 16, 32, 48 on each axis
    peaks = power[::step, ::step].sum() - power[0, 0]
    return float(peaks / (power.sum() - power[0, 0]))


def checkerboard_score(samples, train):
    """upsampling_power of the samples over the training images': 1 = as clean as the data."""
    return upsampling_power(samples) / upsampling_power(train)


def nearest_training_distance(train, n=500, seed=0):
    """Median L2 distance of up to n training images to their nearest *other* training image."""
    images = getattr(train, "images", train)
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return float(nearest_neighbours(normalise(images[idx].cpu()), images, k=2).distance[:, 1].median())


def memorisation_ratio(samples, train, train_distance=None):
    """Median nearest-training distance of the samples over the training images' own (the
    yardstick); `train_distance`: that yardstick, when already computed."""
    yardstick = train_distance or nearest_training_distance(train)
    return float(nearest_neighbours(_as_float(samples), train).distance[:, 0].median()) / yardstick


def training_reference(train, pairs=500):
    """The training set's side of folder_metrics, computed once per data set."""
    images = getattr(train, "images", train)
    return {"ms_ssim_train": mean_ms_ssim(images, pairs, seed=1),
            "train_distance": nearest_training_distance(images),
            "edge_alignment_train": edge_alignment(images)}


def folder_metrics(samples, train, reference=None):
    """FOLDER_METRIC_NAMES of samples against the training images (a Dataset or a uint8
    tensor); `reference`: training_reference(train), when kept."""
    reference = reference or training_reference(train)
    images = getattr(train, "images", train)
    return {"ms_ssim": mean_ms_ssim(samples),
            "ms_ssim_train": reference["ms_ssim_train"],
            "checkerboard": checkerboard_score(samples, images),
            "memorisation": memorisation_ratio(samples, images, reference["train_distance"]),
            "edge_alignment": edge_alignment(samples),
            "edge_alignment_train": reference["edge_alignment_train"]}


def edge_alignment(images):
    """How axis-aligned the edges are: the gradient-energy-weighted mean of cos(4 theta), theta
    each pixel's gradient angle. 1 = every edge horizontal or vertical, 0 = no preferred
    direction. Rotating by random angles within +-30 degrees scales it by about 0.41, so it
    shows the `rotate` augmentation leaking into the samples of upright images."""
    x = _as_float(images).mean(1, keepdim=True)
    sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    gx, gy = F.conv2d(x, sobel), F.conv2d(x, sobel.transpose(-1, -2))
    energy, theta = gx ** 2 + gy ** 2, torch.atan2(gy, gx)
    return float((energy * torch.cos(4 * theta)).sum() / energy.sum().clamp(min=1e-12))


# ---- Stacked MNIST: 1,000 modes -------------------------------------------------------------
STACKED_MODES = 1000


def stacked_labels(images):
    """Each image's mode 0..999: the digit the shipped MNIST classifier reads in each of its
    three channels, as 100 x red + 10 x green + blue (images (N, 3, 28, 28), in [-1, 1] or uint8)."""
    digits = [classify(images[:, c:c + 1])[0] for c in range(3)]
    return 100 * digits[0] + 10 * digits[1] + digits[2]


# A sample's channel is "readable" when it has as much ink as real digits (pixels brighter than
# mid-grey, at least the faintest 1 % of real test digits' share) and some real training digit is
# as close to it, in pixels, as to real test digits (the 99th percentile of that distance). The
# classifier's own confidence cannot tell: it reads uniform noise as a digit with over 90 %
# probability; distance alone would pass a blank image (it is close to a thin 1).
READABLE_QUANTILE = 0.99
_READABLE_REFERENCE = {}


def ink(images):
    """The share of each image's pixels brighter than mid-grey."""
    return (_as_float(images).flatten(1) > 0).float().mean(1)


def readable_reference(n_train=10_000, n_test=3_000):
    """(n_train real training digits, flattened in [-1, 1]; the largest distance to the nearest of
    them and the least ink that real test digits stay within, READABLE_QUANTILE of n_test)."""
    if (n_train, n_test) not in _READABLE_REFERENCE:
        train = normalise(mnist("mnist", train=True, download=False)[0][:n_train]).flatten(1)
        test = normalise(mnist("mnist", train=False, download=False)[0][:n_test])
        far = torch.quantile(nearest_digit_distance(test, train), READABLE_QUANTILE)
        faint = torch.quantile(ink(test), 1 - READABLE_QUANTILE)
        _READABLE_REFERENCE[(n_train, n_test)] = (train, float(far), float(faint))
    return _READABLE_REFERENCE[(n_train, n_test)]


def nearest_digit_distance(images, train, chunk=1000):
    """Each image's L2 distance (pixels in [-1, 1]) to its nearest image of `train`."""
    x = _as_float(images).flatten(1)
    return torch.cat([torch.cdist(x[i:i + chunk], train).amin(1) for i in range(0, len(x), chunk)])


def stacked_readable(samples, n=2_000):
    """The share of the first n samples a reader could name: each of the three channels a
    readable digit (readable_reference). Real stacked test digits: 0.95; noise and blank
    images: 0 (tests/test_metrics.py)."""
    train, far, faint = readable_reference()
    channels = [samples[:n, c:c + 1] for c in range(3)]
    ok = [(nearest_digit_distance(x, train) <= far) & (ink(x) >= faint) for x in channels]
    return float((ok[0] & ok[1] & ok[2]).float().mean())


def stacked_modes(samples):
    """(modes covered, KL of the mode histogram against uniform), as VEEGAN and PacGAN count
    them: a mode is covered when at least one sample lands on it; KL 0 = all 1,000 equally
    often, log 1000 = 6.91 = one mode."""
    counts = torch.bincount(stacked_labels(samples), minlength=STACKED_MODES)
    return int((counts > 0).sum()), _kl_from_uniform(counts)
