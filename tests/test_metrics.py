"""Offline quality metrics on constructed sample sets, the shipped MNIST classifier, FID/KID,
and the collapse detector on real collapsed and healthy generators."""
import json
import math

import pytest
import torch
from torch import nn

import gan_helpers as gh
from gan_helpers import metrics, toy
from gan_helpers.metrics import CollapseDetector


# ---- 2D toy sets ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, k", [("ring8", 8), ("grid25", 25)])
def test_real_points_capture_every_mode(name, k):
    data = toy.make_points(name, 5000, seed=3)
    assert data.images.shape == (5000, 2) and data.images.dtype == torch.float32
    assert data.labels.unique().tolist() == list(range(k))
    assert metrics.modes_captured(data.images, name) == k
    assert metrics.high_quality_fraction(data.images, name) > 0.99  # 3 std holds 98.9 % in 2D
    assert metrics.mode_kl(data.images, name) < 0.01


def test_toy_geometry_is_the_documented_one():
    ring = toy.mode_centers("ring8")
    assert torch.allclose(ring.norm(dim=1), torch.full((8,), toy.RING_RADIUS))
    grid = toy.mode_centers("grid25")
    assert sorted(grid[:, 0].unique().tolist()) == [-4, -2, 0, 2, 4]
    assert toy.mode_std("grid25") == 0.05
    assert torch.equal(toy.make_points("ring8", 10, 1).images, toy.make_points("ring8", 10, 1).images)
    with pytest.raises(ValueError, match="ring8"):
        toy.make_points("ring9", 10, 0)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_samples_at_one_mode_count_as_one(name):
    one = toy.mode_centers(name)[3] + toy.mode_std(name) * torch.randn(1000, 2)
    assert metrics.modes_captured(one, name) == 1
    assert metrics.high_quality_fraction(one, name) > 0.95
    k = len(toy.mode_centers(name))
    assert metrics.mode_kl(one, name) == pytest.approx(math.log(k))


def test_off_mode_noise_is_low_quality_and_captures_nothing():
    # points half way between neighbouring ring modes, and uniform noise over the plane
    centers = toy.mode_centers("ring8")
    between = (centers + centers.roll(1, 0)) / 2 + 0.01 * torch.randn(8, 2)
    assert metrics.modes_captured(between, "ring8") == 0
    assert metrics.high_quality_fraction(between, "ring8") == 0.0
    noise = torch.rand(4000, 2) * 6 - 3
    hq = metrics.high_quality_fraction(noise, "ring8")
    assert hq < 0.02  # 8 discs of radius 0.06 cover 0.25 % of the square
    assert metrics.point_metrics(noise, "ring8")["mode_kl"] < math.log(8)


def test_half_the_modes_give_kl_log_2():
    centers = toy.mode_centers("ring8")[:4]
    pts = centers.repeat(50, 1) + 0.01 * torch.randn(200, 2)
    assert metrics.modes_captured(pts, "ring8") == 4
    assert metrics.mode_kl(pts, "ring8") == pytest.approx(math.log(2), abs=1e-6)


# ---- MNIST classifier, FID, KID ------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_test():
    return metrics.test_images("mnist")


def test_shipped_classifier_loads_and_classifies_real_mnist(mnist_ready, mnist_test):
    images, labels = mnist_test
    preds, feats = metrics.classify(images[:3000])
    accuracy = (preds == labels[:3000]).float().mean().item()
    assert accuracy >= 0.98, accuracy
    assert feats.shape == (3000, metrics.MnistClassifier.feature_dim)
    assert metrics.class_coverage(images[:2000]) == 10
    assert metrics.class_kl(images[:2000]) < 0.02


def test_classifier_weights_are_plain_tensors():
    state = torch.load(metrics.classifier_path("mnist"), weights_only=True)
    assert all(torch.is_tensor(v) for v in state.values())
    assert metrics.classifier_path("mnist").stat().st_size < 2_000_000


def test_missing_classifier_weights_say_how_to_make_them():
    with pytest.raises(FileNotFoundError, match="train_classifier.py --dataset fashion_mnist"):
        metrics.load_classifier("fashion_mnist")


