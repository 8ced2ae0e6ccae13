"""LeNet-5 taken apart (seed 001): layer tables traced from the real modules, C5 conv == Linear(400->120).

The seed's claim is that C5, a 5x5 convolution over S4's 5x5 maps, is a fully connected layer. We show
it two ways: the traced layer tables (120@1x1 vs 120, both 48,120 parameters) and numerically, by copying
a trained conv LeNet-5 into the FC variant and comparing logits on the test set.
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from ..config import RESULTS_DIR
from ..data import MnistSplit
from ..engine import predict_logits
from ..fileio import atomic_write
from ..models import LeNet5, LeNet5FC
from ..trust.calibration import apply_temperature

TABLE_COLUMNS = ("layer", "operation", "output", "parameters", "arithmetic")
WHY_CONV_IS_FC = (
    "S4 hands C5 sixteen 5×5 maps. A 5×5 kernel fits on a 5×5 map in exactly one position (5 − 5 + 1 = 1), "
    "so each of C5's 120 filters multiplies all 16·5·5 = 400 inputs by its own 400 weights and adds a bias: "
    "that is one row of a 400→120 weight matrix. Nothing slides and no weight is shared between positions, "
    "so the convolution *is* a fully connected layer; reshaping its (120, 16, 5, 5) weight to (120, 400) "
    "gives the Linear layer that computes the same numbers.")


@dataclass(frozen=True)
class LayerRow:
    """One row of a layer table: what a layer does, what comes out, and the arithmetic behind it."""

    layer: str
    operation: str
    output: str  # "6@28×28" for feature maps, "120" for a vector
    parameters: int
    arithmetic: str

    def as_list(self) -> list[str | int]:
        """The row in TABLE_COLUMNS order."""
        return [self.layer, self.operation, self.output, self.parameters, self.arithmetic]


@dataclass(frozen=True)
class Equivalence:
    """How closely two networks agree on a set of images."""

    max_abs_diff: float  # max |logit_a - logit_b| over every image and class
    n_images: int
    same_predictions: int  # images on which both pick the same digit
    max_abs_logit: float  # scale of the logits, so the difference can be read relative to it


def format_shape(shape: tuple[int, ...]) -> str:
    """(C, H, W) -> 'C@H×W'; (D,) -> 'D' (batch dimension already dropped)."""
    if len(shape) == 3:
        return f"{shape[0]}@{shape[1]}×{shape[2]}"
    return "×".join(str(s) for s in shape)


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _conv_text(m: nn.Conv2d, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[str, str]:
    k, p, s = m.kernel_size[0], m.padding[0], m.stride[0]
    op = f"conv {m.in_channels}→{m.out_channels}, {k}×{k}" + (f", padding {p}" if p else "")
    h = in_shape[1]
    size = f"{h} − {k} + 1 = {out_shape[1]}" if s == 1 else f"({h} − {k}) / {s} + 1 = {out_shape[1]}"
    if p:  # 28 padded by 2 is the paper's 32x32 input
        padded = h + 2 * p
        size = f"{h} + 2·{p} = {padded} (the paper's {padded}×{padded}); {padded} − {k} + 1 = {out_shape[1]}"
    if out_shape[1:] == (1, 1):
        size += f": each filter covers all {m.in_channels}·{k}·{k} = {m.in_channels * k * k} inputs"
    bias = m.out_channels if m.bias is not None else 0
    params = f"{m.out_channels}·({m.in_channels}·{k}·{k}) + {bias} = {_n_params(m):,}"
    return op, f"{size}; {params} params"


def _linear_text(m: nn.Linear) -> tuple[str, str]:
    bias = m.out_features if m.bias is not None else 0
    return (f"linear {m.in_features}→{m.out_features}",
            f"{m.in_features}·{m.out_features} + {bias} = {_n_params(m):,} params")


def _display_name(target: str) -> str:
    return "output" if target == "head" else target.upper() if re.fullmatch(r"[cf]\d+", target) else target


def layer_table(model: nn.Module, image_size: int = 28) -> list[LayerRow]:
    """The model's layers traced on a real (1, 1, 28, 28) input: name, operation, output shape, parameters.

    Shapes come from running the model (torch.fx ShapeProp), never from typed numbers; a ReLU is folded
    into the row before it since it changes nothing in the shapes.
    """
    gm = fx.symbolic_trace(model)
    with torch.no_grad():
        device = next(model.parameters()).device
        ShapeProp(gm).propagate(torch.zeros(1, 1, image_size, image_size, device=device))
    modules = dict(gm.named_modules())
    rows: list[LayerRow] = []
    last_conv_index = 0
    for node in gm.graph.nodes:
        meta = node.meta.get("tensor_meta")
        shape = tuple(meta.shape[1:]) if meta is not None and hasattr(meta, "shape") else ()
        in_node = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
        in_meta = in_node.meta.get("tensor_meta") if in_node is not None else None
        in_shape = tuple(in_meta.shape[1:]) if in_meta is not None and hasattr(in_meta, "shape") else ()
        if node.op == "placeholder":
            rows.append(LayerRow("input", "pixels in [0, 1]", format_shape(shape), 0, "the 28×28 MNIST image"))
        elif node.op == "call_function" and node.target is operator.truediv:
            # (x - mean) / std: the seed's Normalize, done inside the model
            rows[-1] = LayerRow("input", "normalise (x − 0.1307) / 0.3081", format_shape(shape), 0,
                                rows[-1].arithmetic)
        elif node.op == "call_module":
            m = modules[node.target]
            name = _display_name(node.target)
            if isinstance(m, nn.Conv2d):
                op, arith = _conv_text(m, in_shape, shape)
                match = re.fullmatch(r"c(\d+)", node.target)
                last_conv_index = int(match.group(1)) if match else last_conv_index
            elif isinstance(m, nn.Linear):
                op, arith = _linear_text(m)
            else:
                op, arith = type(m).__name__, ""
            rows.append(LayerRow(name, op, format_shape(shape), _n_params(m), arith))
        elif node.op == "call_function" and node.target is F.max_pool2d:
            k = node.args[1] if len(node.args) > 1 else node.kwargs.get("kernel_size")
            name = f"S{last_conv_index + 1}" if last_conv_index else "pool"
            rows.append(LayerRow(name, f"max-pool {k}×{k}", format_shape(shape), 0,
                                 f"{in_shape[1]} / {k} = {shape[1]}"))
        elif node.op == "call_function" and node.target in (F.relu, torch.relu):
            prev = rows[-1]
            rows[-1] = LayerRow(prev.layer, prev.operation + " + ReLU", prev.output, prev.parameters, prev.arithmetic)
        elif node.op == "call_method" and node.target in ("flatten", "view", "reshape"):
            factors = "·".join(str(s) for s in in_shape)
            rows.append(LayerRow("flatten", "flatten to a vector", format_shape(shape), 0,
                                 f"{factors} = {int(np.prod(in_shape))}"))
    total = sum(r.parameters for r in rows)
    rows.append(LayerRow("total", "", "", total, f"{total:,} trainable weights and biases"))
    return rows


def transfer_c5_to_fc(conv_model: LeNet5) -> LeNet5FC:
    """A LeNet5FC holding every weight of `conv_model`, C5's (120, 16, 5, 5) kernel reshaped to (120, 400), and
    its calibration temperature (a committed model's logits are divided by it: without it the copy's logits
    differed by up to 4.8 while every answer agreed)."""
    if not isinstance(conv_model, LeNet5) or isinstance(conv_model, LeNet5FC):
        raise ValueError(f"expected a LeNet5 with C5 as a convolution, got {type(conv_model).__name__}")
    state = {k: v.detach().clone() for k, v in conv_model.state_dict().items()}
    # S4 (B, 16, 5, 5).flatten(1) orders inputs channel-major (c*25 + h*5 + w), exactly like reshape(120, -1).
    state["c5.weight"] = state["c5.weight"].reshape(state["c5.weight"].shape[0], -1)
    fc = LeNet5FC()
    fc.load_state_dict(state)
    apply_temperature(fc, getattr(conv_model, "temperature", None))
    device = next(conv_model.parameters()).device
    return fc.to(device).eval()


def logit_difference(model_a: nn.Module, model_b: nn.Module, split: MnistSplit,
                     device: torch.device | str = "cpu", n: int | None = None) -> Equivalence:
    """Max |logit difference| of two classifiers over the first n images of `split` (all by default)."""
    x = split.float_images(device, n)
    a, b = predict_logits(model_a, x), predict_logits(model_b, x)
    return Equivalence(float((a - b).abs().max()), int(x.shape[0]),
                       int((a.argmax(1) == b.argmax(1)).sum()), float(a.abs().max()))


def first_layer_filters(model: nn.Module) -> np.ndarray:
    """C1's kernels as (out_channels, k, k) floats."""
    conv = getattr(model, "c1", None)
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"{type(model).__name__} has no C1 convolution")
    return conv.weight.detach().cpu()[:, 0].numpy().copy()


