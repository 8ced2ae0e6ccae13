"""The pixel-shuffle experiment's shipped results file (mnist_demo/results/pixel_shuffle.json): write and read.

The app shows these without training; `python -m mnist_demo.shuffle --write` remakes the file.
"""

from __future__ import annotations

import datetime
import json
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import MnistSplit
from .fileio import atomic_write
from .shuffle import ShuffleResult, permutation_digest, pixel_permutation

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "pixel_shuffle.json"


class ResultsError(ValueError):
    """The shipped results file is missing or unreadable; the message names the command that remakes it."""


@dataclass(frozen=True)
class ShippedResults:
    """What the app shows without training: the shipped and live-recipe results plus example digits."""

    shipped: ShuffleResult
    live: ShuffleResult  # the live button's recipe, run once with the same seeds (the reproduction reference)
    perm_seed: int
    perm_digest: str
    example_images: np.ndarray  # (n, 28, 28) uint8 test digits before shuffling
    example_labels: list[int]
    created: str
    versions: dict[str, str]


def example_indices(test: MnistSplit) -> list[int]:
    """Index of the first test image of each digit 0-9."""
    labels = test.labels.numpy()
    return [int(np.flatnonzero(labels == d)[0]) for d in range(10) if (labels == d).any()]


def save_results(shipped: ShuffleResult, live: ShuffleResult, test: MnistSplit, path: Path = RESULTS_PATH,
                 created: str | None = None) -> Path:
    """Write the results file atomically (temp file + os.replace); `created` defaults to now (UTC)."""
    if shipped.recipe.perm_seed != live.recipe.perm_seed:
        raise ValueError("the shipped and live results must use the same pixel permutation")
    idx = example_indices(test)
    payload = {
        "experiment": "pixel_shuffle (seed 004)",
        "made_by": "python -m mnist_demo.shuffle --write",
        "created": created or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": str(torch.__version__), "numpy": np.__version__, "python": platform.python_version()},
        "permutation": {"seed": shipped.recipe.perm_seed,
                        "sha256_16": permutation_digest(pixel_permutation(shipped.recipe.perm_seed))},
        "shipped": shipped.to_dict(),
        "live": live.to_dict(),
        # 784 uint8 pixels per digit as one hex string: compact and diff-friendly
        "examples": {"test_indices": idx, "labels": [int(test.labels[i]) for i in idx],
                     "images_hex": [test.images[i].numpy().tobytes().hex() for i in idx]},
    }
    return atomic_write(path, lambda fh: fh.write(json.dumps(payload, indent=1) + "\n"), text=True)


def load_results(path: Path = RESULTS_PATH) -> ShippedResults:
    """The shipped results; ResultsError with the remake command when missing or malformed."""
    hint = "remake it with: python -m mnist_demo.shuffle --write"
    try:
        d = json.loads(Path(path).read_text())
        ex = d["examples"]
        images = np.stack([np.frombuffer(bytes.fromhex(h), np.uint8) for h in ex["images_hex"]]).reshape(-1, 28, 28)
        return ShippedResults(ShuffleResult.from_dict(d["shipped"]), ShuffleResult.from_dict(d["live"]),
                              int(d["permutation"]["seed"]), str(d["permutation"]["sha256_16"]), images,
                              [int(x) for x in ex["labels"]], str(d["created"]), dict(d["versions"]))
    except FileNotFoundError:
        raise ResultsError(f"the pixel-shuffle results file {path} is missing; {hint}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"the pixel-shuffle results file {path} is unreadable ({type(exc).__name__}); "
                           f"{hint}") from None
