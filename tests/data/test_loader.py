"""DeviceLoader: seeded, device-independent batches from one resident tensor."""

from __future__ import annotations

import numpy as np
import pytest

from finite_expressivity.core.devices import torch_device as resolve_device
from finite_expressivity.data import DeviceLoader, make_variant

torch = pytest.importorskip("torch")

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
        ],
    ),
]


def _indexed(n=1000):
    """Images whose every value is their own index, so a batch tells where it came from."""
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 2, 3, 3)).copy()
    return x, (np.arange(n) * 7) % 10


@pytest.mark.parametrize("device", DEVICES)
def test_epoch_visits_each_sample_once_in_seeded_order(device):
    x, y = _indexed(1000)
    loader = DeviceLoader(x, y, batch_size=128, device=device, seed=3)
    assert len(loader) == 8
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [128] * 7 + [104]
    assert all(b[0].device.type == device and b[1].dtype == torch.int64 for b in batches)
    idx = torch.cat([b[0][:, 0, 0, 0] for b in batches]).cpu().numpy().astype(np.int64)
    np.testing.assert_array_equal(idx, np.random.default_rng([3, 0]).permutation(1000))
    labels = torch.cat([b[1] for b in batches]).cpu().numpy()
    np.testing.assert_array_equal(labels, y[idx])  # images and labels stay paired


@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_same_labels_on_every_device(device, mnist):
    """Labels come from numpy on the host and the order from (seed, epoch): the batches a
    device serves equal this host-side reference, hence equal across devices."""
    v = make_variant(mnist.head(2000, 10), "random-labels", seed=21)
    loader = DeviceLoader(v.train_images, v.train_labels, batch_size=128, device=device, seed=21)
    for epoch in range(2):
        got = torch.cat([yb for _, yb in loader]).cpu().numpy()
        want = v.train_labels[np.random.default_rng([21, epoch]).permutation(2000)]
        np.testing.assert_array_equal(got, want)


def test_epochs_differ_and_replay():
    x, y = _indexed(300)
    loader = DeviceLoader(x, y, batch_size=50, seed=1)
    first = torch.cat([b[1] for b in loader])
    second = torch.cat([b[1] for b in loader])
    assert loader.epoch == 2 and not torch.equal(first, second)
    loader.set_epoch(0)
    assert torch.equal(torch.cat([b[1] for b in loader]), first)
    other = DeviceLoader(x, y, batch_size=50, seed=2)
    assert not torch.equal(torch.cat([b[1] for b in other]), first)


def test_drop_last_no_shuffle_and_tensors_in():
    x, y = _indexed(130)
    loader = DeviceLoader(
        torch.from_numpy(x), torch.from_numpy(y), batch_size=64, drop_last=True, shuffle=False
    )
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    np.testing.assert_array_equal(batches[1][0][:, 0, 0, 0].numpy(), np.arange(64, 128))


def test_arguments_checked():
    x, y = _indexed(10)
    with pytest.raises(ValueError, match="same N"):
        DeviceLoader(x, y[:5])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DeviceLoader(x, y, batch_size=0)
    with pytest.raises(ValueError, match="device must be"):
        DeviceLoader(x, y, device="gpu-please")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device is visible"):
            DeviceLoader(x, y, device="cuda")