@torch.no_grad()
def first_layer_maps(model: nn.Module, image: np.ndarray) -> np.ndarray:
    """C1's feature maps (out_channels, 28, 28) for one (28, 28) image in [0, 1] (before pooling and ReLU)."""
    img = np.asarray(image, dtype=np.float32)
    if img.shape != (28, 28):
        raise ValueError(f"expected a 28×28 image, got shape {img.shape}")
    device = next(model.parameters()).device
    x = torch.from_numpy(img).to(device)[None, None]
    return model.c1(model.normalise(x))[0].cpu().numpy()


# The two variants' layer tables, traced once and shipped: tracing (torch.fx) at app start cost ~0.5 s and
# patches nn.Module.__call__ process-wide while it runs, so no model may run beside it.
TABLES_PATH = RESULTS_DIR / "lenet_tables.json"
TABLE_MODELS = ("lenet5", "lenet5_fc")


def traced_tables() -> dict[str, list[LayerRow]]:
    """Both LeNet-5 variants' layer tables, traced now from fresh models (the shapes do not depend on weights)."""
    from ..models import build_model

    return {name: layer_table(build_model(name).eval()) for name in TABLE_MODELS}


def write_tables(path: Path = TABLES_PATH) -> Path:
    """Trace both variants and write their tables as JSON (`python -m mnist_demo.experiments.lenet_anatomy`)."""
    data = {name: [r.as_list() for r in rows] for name, rows in traced_tables().items()}
    return atomic_write(path, lambda fh: fh.write(json.dumps(data, ensure_ascii=False, indent=1) + "\n"), text=True)


def shipped_tables(path: Path = TABLES_PATH) -> dict[str, list[LayerRow]]:
    """The shipped layer tables; traced now when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: [LayerRow(*row) for row in data[name]] for name in TABLE_MODELS}
    except (OSError, ValueError, KeyError, TypeError):
        return traced_tables()


if __name__ == "__main__":
    print(f"wrote {write_tables()}")
