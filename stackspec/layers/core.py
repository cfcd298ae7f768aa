"""Dense, dropout and the normalization layers."""

from __future__ import annotations

from ..diagnostics import example_shape
from .activations import ACTIVATIONS, ALIASES
from .args import Arg
from .kinds import LayerKind, Shape, ShapeError, Weight

INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_normal",
    "zeros",
)


def activation_arg() -> Arg:
    return Arg(
        "activation", "choice", "linear", positional=True, choices=ACTIVATIONS, aliases=ALIASES
    )


def _dense_shape(p: dict, shape: Shape) -> Shape:
    # On the last axis, as Keras's Dense: (F) -> (units), (T, F) -> (T, units). An image's last
    # axis is its width, almost never what is meant: (C,H,W) stays an error that says flatten.
    if len(shape) == 3:
        raise ShapeError(
            f"dense expects a flat (features) or (T,F) sequence input, got shape "
            f"{example_shape(shape)}",
            "add `flatten` before `dense`",
        )
    return (*shape[:-1], p["units"])


def _dense_weights(p: dict, shape: Shape) -> dict[str, Weight]:
    fan_in, units = shape[-1], p["units"]
    w = {"weight": Weight((units, fan_in), p["init"], fan_in, units)}
    if p["bias"]:
        w["bias"] = Weight((units,), "zeros")
    return w


def _norm_features(layer: str, shape: Shape) -> int:
    if len(shape) not in (1, 3):
        raise ShapeError(f"{layer} expects (F) or (C,H,W) input, got shape {example_shape(shape)}")
    return shape[0]


def feature_count(layer: str, shape: Shape) -> int:
    """The per-feature size of batchnorm and prelu: F of (F) and of a (T,F) sequence (the last
    axis, Keras's axis=-1, shared over time), C of (C,H,W) (shared over H and W)."""
    if len(shape) == 2:
        return shape[-1]
    return _norm_features(layer, shape)


def _batchnorm_shape(p: dict, shape: Shape) -> Shape:
    feature_count("batchnorm", shape)
    return shape


def _affine(p: dict, n: int) -> dict[str, Weight]:
    if not p["affine"]:
        return {}
    return {"weight": Weight((n,), "ones"), "bias": Weight((n,), "zeros")}


def _batchnorm_state(p: dict, shape: Shape) -> dict[str, Weight]:
    n = feature_count("batchnorm", shape)
    return {"running_mean": Weight((n,), "zeros"), "running_var": Weight((n,), "ones")}


def _normalize_shape(p: dict, shape: Shape) -> Shape:
    _norm_features("normalize", shape)
    return shape


def _normalize_state(p: dict, shape: Shape) -> dict[str, Weight]:
    # Until adapted (fit.py), mean 0 and variance 1: the identity.
    n = shape[0]
    return {"mean": Weight((n,), "zeros"), "var": Weight((n,), "ones")}


def _prelu_shape(p: dict, shape: Shape) -> Shape:
    feature_count("prelu", shape)
    return shape


def _prelu_weights(p: dict, shape: Shape) -> dict[str, Weight]:
    # One slope per feature of (F) and of (T,F), per channel of (C,H,W): torch's
    # nn.PReLU(num_parameters) on the feature axis, and Keras's PReLU sharing every other axis
    # (shared_axes=[1] over time, [2, 3] over an image's H and W), so the counts agree.
    return {"weight": Weight((feature_count("prelu", shape),), "quarter")}


