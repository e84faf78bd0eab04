"""One train/eval loop for every randomization experiment (Appendix A).

SGD with momentum 0.9, learning rate 0.1 (Inception) or 0.01 (the others) multiplied
by 0.95 every epoch, batches of 128, cross-entropy; no weight decay, dropout or
augmentation unless asked for. The loop reads top to bottom in :func:`train`::

    from finite_expressivity.data import load, make_variant
    from finite_expressivity.randomization.models import model_config
    from finite_expressivity.randomization.training import TrainConfig, train

    data = make_variant(load("mnist").head(2000), "random-labels", seed=0)
    cfg = model_config("mlp1x512", in_channels=1)
    result = train(cfg, data, TrainConfig(lr=0.01, max_steps=5000), init_seed=0)
    result.steps_to_fit, result.test_accuracy, result.history[-1]

**When is the training set fitted?** After every epoch whose running accuracy (the
fraction of that epoch's mini-batch predictions, made as the weights moved, that were
right) reaches ``fit_gate``, the model is evaluated on the whole training set in
eval mode (BatchNorm on its running statistics, no augmentation); the run has fitted
when that accuracy is exactly 100%. ``steps_to_fit`` is the number of SGD steps taken
when this first happened (a multiple of the steps per epoch), or None.

**Reproducibility.** The weights come from ``init_seed``; batch order and augmentation
from ``TrainConfig.seed`` (epoch ``e`` uses ``(seed, e)``, so a resumed run sees the
same batches); deterministic algorithms are switched on for the duration of the call
and restored after. The same seeds on the same device and thread count give the same
numbers, bit for bit, also across an interruption and resume from a checkpoint.

**Checkpoints.** With ``checkpoint=PATH``, model, optimizer, history and counters are
written atomically at the end of every epoch (and at the end); a later call with the
same arguments resumes from it, and one whose configuration differs raises ValueError.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..core.determinism import deterministic
from ..core.validation import check_int, check_number
from .checkpoint import fingerprint, load_checkpoint, save_checkpoint
from .evaluation import evaluate

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "paper_train_config", "lr_at"]

_PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (model hyperparameters live in the model configs).

    Parameters
    ----------
    lr : float
        Initial learning rate (the paper: 0.1 for Inception, 0.01 otherwise).
    momentum : float
    lr_decay : float
        Factor applied to the learning rate every ``decay_every`` steps.
    decay_every : int or None
        Steps between decays; None decays once per epoch (the paper). Small training
        sets have short epochs; the quick presets decay per a fixed step count instead.
    batch_size : int
    weight_decay : float
        L2 penalty coefficient (SGD's ``weight_decay``); 0 in the randomization runs.
    random_crop, flip : bool
        Augmentation (Table 1's "crop"): a random ``crop x crop`` window (of the 32x32
        image, or of a zero-padded 28x28 one) and random left-right flips.
    rotate_degrees : float
        Random rotations, uniform in ``[-r, r]`` (0: off).
    crop : int
        Input size of the model; larger images are center-cropped to it (Appendix A).
    whiten : bool
        Per-image whitening (Appendix A).
    max_steps : int
        Step budget; training stops there if it has not fitted.
    stop_at_fit : bool
        Stop at the end of the epoch where the training set is fitted (100% accuracy).
    fit_gate : float
        Running epoch accuracy at which the full training set is checked for a fit.
    log_every : int
        Steps per logged window of mean loss and accuracy.
    eval_every : int
        Epochs between test-set evaluations (0: only at the end).
    eval_batch_size : int
    seed : int
        Batch order and augmentation draws.
    precision : {"auto", "fp32", "bf16"}
        "auto" is bf16 autocast on CUDA (matmuls and convolutions; loss in fp32), fp32
        elsewhere.
    channels_last : bool or None
        Channels-last memory format; None: for conv nets (faster on CUDA and on CPU).
    compile : bool
        Wrap the model in ``torch.compile``.
    deterministic : bool
        ``torch.use_deterministic_algorithms`` during the call (restored after).
    """

    lr: float = 0.01
    momentum: float = 0.9
    lr_decay: float = 0.95
    decay_every: int | None = None
    batch_size: int = 128
    weight_decay: float = 0.0
    random_crop: bool = False
    flip: bool = False
    rotate_degrees: float = 0.0
    crop: int = 28
    whiten: bool = True
    max_steps: int = 20_000
    stop_at_fit: bool = True
    fit_gate: float = 0.99
    log_every: int = 20
    eval_every: int = 1
    eval_batch_size: int = 1000
    seed: int = 0
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = True

    def __post_init__(self):
        for name, lo, hi, lo_open in (
            ("lr", 0.0, 100.0, True),
            ("momentum", 0.0, 1.0, False),
            ("lr_decay", 0.0, 1.0, True),
            ("weight_decay", 0.0, 10.0, False),
            ("rotate_degrees", 0.0, 180.0, False),
            ("fit_gate", 0.0, 1.0, False),
        ):
            check_number(name, getattr(self, name), lo, hi, lo_open=lo_open)
        for name in ("batch_size", "crop", "max_steps", "log_every", "eval_batch_size"):
            check_int(name, getattr(self, name), low=1)
        check_int("eval_every", self.eval_every)
        check_int("seed", self.seed)
        check_int("decay_every", self.decay_every, low=1, allow_none=True)
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {_PRECISIONS}, got {self.precision!r}")


