"""The trainer on small synthetic data: fitting, budgets, determinism, resume."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from finite_expressivity.data import ImageDataset, make_variant  # noqa: E402
from finite_expressivity.randomization.models import model_config  # noqa: E402
from finite_expressivity.randomization.training import TrainConfig, paper_train_config, train  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def synthetic(n=96, n_test=40, size=8, channels=1, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return ImageDataset(
        name="synthetic",
        n_classes=classes,
        train_images=rng.integers(1, 256, (n, channels, size, size), dtype=np.uint8),
        train_labels=rng.integers(0, classes, n).astype(np.int64),
        test_images=rng.integers(1, 256, (n_test, channels, size, size), dtype=np.uint8),
        test_labels=rng.integers(0, classes, n_test).astype(np.int64),
        sha256="synthetic",
    )


@pytest.fixture(scope="module")
def data():
    return make_variant(synthetic(), "random-labels", seed=3)


def mlp(hidden=(64,)):
    return model_config("mlp1x512", in_channels=1, image_size=8, n_classes=4, hidden=hidden)


FAST = dict(lr=0.05, batch_size=32, crop=8, log_every=2, max_steps=600, deterministic=True)


def test_fits_random_labels_and_reports_steps(data):
    res = train(mlp(), data, TrainConfig(**FAST), init_seed=1)
    assert res.stopped == "fit" and res.final_train_accuracy == 1.0
    assert res.steps_to_fit == res.steps and res.steps % 3 == 0  # 3 steps per epoch
    assert res.epochs == len(res.epoch_log) and res.epoch_log[-1]["train_accuracy"] == 1.0
    assert 0.0 <= res.test_accuracy <= 1.0 and res.params == 64 * 64 + 64 + 64 * 4 + 4
    assert [h["step"] for h in res.history] == list(range(2, res.steps + 1, 2))


def test_step_budget(data):
    res = train(mlp(hidden=(4,)), data, TrainConfig(**{**FAST, "max_steps": 7}), init_seed=1)
    assert res.steps == 7 and res.stopped == "max_steps" and res.steps_to_fit is None


def test_learning_rate_schedule(data):
    res = train(mlp(), data, TrainConfig(**{**FAST, "max_steps": 9, "log_every": 1}), init_seed=0)
    assert [h["lr"] for h in res.history] == pytest.approx(
        [0.05 * 0.95 ** ((s - 1) // 3) for s in range(1, 10)]
    )
    res = train(
        mlp(),
        data,
        TrainConfig(**{**FAST, "max_steps": 6, "log_every": 1, "decay_every": 2, "lr_decay": 0.5}),
        init_seed=0,
    )
    assert [h["lr"] for h in res.history] == pytest.approx(
        [0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125]
    )


def test_same_seeds_same_numbers_and_no_global_state(data):
    state = torch.get_rng_state()
    det = torch.are_deterministic_algorithms_enabled()
    a = train(mlp(), data, TrainConfig(**{**FAST, "max_steps": 30}), init_seed=5)
    b = train(mlp(), data, TrainConfig(**{**FAST, "max_steps": 30}), init_seed=5)
    c = train(mlp(), data, TrainConfig(**{**FAST, "max_steps": 30, "seed": 1}), init_seed=5)
    assert torch.equal(state, torch.get_rng_state())
    assert torch.are_deterministic_algorithms_enabled() == det
    assert a.history == b.history and a.test_accuracy == b.test_accuracy
    assert a.history != c.history  # another batch order


def test_resume_after_interruption_gives_identical_numbers(data, tmp_path):
    cfg = TrainConfig(**{**FAST, "max_steps": 30, "stop_at_fit": False})
    ref = train(mlp(), data, cfg, init_seed=2)

    def stop_at_epoch_4(entry):
        if entry["epoch"] == 3:
            raise KeyboardInterrupt

    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        train(mlp(), data, cfg, init_seed=2, checkpoint=ckpt, progress=stop_at_epoch_4)
    assert ckpt.exists()
    res = train(mlp(), data, cfg, init_seed=2, checkpoint=ckpt)
    assert res.resumed_from == 4
    assert res.history == ref.history and res.epoch_log[:-1] == [
        {**e, "seconds": r["seconds"]} for e, r in zip(ref.epoch_log[:-1], res.epoch_log[:-1])
    ]
    assert (res.final_train_accuracy, res.test_accuracy, res.steps) == (
        ref.final_train_accuracy,
        ref.test_accuracy,
        ref.steps,
    )
    again = train(mlp(), data, cfg, init_seed=2, checkpoint=ckpt)  # finished: nothing to do
    assert again.steps == res.steps and again.history == res.history
    with pytest.raises(ValueError, match="another configuration"):
        train(mlp(), data, cfg, init_seed=3, checkpoint=ckpt)


def test_conv_net_with_augmentation_and_weight_decay():
    ds = synthetic(n=48, n_test=16, size=12, channels=3, classes=3, seed=1)
    data = make_variant(ds, "corrupt", p=0.5, seed=0)
    cfg = model_config("inception", in_channels=3, image_size=12, n_classes=3, width=0.0625)
    res = train(
        cfg,
        data,
        TrainConfig(
            lr=0.1,
            batch_size=16,
            crop=12,
            max_steps=6,
            random_crop=True,
            flip=True,
            weight_decay=5e-4,
            eval_every=1,
        ),
        init_seed=0,
    )
    assert res.steps == 6 and np.isfinite(res.final_train_loss)
    assert all(e["test_accuracy"] is not None for e in res.epoch_log)


def test_random_crop_of_larger_images_evaluates_center_crops(tmp_path):
    """Random 8x8 crops of 10x10 images: the final train accuracy and loss are those of the
    trained weights on the center crops, cropped then whitened like the test set."""
    from finite_expressivity.data.preprocess import preprocess
    from finite_expressivity.randomization.evaluation import evaluate
    from finite_expressivity.randomization.models import build_model

    ds = synthetic(n=32, n_test=8, size=10, channels=1, classes=2, seed=2)
    data = make_variant(ds, "true", seed=0)
    cfg = model_config(
        "alexnet", in_channels=1, image_size=8, n_classes=2, channels=(4, 4), hidden=(8,)
    )
    ckpt = tmp_path / "checkpoint.pt"
    res = train(
        cfg,
        data,
        TrainConfig(lr=0.01, batch_size=16, crop=8, max_steps=4, random_crop=True),
        init_seed=0,
        checkpoint=ckpt,
    )
    assert res.steps == 4
    model = build_model(cfg, seed=0)
    model.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    x = torch.from_numpy(preprocess(data.train_images, crop=8, whiten=True))
    y = torch.from_numpy(np.asarray(data.train_labels, dtype=np.int64))
    loss, acc = evaluate(model, x, y)
    assert acc == res.final_train_accuracy
    assert abs(loss - res.final_train_loss) <= 1e-6 * abs(loss)
    full = torch.from_numpy(preprocess(data.train_images, crop=None, whiten=True))[..., 1:9, 1:9]
    assert abs(evaluate(model, full.contiguous(), y)[0] - loss) > 1e-6 * abs(loss)  # not that


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"lr": 0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"precision": "fp8"}, "precision"),
        ({"momentum": 1.5}, "momentum"),
        ({"decay_every": 0}, "decay_every"),
        ({"max_steps": -1}, "max_steps"),
    ],
)
def test_bad_train_config(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_shape_mismatch_is_caught_before_training(data):
    with pytest.raises(ValueError, match="in_channels=1, image_size=8, n_classes=4"):
        train(model_config("mlp1x512"), data, TrainConfig(crop=8))
    with pytest.raises(TypeError, match="VariantData"):
        train(mlp(), {"x": 1}, TrainConfig(crop=8))


def test_paper_train_config_agrees_with_the_presets():
    """One table of learning rates: what paper_train_config gives is what the artifacts run."""
    from finite_expressivity.randomization import presets

    for spec in presets.specs("table1", "paper"):
        assert paper_train_config(spec.model).lr == spec.train.lr
    assert paper_train_config("inception-nobn").lr == 0.01  # the documented deviation


def test_paper_train_config():
    assert paper_train_config("inception").lr == 0.1
    assert paper_train_config("alexnet").lr == 0.01
    cfg = paper_train_config("mlp1x512")
    assert (cfg.momentum, cfg.lr_decay, cfg.batch_size, cfg.weight_decay) == (0.9, 0.95, 128, 0.0)
    with pytest.raises(ValueError, match="unknown model"):
        paper_train_config("vgg")


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@needs_cuda
def test_cuda_bf16_channels_last_fits_and_is_reproducible():
    data = make_variant(
        synthetic(n=256, n_test=64, size=28, channels=3, classes=10), "random-labels"
    )
    cfg = model_config("inception", n_classes=10)
    run = dict(lr=0.1, max_steps=2000, log_every=5)
    a = train(cfg, data, TrainConfig(**run), init_seed=0, device="cuda")
    b = train(cfg, data, TrainConfig(**run), init_seed=0, device="cuda")
    assert a.device.startswith("cuda") and a.steps_to_fit is not None
    assert a.history == b.history


@pytest.mark.gpu
@needs_cuda
def test_cuda_fp32_matches_cpu_closely():
    data = make_variant(synthetic(n=64, size=8), "random-labels", seed=0)
    cfg = TrainConfig(**{**FAST, "max_steps": 6, "precision": "fp32"})
    cpu = train(mlp(), data, cfg, init_seed=0, device="cpu")
    gpu = train(mlp(), data, cfg, init_seed=0, device="cuda")
    assert [h["loss"] for h in gpu.history] == pytest.approx(
        [h["loss"] for h in cpu.history], rel=1e-4
    )