LAYERS = {
    k.name: k
    for k in (
        LayerKind(
            "dense",
            (
                Arg("units", "int", positional=True, size=True),
                activation_arg(),
                Arg("bias", "bool", True),
                Arg("init", "choice", "glorot_uniform", choices=INITIALIZERS),
            ),
            "fully connected on the last axis: y = x @ W.T + b, then the activation; "
            "(F) -> (units), (T,F) -> (T,units)",
            _dense_shape,
            _dense_weights,
            examples=(
                ("dense 4", (5,)),
                ("dense 3 relu bias=false", (5,)),
                ("dense 3 tanh init=he_normal", (4,)),
                ("dense 2 relu", (3, 4)),
                ("dense 4", (1, 8, 8), "E301"),
                ("dense 0", (3,), "E304"),
                ("dense 4 rellu", (3,), "E203"),
            ),
        ),
        LayerKind(
            "dropout",
            (Arg("rate", "float", positional=True, low=0, high=1, high_open=True),),
            "inverted dropout in training, identity in evaluation",
            examples=(
                ("dropout 0.5", (6,)),
                ("dropout 0.2", (2, 3, 3)),
                ("dropout 0.3", (4, 3)),
                ("dropout 0", (4,)),
                ("dropout 1.5", (4,), "E205"),
                ("dropout 1", (4,), "E205"),
                ("dropout", (4,), "E206"),
            ),
            keeps_output_copy=True,
        ),
        LayerKind(
            "batchnorm",
            (
                Arg("momentum", "float", 0.99, low=0, high=1),
                Arg("eps", "float", 0.001, low=0, low_open=True),
                Arg("affine", "bool", True),
            ),
            "batch normalization per feature (F), per feature of a (T,F) sequence (statistics "
            "over the batch and time, Keras's axis=-1) or per channel (C,H,W)",
            _batchnorm_shape,
            lambda p, s: _affine(p, feature_count("batchnorm", s)),
            _batchnorm_state,
            examples=(
                ("batchnorm", (4,)),
                ("batchnorm momentum=0.5 eps=0.1", (3, 4, 4)),
                ("batchnorm affine=false", (2, 3, 2)),
                ("batchnorm", (5, 3)),
                ("batchnorm momentum=0.9 affine=false", (4, 2)),
                ("batchnorm momentum=1.5", (4,), "E205"),
                ("batchnorm eps=0", (4,), "E205"),
            ),
            batch_statistics=True,
            keeps_output_copy=True,
        ),
        LayerKind(
            "normalize",
            (),
            "standardization with the training split's mean and variance (Keras Normalization "
            "after adapt), per feature (F) or per channel (C,H,W); first layer only",
            _normalize_shape,
            state=_normalize_state,
            examples=(
                ("normalize", (5,)),
                ("normalize", (2, 3, 3)),
                ("normalize 3", (4,), "E209"),
                ("normalize eps=0.1", (4,), "E202"),
            ),
            adapted=True,
        ),
        LayerKind(
            "layernorm",
            (Arg("eps", "float", 0.00001, low=0, low_open=True), Arg("affine", "bool", True)),
            "layer normalization over the last axis",
            weights=lambda p, s: _affine(p, s[-1]),
            examples=(
                ("layernorm", (6,)),
                ("layernorm", (2, 3, 4)),
                ("layernorm eps=0.01 affine=false", (2, 3, 5)),
                ("layernorm", (4, 3)),
                ("layernorm eps=-1", (4,), "E205"),
                ("layernorm affine=1", (4,), "E204"),
            ),
            keeps_output_copy=True,
        ),
        LayerKind(
            "rmsnorm",
            # eps=1e-6 as Keras's RMSNormalization and Llama; torch's default is the dtype's
            # machine epsilon, so the torch backend passes ours.
            (Arg("eps", "float", 0.000001, low=0, low_open=True), Arg("affine", "bool", True)),
            "RMS normalization over the last axis: x / sqrt(mean(x^2) + eps) * weight",
            weights=lambda p, s: {"weight": Weight((s[-1],), "ones")} if p["affine"] else {},
            examples=(
                ("rmsnorm", (6,)),
                ("rmsnorm", (2, 3, 4)),
                ("rmsnorm eps=0.01 affine=false", (2, 3, 5)),
                ("rmsnorm", (4, 3)),
                ("rmsnorm eps=0", (4,), "E205"),
                ("rmsnorm affine=1", (4,), "E204"),
            ),
            keeps_output_copy=True,
        ),
        LayerKind(
            "prelu",
            (),
            "x if x > 0 else slope * x, a trainable slope per feature (F), per feature of a (T,F) "
            "sequence (shared over time) or per channel (C,H,W), initially 0.25",
            _prelu_shape,
            _prelu_weights,
            examples=(
                ("prelu", (5,)),
                ("prelu", (2, 3, 4)),
                ("prelu", (4, 3)),
                ("prelu 0.1", (4,), "E209"),
            ),
        ),
    )
}