def paper_train_config(model: str, **overrides) -> TrainConfig:
    """The settings this package trains ``model`` with: Appendix A's (lr 0.1 for Inception,
    else 0.01), but Inception without BatchNorm at 0.01 (see ``presets.DEVIATIONS``)."""
    from .models import TRAIN_LR

    if model not in TRAIN_LR:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(TRAIN_LR)}")
    return TrainConfig(**{"lr": TRAIN_LR[model], **overrides})


def lr_at(config: TrainConfig, step: int, epoch: int) -> float:
    """The learning rate at ``step`` of ``epoch``: ``lr * lr_decay ** k``, with ``k`` the
    epoch (the paper) or ``step // decay_every``."""
    k = epoch if config.decay_every is None else step // config.decay_every
    return config.lr * config.lr_decay**k


@dataclass
class TrainResult:
    """What a run produced.

    Attributes
    ----------
    steps_to_fit : int or None
        SGD steps when the training set was first fitted (100% accuracy, see the
        module notes), or None if it never was within ``max_steps``.
    steps, epochs : int
        Steps and epochs taken.
    stopped : {"fit", "max_steps"}
    final_train_accuracy, final_train_loss : float
        On the whole training set, eval mode, at the end.
    test_accuracy, test_loss : float
        On the test set at the end.
    params : int
        Parameter count (the paper's convention).
    seconds : float
        Training wall time, summed over resumed pieces.
    history : list of dict
        One entry per ``log_every`` steps: ``step, epoch, lr, loss, accuracy`` (window means).
    epoch_log : list of dict
        One entry per epoch: ``epoch, step, lr, running_accuracy, running_loss,
        train_accuracy`` (None when not checked), ``test_accuracy, test_loss`` (None
        when not evaluated), ``seconds``.
    resumed_from : int
        Epochs that were loaded from a checkpoint (0 for a fresh run).
    """

    steps_to_fit: int | None
    steps: int
    epochs: int
    stopped: str
    final_train_accuracy: float
    final_train_loss: float
    test_accuracy: float
    test_loss: float
    params: int
    seconds: float
    device: str
    history: list = field(default_factory=list)
    epoch_log: list = field(default_factory=list)
    resumed_from: int = 0

    def summary(self) -> dict:
        """Everything but the logs (flat, for tables)."""
        return {k: v for k, v in asdict(self).items() if k not in ("history", "epoch_log")}


@dataclass
class _Counters:
    """What changes as a run goes on (and is checkpointed)."""

    step: int = 0
    epoch: int = 0
    seconds: float = 0.0
    steps_to_fit: int | None = None
    history: list = field(default_factory=list)
    epoch_log: list = field(default_factory=list)


@dataclass
class _Session:
    """What a run holds for its whole length: data on the device, model, optimizer."""

    config: TrainConfig
    dev: object
    loader: object
    train_x: object
    train_y: object
    test_x: object
    test_y: object
    model: object
    net: object
    optimizer: object
    params: int
    size: int
    amp: object
    channels_last: bool
    fingerprint: str
    checkpoint: object
    whiten_batches: bool = False  # whiten each batch after its random crop

    def evaluate(self, x, y):
        return evaluate(
            self.net,
            x,
            y,
            batch_size=self.config.eval_batch_size,
            autocast=self.amp,
            channels_last=self.channels_last,
        )


