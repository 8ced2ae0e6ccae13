"""The seed tutorials' networks and one registry describing each of them.

Every classifier takes pixels in [0, 1] shaped (B, 1, 28, 28) and applies its seed's input
normalisation inside `forward`, so no caller can feed a model the wrong statistics.
`forward` returns logits (B, 10); `features` returns the last hidden layer (what t-SNE plots).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .config import Augment, SinCosConfig, TrainConfig
from .data import MNIST_MEAN, MNIST_STD

ZERO_ONE = (0.0, 1.0)  # ToTensor() only
MNIST_NORM = (MNIST_MEAN, MNIST_STD)  # Normalize((0.1307,), (0.3081,))
HALF_NORM = (0.5, 0.5)  # Normalize(0.5, 0.5): pixels in [-1, 1]


class Classifier(nn.Module):
    """Base: holds the input normalisation and splits forward into features + head."""

    head: nn.Module

    def __init__(self, norm: tuple[float, float]) -> None:
        super().__init__()
        self.register_buffer("norm_mean", torch.tensor(norm[0]), persistent=False)
        self.register_buffer("norm_std", torch.tensor(norm[1]), persistent=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] pixels -> the seed's normalised input."""
        return (x - self.norm_mean) / self.norm_std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer (B, D) for pixels in [0, 1]."""
        return self.body(self.normalise(x))

    def body(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 10) for pixels in [0, 1] shaped (B, 1, 28, 28)."""
        return self.head(self.features(x))


class CNN(Classifier):
    """Seed 000: two 5x5 conv blocks (16, 32 maps) then Linear(1568 -> 10)."""

    def __init__(self) -> None:
        super().__init__(ZERO_ONE)
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(32 * 7 * 7, 10)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)).flatten(1)  # (B, 1568)


class LeNet5(Classifier):
    """Seed 001: LeNet-5 with C5 as a 5x5 convolution (16 -> 120 maps on a 5x5 input)."""

    def __init__(self) -> None:
        super().__init__(MNIST_NORM)
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)  # 28x28 padded by 2 acts like the paper's 32x32
        self.c3 = nn.Conv2d(6, 16, 5)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.head = nn.Linear(84, 10)

    def c5_input(self, x: torch.Tensor) -> torch.Tensor:
        """S4 output (B, 16, 5, 5) for a normalised input."""
        x = F.relu(F.max_pool2d(self.c1(x), 2))  # (B, 6, 14, 14)
        return F.relu(F.max_pool2d(self.c3(x), 2))  # (B, 16, 5, 5)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.c5(self.c5_input(x))).flatten(1)  # (B, 120): a conv that is an FC layer
        return F.relu(self.f6(x))  # (B, 84)


class LeNet5FC(LeNet5):
    """Seed 001: the same LeNet-5 with S4 flattened into Linear(400 -> 120) instead of conv C5."""

    def __init__(self) -> None:
        super().__init__()
        del self.c5
        self.c5 = nn.Linear(16 * 5 * 5, 120)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.c5(self.c5_input(x).flatten(1)))  # (B, 120)
        return F.relu(self.f6(x))  # (B, 84)


class CNNFC3(Classifier):
    """Seed 003: two 3x3 conv blocks (32, 64 maps) then three FC layers 3136 -> 1024 -> 512 -> 10."""

    def __init__(self) -> None:
        super().__init__(HALF_NORM)
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(nn.Linear(64 * 7 * 7, 1024), nn.ReLU(), nn.Linear(1024, 512), nn.ReLU())
        self.head = nn.Linear(512, 10)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))  # (B, 512)


class SimpleCNN(Classifier):
    """Seed 004: a tiny CNN with n_feature=6 maps in both conv layers (6,422 parameters)."""

    def __init__(self, n_feature: int = 6) -> None:
        super().__init__(MNIST_NORM)
        self.conv1 = nn.Conv2d(1, n_feature, 5)
        self.conv2 = nn.Conv2d(n_feature, n_feature, 5)
        self.fc1 = nn.Linear(n_feature * 4 * 4, 50)
        self.head = nn.Linear(50, 10)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (B, n, 12, 12)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (B, n, 4, 4)
        return F.relu(self.fc1(x.flatten(1)))  # (B, 50)