def test_fid_and_kid_separate_real_from_noise(mnist_ready, mnist_test):
    images, _ = mnist_test
    a, b = images[:1000], images[1000:2000]
    same = metrics.fid(a, b)
    noise = torch.rand(1000, 1, 28, 28) * 2 - 1
    assert same < 10 and metrics.fid(noise, b) > 20 * max(same, 1)
    assert abs(metrics.kid(a, b)) < 0.05 and metrics.kid(noise, b) > 1
    # default reference: as many test images as samples. FID is biased upward at small N,
    # which is why values are only compared at equal N
    small, large = metrics.fid(images[5000:5500]), metrics.fid(images[5000:7000])
    assert large < 10 and small > large


# ---- the collapse detector -----------------------------------------------------------------
class FromBank(nn.Module):
    """A 'generator' that returns stored items: real images (healthy) or one image (collapsed)."""

    def __init__(self, bank, noise_dim=100):
        super().__init__()
        self.register_buffer("bank", bank)
        self.anchor = nn.Parameter(torch.zeros(1))  # so it has a device like a model
        self.noise_dim = noise_dim

    def forward(self, z):
        idx = (z[:, 0].abs() * 1e4).long() % len(self.bank)
        return self.bank[idx]


def test_detector_flags_a_constant_generator_and_passes_real_digits(mnist_ready, mnist_test):
    images, _ = mnist_test
    real = images[:3000].float() / 127.5 - 1
    detector = CollapseDetector(every=1, n=1000)
    healthy, _ = detector.measure(FromBank(real), "mnist")
    assert healthy["collapse"] == 0 and healthy["class_coverage"] == 10
    collapsed, reason = detector.measure(FromBank(real[:1]), "mnist")
    assert collapsed["collapse"] == 1 and collapsed["class_coverage"] == 1
    assert collapsed["class_kl"] == pytest.approx(math.log(10)) and "1/10" in reason
    two_digits = real[:2]  # a generator making just two digits is also collapsed
    assert detector.measure(FromBank(two_digits), "mnist")[0]["collapse"] == 1


def test_detector_on_2d_generators():
    centers = toy.mode_centers("ring8")
    detector = CollapseDetector(n=2000)
    all_modes = toy.make_points("ring8", 4000, seed=0).images
    ok, _ = detector.measure(FromBank(all_modes, noise_dim=2), "ring8")
    assert ok == {"modes_captured": 8, "high_quality_fraction": pytest.approx(1, abs=0.02),
                  "mode_kl": pytest.approx(0, abs=0.01), "collapse": 0}
    three = centers[:3].repeat(100, 1)
    bad, reason = detector.measure(FromBank(three, noise_dim=2), "ring8")
    assert bad["collapse"] == 1 and bad["modes_captured"] == 3 and "3/8" in reason


def test_detector_in_training_writes_metrics_and_warns(tmp_path, capsys):
    cfg = gh.RunConfig(dataset="ring8", loss="bce", epochs=2, max_images=512, batch_size=64,
                       noise_dim=2, device="cpu", wandb_mode="disabled")
    run = gh.start_run(cfg, "det", str(tmp_path), "r")
    detector = CollapseDetector(every=2)
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=[detector], progress=False)
    saved = json.loads((run.path / "training_metrics.json").read_text())
    for key in ("modes_captured", "high_quality_fraction", "mode_kl", "collapse"):
        assert saved[key][0] is None and saved[key][1] is not None, key  # every=2: epoch 2 only
    # two epochs on 512 points is far from covering the ring: the detector must say so
    assert saved["modes_captured"][1] < 6 and saved["collapse"][1] == 1
    assert "MODE COLLAPSE?" in capsys.readouterr().out and detector.warnings[0][0] == 2


def test_detector_rejects_bad_settings():
    with pytest.raises(ValueError, match="every=0"):
        CollapseDetector(every=0)
    with pytest.raises(ValueError, match="min_coverage"):
        CollapseDetector(min_coverage=2)


def test_quality_callback_writes_image_metrics_to_the_run(mnist_ready, small_cfg, tmp_path):
    cfg = small_cfg.replace(wandb_mode="disabled")
    run = gh.start_run(cfg, "quality", str(tmp_path), "r")
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=[metrics.quality_callback(every=1)],
             progress=False)
    saved = json.loads((run.path / "training_metrics.json").read_text())
    assert 1 <= saved["class_coverage"][0] <= 10
    assert 0 <= saved["class_kl"][0] <= math.log(10) + 1e-9
    assert saved["fid"][0] > 0 and math.isfinite(saved["kid"][0])
    assert saved["collapse"][0] in (0, 1)
