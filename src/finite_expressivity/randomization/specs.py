"""One training run, fully described: :class:`RunSpec` (model, data, seeds, settings)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from .training import TrainConfig

__all__ = ["RunSpec", "spec_to_dict", "spec_from_dict"]


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a run's numbers.

    Parameters
    ----------
    model : str
        A name from :data:`finite_expressivity.randomization.models.MODEL_NAMES`.
    dataset : str
        ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, ... (see ``data.load``).
    variant : str
        One of :data:`finite_expressivity.data.VARIANTS`.
    p : float
        Label-corruption probability in [0, 1].
    data_seed, init_seed : int
        Seeds of the randomized data and of the initial weights; the batch order and
        augmentation use ``train.seed``.
    n_train, n_test : int or None
        Use the first ``n`` training / test images (None: all).
    model_overrides : tuple of (name, value) pairs
        Changes to the paper's model config (e.g. ``(("width", 0.125),)``).
    train : TrainConfig
    label, column : str
        How figures and tables name the run (not part of its identity).
    """

    model: str
    dataset: str
    variant: str = "true"
    p: float = 0.0
    data_seed: int = 0
    init_seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    model_overrides: tuple = ()
    train: TrainConfig = field(default_factory=TrainConfig)
    label: str = ""
    column: str = ""

    @property
    def seed(self) -> int | None:
        """The one seed of :meth:`with_seed` when the data, initialization and batch-order
        seeds agree; None when they differ (each is then recorded on its own)."""
        seeds = {self.data_seed, self.init_seed, self.train.seed}
        return self.init_seed if len(seeds) == 1 else None

    def seed_text(self, sep: str = "-") -> str:
        """``"3"``, or ``"data-init-batch"`` seeds when they differ."""
        if self.seed is not None:
            return str(self.seed)
        return sep.join(str(s) for s in (self.data_seed, self.init_seed, self.train.seed))

    def with_seed(self, seed: int) -> RunSpec:
        """The same run with every seed (data, init, batch order) set to ``seed``."""
        return replace(self, data_seed=seed, init_seed=seed, train=replace(self.train, seed=seed))

    def identity(self) -> dict:
        """The fields that decide the numbers (label and column left out)."""
        d = spec_to_dict(self)
        d.pop("label")
        d.pop("column")
        return d

    def key(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]

    def name(self) -> str:
        """A folder name: readable, and unique through the key."""
        col = f"_{self.column}" if self.column else ""
        name = f"{self.model}_{self.variant}_p{self.p:.2f}{col}_s{self.seed_text()}_{self.key()}"
        return name.replace("+", "-")

    def short(self) -> str:
        col = f" [{self.column}]" if self.column else ""
        p = f" p={self.p:g}" if self.variant == "corrupt" else ""
        seeds = "seed" if self.seed is not None else "seeds (data, init, batch)"
        return f"{self.model} {self.dataset} {self.variant}{p}{col} {seeds} {self.seed_text(', ')}"


def spec_to_dict(spec: RunSpec) -> dict:
    d = asdict(spec)
    d["model_overrides"] = {
        k: list(v) if isinstance(v, tuple) else v for k, v in spec.model_overrides
    }
    return d


def spec_from_dict(d: dict) -> RunSpec:
    d = dict(d)
    d["train"] = TrainConfig(**d["train"])
    d["model_overrides"] = tuple(
        (k, tuple(v) if isinstance(v, list) else v) for k, v in d.get("model_overrides", {}).items()
    )
    return RunSpec(**d)