class MLP(Classifier):
    """Seed 004's pixel-shuffle control: 784 -> 8 -> 8 -> 10, the same budget as simple_cnn."""

    def __init__(self, n_hidden: int = 8) -> None:
        super().__init__(MNIST_NORM)
        self.fc1 = nn.Linear(28 * 28, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_hidden)
        self.head = nn.Linear(n_hidden, 10)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))  # (B, 8)


class LSTMClassifier(Classifier):
    """Seed 002: an LSTM reads the 28 rows as 28 time steps; Linear(64 -> 10) on the last step."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__(ZERO_ONE)
        self.rnn = nn.LSTM(input_size=28, hidden_size=hidden, num_layers=1, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def row_states(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden state after every row (B, 28, H) for pixels in [0, 1]."""
        out, _ = self.rnn(self.normalise(x).reshape(-1, 28, 28))
        return out

    def row_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits after each row (B, 28, 10): what the LSTM would answer if it stopped there."""
        return self.head(self.row_states(x))

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.row_states(x)[:, -1]  # (B, 64) last LSTM step


class SinCosRNN(nn.Module):
    """Seed 002's regressor: a recurrent cell over sin(t) with Linear(H -> 1) at every step."""

    def __init__(self, cell: str = "rnn", hidden: int = 32) -> None:
        super().__init__()
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell.lower()]
        self.rnn = rnn_cls(input_size=1, hidden_size=hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, h: object = None) -> tuple[torch.Tensor, object]:
        """x (B, T, 1) -> (prediction (B, T, 1), new hidden state)."""
        y, h = self.rnn(x, h)
        return self.out(y), h


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to build a model, where it comes from and how to train it."""

    name: str
    title: str
    seed_file: str
    builder: type[nn.Module]
    norm: tuple[float, float]
    seed_recipe: TrainConfig | SinCosConfig
    best_recipe: TrainConfig | SinCosConfig
    seed_reports: str = ""  # what the seed tutorial reports, for the reproduction table
    seed_eval_size: int = 10_000  # test subset the seed reports on
    classifier: bool = True

    def build(self) -> nn.Module:
        """A freshly initialised model."""
        return self.builder()

    @property
    def params(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.build().parameters() if p.requires_grad)

    def recipe(self, which: str) -> TrainConfig | SinCosConfig:
        """'seed' or 'best' recipe."""
        if which not in ("seed", "best"):
            raise ValueError(f"unknown recipe {which!r}: use 'seed' or 'best'")
        return self.seed_recipe if which == "seed" else self.best_recipe


# Augmentation that covers what the sketchpad produces after preprocessing (issue 4).
PAD_AUGMENT = Augment(rotate_deg=15, scale=(0.85, 1.1), shift_px=2.0, shear=0.15, elastic=0.7,
                      thickness_p=0.35, styles_p=0.25)


# Training digits drawn on the pad and preprocessed, added to MNIST's 60k (mnist_demo.drawing.pad_renders), for
# lenet5 and cnn_fc3: they then read pad drawings best (sketch benchmark 98.5-98.6 % vs 98.0-98.3 %) at a
# cost of ~0.1-0.15 points on clean MNIST, so lenet5_fc (the best clean score) has none and fewer pen renders.
PAD_RENDERS = 30_000
# With pad renders, more of the 1s, 7s and 9s get a style stroke: those styles were the renders' main misreads.
RENDER_AUGMENT = replace(PAD_AUGMENT, styles_p=0.4)
# Renders of the training writers' real pen digits (mnist_demo.drawing.pen_renders), in every best recipe: real
# people's handwriting, augmented on the trajectories (issue 16). ~5 renders of each of their ~6,000 digits.
# Epochs are cut so each recipe still sees about as many images as it did on MNIST alone (same train time).
PEN_RENDERS = 30_000
LENET_FC_PEN_RENDERS = 6_000  # about one render of each training writer's digit (see lenet5_fc below)


def _best(epochs: float, lr: float, batch: int = 128, augment: Augment = PAD_AUGMENT, **kw: object) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=batch, lr=lr, optimizer="adamw", weight_decay=1e-4,
                       schedule="onecycle", label_smoothing=0.05, eval_every=0, augment=augment,
                       seed=0, **kw)


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec(
        "cnn", "CNN (2 conv + linear)", "000", CNN, ZERO_ONE,
        TrainConfig(epochs=1, batch_size=50, lr=1e-3, optimizer="adam", eval_every=50, eval_size=2000, seed=1),
        _best(7, 3e-3, pen_renders=PEN_RENDERS, train_size=60_000 + PEN_RENDERS),
        "~98% after 1 epoch (first 2000 test images)", 2000),
    "lenet5": ModelSpec(
        "lenet5", "LeNet-5 (C5 as conv)", "001", LeNet5, MNIST_NORM,
        TrainConfig(epochs=1, batch_size=64, lr=1e-3, optimizer="adam", eval_every=0, seed=1),
        _best(12, 3e-3, pad_renders=PAD_RENDERS, pen_renders=PEN_RENDERS,
              train_size=60_000 + PAD_RENDERS + PEN_RENDERS, augment=RENDER_AUGMENT),
        "— (optimiser not given; Adam 1e-3 used)"),
    "lenet5_fc": ModelSpec(
        "lenet5_fc", "LeNet-5 (C5 as Linear 400→120)", "001", LeNet5FC, MNIST_NORM,
        TrainConfig(epochs=1, batch_size=64, lr=1e-3, optimizer="adam", eval_every=0, seed=1),
        # It keeps the best clean score, so fewer pen renders: with 30,000 it read unseen writers better (98.53 %)
        # but reached only 99.40 % on MNIST. The share was chosen on validation data alone (MNIST train[:50k] +
        # renders of writers 1-20; scored on train[50k:] and writers 21-24): 0 / 6,000 / 9,000 / 12,000 renders
        # gave 99.40 / 99.41 / 99.40 / 99.33 % clean and 96.6 / 99.2 / 99.1 / 99.0 % pen (benchmarks/pen_share.py).
        _best(20, 3e-3, pen_renders=LENET_FC_PEN_RENDERS, train_size=60_000 + LENET_FC_PEN_RENDERS),
        "99.567% (epochs not given)"),
    "cnn_fc3": ModelSpec(
        "cnn_fc3", "CNN + 3 FC layers", "003", CNNFC3, HALF_NORM,
        TrainConfig(epochs=3, batch_size=64, lr=1e-3, optimizer="sgd", momentum=0.9, eval_every=0, seed=1),
        _best(5, 2e-3, pad_renders=PAD_RENDERS, pen_renders=PEN_RENDERS,
              train_size=60_000 + PAD_RENDERS + PEN_RENDERS, augment=RENDER_AUGMENT), "96% after 3 epochs"),
    "simple_cnn": ModelSpec(
        "simple_cnn", "Simple CNN (6 maps)", "004", SimpleCNN, MNIST_NORM,
        TrainConfig(epochs=1, batch_size=64, lr=0.01, optimizer="sgd", momentum=0.5, eval_every=0, seed=1),
        _best(14, 1e-2, pen_renders=PEN_RENDERS, train_size=60_000 + PEN_RENDERS),
        "— (prints test accuracy; no figure given)"),
    "mlp": ModelSpec(
        "mlp", "MLP 784→8→8→10", "004", MLP, MNIST_NORM,
        TrainConfig(epochs=1, batch_size=64, lr=0.01, optimizer="sgd", momentum=0.5, eval_every=0, seed=1),
        TrainConfig(epochs=20, batch_size=128, lr=1e-2, optimizer="adamw", weight_decay=0.0,
                    schedule="onecycle", eval_every=0, seed=0, pen_renders=PEN_RENDERS,
                    train_size=60_000 + PEN_RENDERS),
        "— (the pixel-shuffle control)"),
    "lstm": ModelSpec(
        "lstm", "LSTM reading rows", "002", LSTMClassifier, ZERO_ONE,
        TrainConfig(epochs=1, batch_size=64, lr=0.01, optimizer="adam", eval_every=50, eval_size=2000, seed=1),
        _best(8, 4e-3, pen_renders=PEN_RENDERS, train_size=60_000 + PEN_RENDERS),
        "~0.97 after 1 epoch (first 2000 test images)", 2000),
    "rnn_sin_cos": ModelSpec(
        "rnn_sin_cos", "RNN sin→cos regressor", "002", SinCosRNN, ZERO_ONE,
        SinCosConfig(), SinCosConfig(cell="gru", hidden=64, lr=0.01, steps=100, lr_decay=0.99),
        "MSE shrinks from ~0.5 to a close fit in 100 steps", classifier=False),
}
CLASSIFIERS: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.classifier)


def get_spec(name: str) -> ModelSpec:
    """Registry entry for `name`, with a clear error listing the valid names."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def build_model(name: str) -> nn.Module:
    """A freshly initialised classifier by registry name."""
    return get_spec(name).build()