def _check_data(data):
    for attr in ("train_images", "train_labels", "test_images", "test_labels", "n_classes"):
        if not hasattr(data, attr):
            raise TypeError(
                f"data must be a VariantData (make_variant(...)), got "
                f"{type(data).__name__} without {attr!r}"
            )
    x, y = np.asarray(data.train_images), np.asarray(data.train_labels)
    if x.ndim != 4 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(
            f"train images (N, C, H, W) and labels (N,) must agree with N > 0, got "
            f"shapes {x.shape} and {y.shape}"
        )
    if not np.isfinite(x.reshape(-1)[:: max(1, x.size // 100_000)]).all():
        raise ValueError("train images contain NaN or infinity")


def _check_inputs(model_config, data, config) -> int:
    """Everything checked before any work; returns the model's input size."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    _check_data(data)
    c, h, w = np.asarray(data.train_images).shape[1:]
    size = min(config.crop, h, w)
    mc = model_config
    if mc.in_channels != c or mc.n_classes != data.n_classes or mc.image_size != size:
        raise ValueError(
            f"model_config expects {mc.in_channels}x{mc.image_size}x{mc.image_size} inputs and "
            f"{mc.n_classes} classes, but the data gives {c}x{size}x{size} and "
            f"{data.n_classes}; build it with model_config(name, in_channels={c}, "
            f"image_size={size}, n_classes={data.n_classes})"
        )
    if config.random_crop and h < size:
        raise ValueError(f"random_crop needs images of at least crop={size} pixels, got {h}x{w}")
    return int(size)


def _crop_then_whiten(config, data, size) -> bool:
    """Random crops of images larger than the crop (CIFAR's 28 of 32) are whitened after
    cropping, per batch, as the test set is; zero-padded crops of images of the crop's
    size (MNIST's 28) augment already whitened images."""
    h, w = np.asarray(data.train_images).shape[2:]
    return bool(config.random_crop and config.whiten and (h > size or w > size))


def _device_data(data, config, size, dev):
    """Preprocess once and hold it on the device: loader, train (center crops), test."""
    import torch

    from ..data.loader import DeviceLoader
    from ..data.preprocess import preprocess

    late = _crop_then_whiten(config, data, size)
    keep = None if config.random_crop else size  # random crops need the full image
    images = np.asarray(data.train_images)
    x_train = preprocess(images, crop=keep, whiten=config.whiten and not late)
    x_test = preprocess(np.asarray(data.test_images), crop=size, whiten=config.whiten)
    loader = DeviceLoader(
        x_train, data.train_labels, batch_size=config.batch_size, device=dev, seed=config.seed
    )
    test_x = torch.from_numpy(x_test).to(dev)
    test_y = torch.from_numpy(np.asarray(data.test_labels, dtype=np.int64)).to(dev)
    train_x = loader.images
    if late:  # evaluate the training set as the test set: center crop, then whiten
        train_x = torch.from_numpy(preprocess(images, crop=size, whiten=True)).to(dev)
    elif train_x.shape[-1] != size:  # evaluate the training set on center crops
        top = (train_x.shape[-1] - size) // 2
        train_x = train_x[:, :, top : top + size, top : top + size].contiguous()
    return loader, train_x, loader.labels, test_x, test_y, late


def _fingerprint(model_config, data, config, init_seed) -> str:
    from .models import config_to_dict

    settings = {k: v for k, v in asdict(config).items() if k != "compile"}  # compile: same math
    return fingerprint(
        config_to_dict(model_config),
        settings,
        init_seed,
        data.name,
        data.variant,
        float(data.p),
        int(data.seed),
        int(np.asarray(data.train_labels).shape[0]),
        int(np.asarray(data.test_labels).shape[0]),
    )


def _setup(model_config, data, config, init_seed, dev, checkpoint, size, fp) -> _Session:
    import torch

    from .models import MLPConfig, build_model, count_parameters

    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and dev.type == "cuda")
    is_conv = not isinstance(model_config, MLPConfig)
    channels_last = is_conv and (True if config.channels_last is None else config.channels_last)
    loader, train_x, train_y, test_x, test_y, late = _device_data(data, config, size, dev)
    model = build_model(model_config, seed=init_seed)
    params = count_parameters(model)
    model = model.to(dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    net = torch.compile(model) if config.compile else model

    def amp():
        return torch.autocast(dev.type, dtype=torch.bfloat16)

    return _Session(
        config,
        dev,
        loader,
        train_x,
        train_y,
        test_x,
        test_y,
        model,
        net,
        optimizer,
        params,
        size,
        amp if use_bf16 else None,
        channels_last,
        fp,
        checkpoint,
    )


def _restore(s: _Session, state) -> _Counters:
    if state is None:
        return _Counters()
    s.model.load_state_dict(state["model"])
    s.optimizer.load_state_dict(state["optimizer"])
    return _Counters(
        state["step"],
        state["epoch"],
        state["seconds"],
        state["steps_to_fit"],
        state["history"],
        state["epoch_log"],
    )


def _save(s: _Session, c: _Counters, done: bool) -> None:
    if s.checkpoint is None:
        return
    save_checkpoint(
        s.checkpoint,
        {
            "fingerprint": s.fingerprint,
            "model": s.model.state_dict(),
            "optimizer": s.optimizer.state_dict(),
            "step": c.step,
            "epoch": c.epoch,
            "seconds": c.seconds,
            "steps_to_fit": c.steps_to_fit,
            "history": c.history,
            "epoch_log": c.epoch_log,
            "done": done,
        },
    )


def _batches(s: _Session, epoch: int):
    """The epoch's mini-batches, augmented and in the model's memory format."""
    import torch

    from ..data.preprocess import augment

    cfg = s.config
    s.loader.set_epoch(epoch)
    aug_rng = np.random.default_rng([cfg.seed, 1, epoch])
    for xb, yb in s.loader:
        if cfg.random_crop or cfg.flip or cfg.rotate_degrees:
            xb = augment(
                xb,
                rng=aug_rng,
                random_crop=cfg.random_crop,
                flip=cfg.flip,
                rotate_degrees=cfg.rotate_degrees,
                size=s.size if cfg.random_crop else None,
                pad=4 if xb.shape[-1] == s.size else 0,
            )
        if s.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yield xb, yb


def _sgd_step(s: _Session, c: _Counters, xb, yb):
    """One SGD step at the schedule's learning rate; the batch's loss and logits."""
    import torch

    lr = lr_at(s.config, c.step, c.epoch)
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    with s.amp() if s.amp else contextlib.nullcontext():
        out = s.net(xb)
    loss = torch.nn.functional.cross_entropy(out.float(), yb)
    s.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    s.optimizer.step()
    c.step += 1
    return lr, loss.detach(), out.detach()


def _train_epoch(s: _Session, c: _Counters) -> tuple[float, float]:
    """One epoch (or what is left of the step budget): running accuracy and loss."""
    import torch

    zero = {"dtype": torch.float64, "device": s.dev}
    win_loss, ep_loss = torch.zeros((), **zero), torch.zeros((), **zero)
    win_ok = torch.zeros((), dtype=torch.int64, device=s.dev)
    ep_ok = torch.zeros((), dtype=torch.int64, device=s.dev)
    win_n = ep_n = 0
    for xb, yb in _batches(s, c.epoch):
        lr, loss, out = _sgd_step(s, c, xb, yb)
        with torch.no_grad():
            b = yb.shape[0]
            batch_loss, batch_ok = loss.double() * b, (out.argmax(1) == yb).sum()
            win_loss += batch_loss
            win_ok += batch_ok
            ep_loss += batch_loss
            ep_ok += batch_ok
            win_n += b
            ep_n += b
        if c.step % s.config.log_every == 0:
            c.history.append(
                {
                    "step": c.step,
                    "epoch": c.epoch,
                    "lr": lr,
                    "loss": float(win_loss) / win_n,
                    "accuracy": int(win_ok) / win_n,
                }
            )
            win_loss.zero_()
            win_ok.zero_()
            win_n = 0
        if c.step >= s.config.max_steps:
            break
    return int(ep_ok) / ep_n, float(ep_loss) / ep_n


def _close_epoch(s: _Session, c: _Counters, running: tuple, t0: float, progress) -> None:
    """After an epoch: check for a fit, evaluate the test set, log, checkpoint, report."""
    import torch

    running_acc, running_loss = running
    cfg = s.config
    if not math.isfinite(running_loss):
        raise FloatingPointError(
            f"training diverged at step {c.step} (loss {running_loss}); lower the learning rate"
        )
    train_acc = None
    if running_acc >= cfg.fit_gate:
        _, train_acc = s.evaluate(s.train_x, s.train_y)
        if train_acc == 1.0 and c.steps_to_fit is None:
            c.steps_to_fit = c.step
    test_loss = test_acc = None
    if cfg.eval_every and (c.epoch + 1) % cfg.eval_every == 0:
        test_loss, test_acc = s.evaluate(s.test_x, s.test_y)
    if s.dev.type == "cuda":
        torch.cuda.synchronize(s.dev)
    c.seconds += time.perf_counter() - t0
    entry = {
        "epoch": c.epoch,
        "step": c.step,
        "lr": lr_at(cfg, c.step - 1, c.epoch),
        "running_accuracy": running_acc,
        "running_loss": running_loss,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "seconds": c.seconds,
    }
    c.epoch_log.append(entry)
    c.epoch += 1
    _save(s, c, done=False)
    if progress is not None:
        progress(
            {
                **entry,
                "max_steps": cfg.max_steps,
                "steps_per_epoch": len(s.loader),
                "fitted": c.steps_to_fit is not None,
            }
        )


def _finish(s: _Session, c: _Counters, resumed_from: int) -> TrainResult:
    """The final evaluation on the whole training and test sets, and the result."""
    final_loss, final_acc = s.evaluate(s.train_x, s.train_y)
    test_loss, test_acc = s.evaluate(s.test_x, s.test_y)
    if final_acc == 1.0 and c.steps_to_fit is None:
        c.steps_to_fit = c.step
    _save(s, c, done=True)
    stopped = "fit" if c.steps_to_fit is not None and s.config.stop_at_fit else "max_steps"
    return TrainResult(
        steps_to_fit=c.steps_to_fit,
        steps=c.step,
        epochs=c.epoch,
        stopped=stopped,
        final_train_accuracy=final_acc,
        final_train_loss=final_loss,
        test_accuracy=test_acc,
        test_loss=test_loss,
        params=s.params,
        seconds=c.seconds,
        device=str(s.dev),
        history=c.history,
        epoch_log=c.epoch_log,
        resumed_from=resumed_from,
    )


def train(
    model_config,
    data,
    config: TrainConfig | None = None,
    *,
    init_seed: int = 0,
    device="cpu",
    checkpoint=None,
    progress=None,
) -> TrainResult:
    """Train a fresh model on a (randomized) dataset.

    Parameters
    ----------
    model_config : InceptionConfig, AlexNetConfig or MLPConfig
        Its ``in_channels`` and ``n_classes`` must match the data.
    data : VariantData
        From :func:`finite_expressivity.data.make_variant`: float images
        ``(N, C, H, W)`` in [0, 1] (Gaussian: real-valued) and int64 labels.
    config : TrainConfig, optional
        Default ``TrainConfig()``.
    init_seed : int
        Seed of the initial weights.
    device : str or torch.device
        "cpu", "cuda", "cuda:N" or "auto".
    checkpoint : str or Path, optional
        File to resume from and save to (see the module notes).
    progress : callable, optional
        Called with a dict after every epoch, once its checkpoint is written: the
        ``epoch_log`` entry plus ``max_steps``, ``steps_per_epoch`` and ``fitted``. It may
        raise to stop the run (a later call with the same checkpoint resumes).

    Returns
    -------
    TrainResult
    """
    from ..core.devices import torch_device

    config = TrainConfig() if config is None else config
    size = _check_inputs(model_config, data, config)
    dev = torch_device(device)
    fp = _fingerprint(model_config, data, config, init_seed)
    state = load_checkpoint(checkpoint, fp)
    with deterministic(config.deterministic):
        s = _setup(model_config, data, config, init_seed, dev, checkpoint, size, fp)
        c = _restore(s, state)
        resumed_from = c.epoch
        done = state is not None and state.get("done", False)
        while (
            not done
            and not (c.steps_to_fit is not None and config.stop_at_fit)
            and c.step < config.max_steps
        ):
            t0 = time.perf_counter()
            s.net.train()
            _close_epoch(s, c, _train_epoch(s, c), t0, progress)
        return _finish(s, c, resumed_from)
