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
import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.determinism import deterministic
from ..core.files import atomic_write_bytes

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "paper_train_config"]

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
        def num(name, lo, hi, lo_open=False):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or v < lo
                or v > hi
                or (lo_open and v == lo)
            ):
                raise ValueError(
                    f"{name} must be a number in {'(' if lo_open else '['}{lo}, {hi}], got {v!r}"
                )

        def pos_int(name, zero_ok=False):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, np.integer))
                or v < (0 if zero_ok else 1)
            ):
                raise ValueError(
                    f"{name} must be a {'non-negative' if zero_ok else 'positive'} int, got {v!r}"
                )

        num("lr", 0.0, 100.0, lo_open=True)
        num("momentum", 0.0, 1.0)
        num("lr_decay", 0.0, 1.0, lo_open=True)
        num("weight_decay", 0.0, 10.0)
        num("rotate_degrees", 0.0, 180.0)
        num("fit_gate", 0.0, 1.0)
        for name in ("batch_size", "crop", "max_steps", "log_every", "eval_batch_size"):
            pos_int(name)
        pos_int("eval_every", zero_ok=True)
        pos_int("seed", zero_ok=True)
        if self.decay_every is not None:
            pos_int("decay_every")
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {_PRECISIONS}, got {self.precision!r}")


def paper_train_config(model: str, **overrides) -> TrainConfig:
    """Appendix A's settings for the named model (lr 0.1 for Inception, else 0.01)."""
    from .models import PAPER_LR

    if model not in PAPER_LR:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(PAPER_LR)}")
    return TrainConfig(**{"lr": PAPER_LR[model], **overrides})


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


