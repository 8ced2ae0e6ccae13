"""Checkpoint files: weights plus metadata, written atomically, loaded with weights_only=True."""

from __future__ import annotations

import dataclasses
import hashlib
import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import CHECKPOINT_DIR
from .fileio import atomic_write
from .models import build_model

FORMAT = 1
# Hugging Face rejects plain-git files over 10 MB; models whose fp32 weights exceed this are stored in fp16.
HALF_PRECISION_ABOVE_BYTES = 9_000_000


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or of the wrong model; the message names the rebuild command."""


def rebuild_command(name: str) -> str:
    """The shell command that (re)makes checkpoints/<name>.pt."""
    return f"python -m mnist_demo.train --model {name} --recipe best"


def checkpoint_path(name: str, directory: Path | None = None) -> Path:
    """Where the committed checkpoint of `name` lives."""
    return (directory or CHECKPOINT_DIR) / f"{name}.pt"


def storage_dtype(model: nn.Module) -> torch.dtype:
    """fp16 for models too large for a 10 MB file in fp32, else fp32."""
    size = sum(p.numel() * 4 for p in model.state_dict().values())
    return torch.float16 if size > HALF_PRECISION_ABOVE_BYTES else torch.float32


def stored_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as it will be stored (CPU, in the storage dtype)."""
    dtype = storage_dtype(model)
    return {k: (v.detach().cpu().to(dtype) if v.is_floating_point() else v.detach().cpu())
            for k, v in model.state_dict().items()}


def round_trip_weights(model: nn.Module) -> None:
    """Load the stored (possibly fp16) weights back, so metrics describe exactly what is saved."""
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in stored_state_dict(model).items()})


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def library_versions() -> dict[str, str]:
    """Versions recorded in every checkpoint's metadata."""
    import torchvision

    return {"torch": str(torch.__version__), "torchvision": str(torchvision.__version__),
            "python": platform.python_version()}


def make_payload(name: str, model: nn.Module, metrics: dict[str, Any], train_config: Any) -> dict[str, Any]:
    """Checkpoint payload: plain types and tensors only (no pickled modules)."""
    state = stored_state_dict(model)
    return {
        "format": FORMAT,
        "name": name,
        "dtype": str(storage_dtype(model)).replace("torch.", ""),
        "state_dict": state,
        "metrics": _jsonable(metrics),
        "train_config": _jsonable(train_config),
        "versions": library_versions(),
    }


def save_payload(payload: dict[str, Any], path: Path) -> Path:
    """Write atomically: a temp file in the same directory, fsync, then os.replace."""
    return atomic_write(path, lambda fh: torch.save(payload, fh))


def save_checkpoint(name: str, model: nn.Module, metrics: dict[str, Any], train_config: Any,
                    path: Path | None = None) -> Path:
    """Save `model` with its metrics and recipe to `path` (default checkpoints/<name>.pt)."""
    return save_payload(make_payload(name, model, metrics, train_config), path or checkpoint_path(name))


def read_payload(path: Path, expected_name: str | None = None) -> dict[str, Any]:
    """The raw payload of a checkpoint file, validated; CheckpointError on anything wrong."""
    name = expected_name or Path(path).stem
    hint = f"rebuild it with: {rebuild_command(name)}"
    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint {path} is missing; {hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/garbage files
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(exc).__name__}); {hint}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state_dict" not in payload:
        raise CheckpointError(f"checkpoint {path} is not a mnist_demo format-{FORMAT} file; {hint}")
    if expected_name and payload.get("name") != expected_name:
        raise CheckpointError(f"checkpoint {path} holds {payload.get('name')!r}, not {expected_name!r}; {hint}")
    problem = _shape_problem(payload)
    if problem:
        raise CheckpointError(f"checkpoint {path} is malformed ({problem}); {hint}")
    return payload


def _shape_problem(payload: dict[str, Any]) -> str | None:
    """What is structurally wrong with a well-formed payload (a list for state_dict, ...), or None."""
    if not isinstance(payload.get("name"), str):
        return "its name is not a string"
    state = payload["state_dict"]
    if not isinstance(state, dict) or not state:
        return f"state_dict is a {type(state).__name__}, not a non-empty dict of tensors"
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        return "state_dict holds something other than named tensors"
    if not isinstance(payload.get("metrics", {}), dict):
        return f"metrics is a {type(payload['metrics']).__name__}, not a dict"
    if not isinstance(payload.get("train_config"), (dict, type(None))):  # None: saved without a recipe
        return f"train_config is a {type(payload['train_config']).__name__}, not a dict"
    return None


def record_metric(name: str, key: str, value: float, path: Path | None = None) -> Path:
    """Add one measured figure (e.g. the sketch benchmark's top-1) to a checkpoint's metrics, atomically."""
    path = path or checkpoint_path(name)
    payload = read_payload(path, expected_name=name)
    payload["metrics"] = {**payload.get("metrics", {}), key: _jsonable(value)}
    return save_payload(payload, path)


def model_from_payload(payload: dict[str, Any], device: torch.device | str = "cpu") -> nn.Module:
    """Build the payload's model, load its weights in fp32 and put it in eval mode on `device`."""
    name = payload.get("name") if isinstance(payload, dict) else None
    problem = _shape_problem(payload) if isinstance(payload, dict) and "state_dict" in payload else "not a payload"
    if problem:
        raise CheckpointError(f"checkpoint for {name!r} is malformed ({problem}); "
                              f"rebuild it with: {rebuild_command(str(name))}")
    try:
        model = build_model(name)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"checkpoint names an unknown model {name!r} ({exc})") from exc
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint for {name} does not fit the model ({exc}); "
                              f"rebuild it with: {rebuild_command(name)}") from exc
    return model.to(device).eval()


def load_checkpoint(name: str, device: torch.device | str = "cpu",
                    path: Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on device, metadata without the weights) for a committed checkpoint."""
    payload = read_payload(path or checkpoint_path(name), expected_name=name)
    model = model_from_payload(payload, device)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model, meta


def file_hash(path: Path) -> str:
    """Short SHA-256 of a file (cache keys for features and maps)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
