"""Models: the paper's parameter counts to the digit, shapes, seeded construction."""

import pytest

torch = pytest.importorskip("torch")

from finite_expressivity.randomization.models import (
    MODEL_NAMES,
    PAPER_PARAMS,
    AlexNetConfig,
    InceptionConfig,  # noqa: E402
    MLPConfig,
    build_model,
    config_from_dict,
    config_to_dict,
    count_parameters,
    describe_models,
    model_config,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_paper_parameter_counts(name):
    model = build_model(model_config(name), seed=0)
    assert count_parameters(model) == PAPER_PARAMS[name]


def test_paper_counts_are_the_table_1_numbers():
    assert PAPER_PARAMS == {
        "inception": 1_649_402,
        "inception-nobn": 1_649_402,
        "alexnet": 1_387_786,
        "mlp1x512": 1_209_866,
        "mlp3x512": 1_735_178,
    }


# One input channel instead of three removes 2 * (kernel area) * (first layer width)
# weights: 3x3x96 for Inception, 5x5x64 for AlexNet, 784x512 for the MLPs.
ONE_CHANNEL = {
    "inception": 1_649_402 - 2 * 9 * 96,
    "inception-nobn": 1_649_402 - 2 * 9 * 96,
    "alexnet": 1_387_786 - 2 * 25 * 64,
    "mlp1x512": 1_209_866 - 2 * 784 * 512,
    "mlp3x512": 1_735_178 - 2 * 784 * 512,
}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_one_channel_counts(name):
    model = build_model(model_config(name, in_channels=1), seed=0)
    assert count_parameters(model) == ONE_CHANNEL[name]
    assert ONE_CHANNEL["mlp1x512"] == 407_050 and ONE_CHANNEL["inception"] == 1_647_674


def test_batchnorm_parameters_are_not_counted():
    bn = build_model(model_config("inception"), seed=0)
    nobn = build_model(model_config("inception-nobn"), seed=0)
    assert count_parameters(bn) == count_parameters(nobn)
    total = sum(p.numel() for p in bn.parameters())
    assert total - count_parameters(bn) == sum(
        p.numel()
        for m in bn.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
        for p in m.parameters()
    )
    assert total > count_parameters(bn)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_shape(name, channels):
    model = build_model(model_config(name, in_channels=channels), seed=1).eval()
    x = torch.randn(3, channels, 28, 28, generator=torch.Generator().manual_seed(2))
    out = model(x)
    assert out.shape == (3, 10) and torch.isfinite(out).all()


def test_spatial_sizes_match_the_paper():
    inc = build_model(model_config("inception"), seed=0)
    assert inc.features(torch.randn(2, 3, 28, 28)).shape == (2, 336, 7, 7)  # then a 7x7 mean
    alex = build_model(model_config("alexnet"), seed=0)
    assert alex.features(torch.randn(2, 3, 28, 28)).shape == (2, 64, 7, 7)  # 3136 features
    assert alex.hidden[0].in_features == 3136


def test_seeded_construction_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = build_model(model_config("alexnet", in_channels=1), seed=7)
    b = build_model(model_config("alexnet", in_channels=1), seed=7)
    c = build_model(model_config("alexnet", in_channels=1), seed=8)
    assert torch.equal(state, torch.get_rng_state())
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_width_multiplier_and_overrides():
    narrow = build_model(model_config("inception", in_channels=1, width=0.125), seed=0)
    assert count_parameters(narrow) < 30_000
    small = model_config("alexnet", channels=(32, 32))
    assert isinstance(small, AlexNetConfig) and small.channels == (32, 32)
    assert model_config("mlp3x512").hidden == (512, 512, 512)


def test_config_round_trip():
    for cfg in (
        model_config("inception", width=0.5),
        model_config("alexnet"),
        model_config("mlp3x512", in_channels=1),
    ):
        assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda: model_config("resnet"), "unknown model"),
        (lambda: model_config("alexnet", depth=3), "bad override"),
        (lambda: model_config("mlp1x512", in_channels=0), "in_channels"),
        (lambda: InceptionConfig(width=0), "width"),
        (lambda: MLPConfig(hidden=()), "hidden"),
    ],
)
def test_bad_configs_raise_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_build_model_rejects_other_objects():
    with pytest.raises(TypeError, match="model_config"):
        build_model({"model": "mlp"}, seed=0)


def test_describe_models_lists_counts():
    rows = describe_models(in_channels=(3,))
    assert {r["model"]: r["params"] for r in rows} == PAPER_PARAMS


def test_local_response_norm_matches_torch():
    from finite_expressivity.randomization.models.nets import LocalResponseNorm

    x = (
        torch.randn(3, 13, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
        + 0.5
    )
    for size in (9, 4, 1):
        ours = LocalResponseNorm(size, alpha=0.3, beta=0.75, k=1.5)(x)
        ref = torch.nn.LocalResponseNorm(size, alpha=0.3, beta=0.75, k=1.5)(x)
        assert torch.allclose(ours, ref, rtol=1e-12, atol=1e-14)