def _fingerprint(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def evaluate(
    model, images, labels, *, batch_size: int = 1000, autocast=None, channels_last: bool = False
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode, no gradients).

    Parameters
    ----------
    model : torch.nn.Module
    images : torch.Tensor, shape (N, C, H, W), on the model's device
    labels : torch.Tensor of int64, shape (N,)

    Returns
    -------
    (loss, accuracy) : tuple of float
    """
    import torch

    was_training = model.training
    model.eval()
    n = labels.shape[0]
    loss_sum = torch.zeros((), dtype=torch.float64, device=labels.device)
    correct = torch.zeros((), dtype=torch.int64, device=labels.device)
    with torch.no_grad():
        for s in range(0, n, batch_size):
            xb = images[s : s + batch_size]
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast() if autocast else contextlib.nullcontext():
                out = model(xb)
            out = out.float()
            yb = labels[s : s + batch_size]
            loss_sum += torch.nn.functional.cross_entropy(out, yb, reduction="sum").double()
            correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    if n == 0:
        return float("nan"), float("nan")
    return float(loss_sum) / n, int(correct) / n


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


def train(
    model_config,
    data,
    config: TrainConfig = TrainConfig(),
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
    config : TrainConfig
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
    import torch

    from ..core.devices import torch_device
    from ..data.loader import DeviceLoader
    from ..data.preprocess import augment, preprocess
    from .models import build_model, config_to_dict, count_parameters

    # ---- check everything before any work -------------------------------------------
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    _check_data(data)
    dev = torch_device(device)
    c, h, w = np.asarray(data.train_images).shape[1:]
    size = min(config.crop, h, w)
    if (
        model_config.in_channels != c
        or model_config.n_classes != data.n_classes
        or model_config.image_size != size
    ):
        raise ValueError(
            f"model_config expects {model_config.in_channels}x{model_config.image_size}x"
            f"{model_config.image_size} inputs and {model_config.n_classes} classes, but the data "
            f"gives {c}x{size}x{size} and {data.n_classes}; build it with "
            f"model_config(name, in_channels={c}, image_size={size}, n_classes={data.n_classes})"
        )
    if config.random_crop and h < size:
        raise ValueError(f"random_crop needs images of at least crop={size} pixels, got {h}x{w}")
    cuda = dev.type == "cuda"
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and cuda)
    is_conv = type(model_config).__name__ != "MLPConfig"
    channels_last = is_conv and (True if config.channels_last is None else config.channels_last)
    settings = {k: v for k, v in asdict(config).items() if k != "compile"}  # compile: same math
    fingerprint = _fingerprint(
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
    state = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if checkpoint.exists():
            try:
                state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise ValueError(
                    f"checkpoint {checkpoint} is unreadable ({type(exc).__name__}); "
                    f"delete it to start the run afresh"
                ) from None
            if state.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"checkpoint {checkpoint} was written by another configuration; "
                    f"delete it or use another output folder"
                )

    with deterministic(config.deterministic):
        # ---- data: preprocess once, hold it on the device -----------------------------
        keep = None if config.random_crop else size  # random crops need the full image
        x_train = preprocess(np.asarray(data.train_images), crop=keep, whiten=config.whiten)
        x_test = preprocess(np.asarray(data.test_images), crop=size, whiten=config.whiten)
        loader = DeviceLoader(
            x_train, data.train_labels, batch_size=config.batch_size, device=dev, seed=config.seed
        )
        test_x = torch.from_numpy(x_test).to(dev)
        test_y = torch.from_numpy(np.asarray(data.test_labels, dtype=np.int64)).to(dev)
        train_x = loader.images
        if train_x.shape[-1] != size:  # evaluate the training set on center crops
            top = (train_x.shape[-1] - size) // 2
            train_x = train_x[:, :, top : top + size, top : top + size].contiguous()
        train_y = loader.labels
        steps_per_epoch = len(loader)

        # ---- model and optimizer ------------------------------------------------------
        model = build_model(model_config, seed=init_seed)
        params = count_parameters(model)
        model = model.to(dev)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        step, epoch, seconds, steps_to_fit = 0, 0, 0.0, None
        history, epoch_log = [], []
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            step, epoch, seconds = state["step"], state["epoch"], state["seconds"]
            steps_to_fit, history, epoch_log = (
                state["steps_to_fit"],
                state["history"],
                state["epoch_log"],
            )
        resumed_from = epoch
        net = torch.compile(model) if config.compile else model

        def autocast():
            return torch.autocast(dev.type, dtype=torch.bfloat16)

        amp = autocast if use_bf16 else None

        def lr_at(step_, epoch_):
            k = epoch_ if config.decay_every is None else step_ // config.decay_every
            return config.lr * config.lr_decay**k

        def save(done):
            if checkpoint is None:
                return
            buf = io.BytesIO()
            torch.save(
                {
                    "fingerprint": fingerprint,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "epoch": epoch,
                    "seconds": seconds,
                    "steps_to_fit": steps_to_fit,
                    "history": history,
                    "epoch_log": epoch_log,
                    "done": done,
                },
                buf,
            )
            atomic_write_bytes(checkpoint, buf.getvalue())

        done = state is not None and state.get("done", False)
        fitted = steps_to_fit is not None and config.stop_at_fit

        # ---- the loop: one epoch per iteration, until fitted or out of steps ----------
        while not done and not fitted and step < config.max_steps:
            t0 = time.perf_counter()
            net.train()
            loader.set_epoch(epoch)
            aug_rng = np.random.default_rng([config.seed, 1, epoch])
            win_loss = torch.zeros((), dtype=torch.float64, device=dev)
            win_correct = torch.zeros((), dtype=torch.int64, device=dev)
            ep_loss = torch.zeros((), dtype=torch.float64, device=dev)
            ep_correct = torch.zeros((), dtype=torch.int64, device=dev)
            win_n = ep_n = 0
            for xb, yb in loader:
                if config.random_crop or config.flip or config.rotate_degrees:
                    xb = augment(
                        xb,
                        rng=aug_rng,
                        random_crop=config.random_crop,
                        flip=config.flip,
                        rotate_degrees=config.rotate_degrees,
                        size=size if config.random_crop else None,
                        pad=4 if xb.shape[-1] == size else 0,
                    )
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                lr = lr_at(step, epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with amp() if amp else contextlib.nullcontext():
                    out = net(xb)
                loss = torch.nn.functional.cross_entropy(out.float(), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                with torch.no_grad():
                    b = yb.shape[0]
                    batch_loss = loss.detach().double() * b
                    batch_correct = (out.detach().argmax(1) == yb).sum()
                    win_loss += batch_loss
                    win_correct += batch_correct
                    ep_loss += batch_loss
                    ep_correct += batch_correct
                    win_n += b
                    ep_n += b
                if step % config.log_every == 0:
                    history.append(
                        {
                            "step": step,
                            "epoch": epoch,
                            "lr": lr,
                            "loss": float(win_loss) / win_n,
                            "accuracy": int(win_correct) / win_n,
                        }
                    )
                    win_loss.zero_()
                    win_correct.zero_()
                    win_n = 0
                if step >= config.max_steps:
                    break
            running_acc = int(ep_correct) / ep_n
            running_loss = float(ep_loss) / ep_n
            if not math.isfinite(running_loss):
                raise FloatingPointError(
                    f"training diverged at step {step} (loss {running_loss}); "
                    f"lower the learning rate"
                )
            train_acc = None
            if running_acc >= config.fit_gate:
                _, train_acc = evaluate(
                    net,
                    train_x,
                    train_y,
                    batch_size=config.eval_batch_size,
                    autocast=amp,
                    channels_last=channels_last,
                )
                if train_acc == 1.0 and steps_to_fit is None:
                    steps_to_fit = step
            test_loss = test_acc = None
            if config.eval_every and (epoch + 1) % config.eval_every == 0:
                test_loss, test_acc = evaluate(
                    net,
                    test_x,
                    test_y,
                    batch_size=config.eval_batch_size,
                    autocast=amp,
                    channels_last=channels_last,
                )
            if cuda:
                torch.cuda.synchronize(dev)
            seconds += time.perf_counter() - t0
            entry = {
                "epoch": epoch,
                "step": step,
                "lr": lr_at(step - 1, epoch),
                "running_accuracy": running_acc,
                "running_loss": running_loss,
                "train_accuracy": train_acc,
                "test_accuracy": test_acc,
                "test_loss": test_loss,
                "seconds": seconds,
            }
            epoch_log.append(entry)
            epoch += 1
            fitted = steps_to_fit is not None and config.stop_at_fit
            save(done=False)
            if progress is not None:
                progress(
                    {
                        **entry,
                        "max_steps": config.max_steps,
                        "steps_per_epoch": steps_per_epoch,
                        "fitted": steps_to_fit is not None,
                    }
                )

        # ---- final evaluation -----------------------------------------------------------
        final_loss, final_acc = evaluate(
            net,
            train_x,
            train_y,
            batch_size=config.eval_batch_size,
            autocast=amp,
            channels_last=channels_last,
        )
        test_loss, test_acc = evaluate(
            net,
            test_x,
            test_y,
            batch_size=config.eval_batch_size,
            autocast=amp,
            channels_last=channels_last,
        )
        if final_acc == 1.0 and steps_to_fit is None:
            steps_to_fit = step
        save(done=True)
    return TrainResult(
        steps_to_fit=steps_to_fit,
        steps=step,
        epochs=epoch,
        stopped="fit" if steps_to_fit is not None and config.stop_at_fit else "max_steps",
        final_train_accuracy=final_acc,
        final_train_loss=final_loss,
        test_accuracy=test_acc,
        test_loss=test_loss,
        params=params,
        seconds=seconds,
        device=str(dev),
        history=history,
        epoch_log=epoch_log,
        resumed_from=resumed_from,
    )
