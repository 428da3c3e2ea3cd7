"""The collapse detector and the quality callbacks, on real collapsed and healthy generators."""
import json
import math

import pytest
import torch
from torch import nn

import gan_helpers as gh
from gan_helpers import callbacks, metrics, toy
from gan_helpers.callbacks import CollapseDetector


# ---- MNIST classifier, FID, KID ------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_test():
    return metrics.test_images("mnist")


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
    all_modes, _ = toy.make_points("ring8", 4000, seed=0)
    ok, _ = detector.measure(FromBank(all_modes, noise_dim=2), "ring8")
    assert ok == {"modes_captured": 8, "modes_reached": 8,
                  "high_quality_fraction": pytest.approx(1, abs=0.02), "dominant_mode": ok["dominant_mode"],
                  "mode_kl": pytest.approx(0, abs=0.01), "collapse": 0, "not_converged": 0}
    three = centers[:3].repeat(100, 1)
    bad, reason = detector.measure(FromBank(three, noise_dim=2), "ring8")
    assert bad["collapse"] == 1 and bad["not_converged"] == 0
    assert bad["modes_captured"] == 3 and "3/8 modes captured" in reason
    # a cloud around the ring but on no mode: not converged, which is not collapse
    around = (centers * 1.3).repeat(100, 1)
    lost, reason = detector.measure(FromBank(around, noise_dim=2), "ring8")
    assert lost["not_converged"] == 1 and lost["collapse"] == 0
    assert lost["modes_reached"] == 8 and "0% of samples high quality" in reason


def test_detector_names_the_outcome_in_its_warning(capsys):
    from types import SimpleNamespace
    centers = toy.mode_centers("ring8")
    cfg = SimpleNamespace(epochs=1, dataset="ring8", noise_dim=2)
    for points, word in ((centers[:2].repeat(100, 1), "MODE COLLAPSE?"),
                         ((centers * 1.3).repeat(100, 1), "NOT CONVERGED?")):
        detector = CollapseDetector(n=800)
        detector(SimpleNamespace(epoch=1, cfg=cfg, generator=FromBank(points, noise_dim=2)))
        assert detector.warnings[0][1].startswith(word) and word in capsys.readouterr().out


def clump_at(mode, spread=0.3, n=400):
    """A blurry clump of samples around one ring8 mode: no sample within 3 std of it."""
    centers = toy.mode_centers("ring8")
    ring = torch.linspace(-spread, spread, n)[:, None] * torch.tensor([[1.0, -1.0]])
    return centers[mode] + ring + 0.1


def detector_over(clumps):
    """A detector fed one snapshot per clump of points, epoch 1, 2, ...; its outputs."""
    from types import SimpleNamespace
    detector = CollapseDetector(n=400, verbose=False)
    cfg = SimpleNamespace(epochs=len(clumps), dataset="ring8", noise_dim=2)
    outs = [detector(SimpleNamespace(epoch=i + 1, cfg=cfg, generator=FromBank(p, noise_dim=2)))
            for i, p in enumerate(clumps)]
    return detector, outs


def test_detector_names_a_clump_that_moves_hopping_not_non_convergence():
    detector, outs = detector_over([clump_at(0), clump_at(3), clump_at(6)])
    assert [o["dominant_mode"] for o in outs] == [0, 3, 6]
    assert [o["modes_reached"] <= 2 for o in outs] == [True] * 3
    assert [o["hopping"] for o in outs] == [0, 1, 1]  # the first check has nothing to compare
    assert all(o["not_converged"] for o in outs)  # blurry: that alone would read "not converged"
    assert [e for e, _ in detector.warnings] == [1, 2, 3]
    assert detector.warnings[1][1].startswith("MODE COLLAPSE (hopping) epoch 2")
    assert "from mode 0 to mode 3" in detector.warnings[1][1]


def test_a_clump_that_stays_put_or_a_spread_that_moves_is_not_hopping():
    _, outs = detector_over([clump_at(2), clump_at(2), clump_at(2)])
    assert [o["hopping"] for o in outs] == [0, 0, 0]
    spread, _ = toy.make_points("ring8", 400, seed=0)
    _, outs = detector_over([clump_at(2), spread, clump_at(5)])  # a spread in between: no hop
    assert [o["hopping"] for o in outs] == [0, 0, 0]


def test_run_outcome_names_hopping_from_the_history_and_otherwise_the_last_snapshot():
    hopping = {"modes_reached": [8, 1, 2, 1, 1, 2, 1, 1, 2, 1], "dominant_mode": [0, 1, 1, 4, 4, 6, 6, 2, 2, 2]}
    final = {"high_quality_fraction": 0.0, "modes_captured": 0}
    assert callbacks.hops(hopping) == (9, 9, 3)
    assert callbacks.run_outcome(hopping, final, 8) == "MODE COLLAPSE (hopping)"
    stuck = dict(hopping, dominant_mode=[3] * 10)  # one place all along: no hop
    assert callbacks.run_outcome(stuck, final, 8) == "not converged"
    healthy = {"modes_reached": [2, 2, 8, 8, 8, 8, 8, 8, 8, 8], "dominant_mode": [0, 5, 1, 2, 3, 4, 5, 6, 7, 0]}
    assert callbacks.run_outcome(healthy, {"high_quality_fraction": 0.9, "modes_captured": 8}, 8) == "ok"


def test_detector_in_training_writes_metrics_and_warns(tmp_path, capsys):
    cfg = gh.RunConfig(dataset="ring8", loss="bce", epochs=2, max_images=512, batch_size=64,
                       noise_dim=2, device="cpu", wandb_mode="disabled")
    run = gh.start_run(cfg, "det", str(tmp_path), "r")
    detector = CollapseDetector(every=2)
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=[detector], progress=False)
    saved = json.loads((run.path / "training_metrics.json").read_text())
    for key in ("modes_captured", "modes_reached", "high_quality_fraction", "mode_kl",
                "collapse", "not_converged"):
        assert saved[key][0] is None and saved[key][1] is not None, key  # every=2: epoch 2 only
    # two epochs on 512 points is far from covering the ring: the detector must say so, and
    # name which failure it is
    assert saved["modes_captured"][1] < 6 and saved["collapse"][1] + saved["not_converged"][1] == 1
    word = "NOT CONVERGED?" if saved["not_converged"][1] else "MODE COLLAPSE?"
    assert word in capsys.readouterr().out and detector.warnings[0][0] == 2


def test_detector_rejects_bad_settings():
    with pytest.raises(ValueError, match="every=0"):
        CollapseDetector(every=0)
    with pytest.raises(ValueError, match="min_coverage"):
        CollapseDetector(min_coverage=2)


def test_quality_callback_writes_image_metrics_to_the_run(mnist_ready, small_cfg, tmp_path):
    cfg = small_cfg.replace(wandb_mode="disabled")
    run = gh.start_run(cfg, "quality", str(tmp_path), "r")
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=[callbacks.image_quality_detector(every=1)],
             progress=False)
    saved = json.loads((run.path / "training_metrics.json").read_text())
    assert 1 <= saved["class_coverage"][0] <= 10
    assert 0 <= saved["class_kl"][0] <= math.log(10) + 1e-9
    assert saved["fid"][0] > 0 and math.isfinite(saved["kid"][0])
    assert saved["collapse"][0] in (0, 1)


def test_folder_metrics_callback_writes_the_own_image_numbers(tmp_path):
    """dataset='folder': quality_callbacks gives FolderMetrics, whose numbers reach
    training_metrics.json at each measured epoch (2 epochs of the demo shapes, 64x64)."""
    from gan_helpers.image_folder import write_demo_folder
    folder = write_demo_folder(tmp_path / "shapes", n=64, seed=2)
    cfg = gh.RunConfig(dataset="folder", data_path=str(folder), image_size=64, channels=3,
                       preset="dcgan64", g_channels=[64, 32, 16, 8], d_channels=[8, 16, 32, 64],
                       batch_size=32, epochs=2, precision="fp32", device="cpu",
                       wandb_mode="disabled").validate()
    (quality,) = callbacks.quality_callbacks(cfg, every=1)
    assert isinstance(quality, callbacks.FolderMetrics)
    quality.n = 64
    run = gh.start_run(cfg, "folder", str(tmp_path), "r")
    gh.train(cfg, gh.load_dataset(cfg), run, callbacks=[quality], progress=False)
    saved = json.loads((run.path / "training_metrics.json").read_text())
    for name in metrics.FOLDER_METRIC_NAMES:
        assert len(saved[name]) == 2 and all(math.isfinite(v) for v in saved[name]), name
    assert saved["ms_ssim_train"][0] == saved["ms_ssim_train"][1]  # computed once
    assert 0 <= saved["ms_ssim"][1] <= 1 and saved["memorisation"][1] > 0


# ---- Stacked MNIST: the mode counter a lesson's runs record ----------------------------------
def test_stacked_runs_get_a_mode_counter_that_reads_real_and_collapsed_generators(mnist_ready):
    """quality_callbacks gives a Stacked-MNIST run the counter; at the last epoch it records the
    modes (of 1,000) and KL: a generator replaying 3,000 real stacked digits covers most modes,
    one replaying a single image covers one (KL log 1000). Measured with banks drawn from seeds
    0, 1, 2: 921, 898, 919 modes, KL 0.27-0.29."""
    from types import SimpleNamespace
    from gan_helpers.data import stacked_mnist
    cfg = gh.RunConfig(dataset="stacked_mnist", channels=3, epochs=2).validate()
    (counter,) = callbacks.quality_callbacks(cfg, every=5)
    assert isinstance(counter, callbacks.StackedModeCounter)
    real = stacked_mnist(3000, seed=0, train=False)[0].float() / 127.5 - 1
    counter.n = 5000
    assert counter(SimpleNamespace(epoch=1, cfg=cfg, generator=FromBank(real))) is None  # not yet
    healthy = counter(SimpleNamespace(epoch=2, cfg=cfg, generator=FromBank(real)))
    assert healthy["stacked_modes"] > 850 and healthy["stacked_kl"] < 0.4, healthy
    one = counter(SimpleNamespace(epoch=2, cfg=cfg, generator=FromBank(real[:1])))
    assert one["stacked_modes"] == 1 and one["stacked_kl"] == pytest.approx(math.log(1000), abs=1e-6)
