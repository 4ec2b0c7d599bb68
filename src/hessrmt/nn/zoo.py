"""The built-in model zoo: the architectures of Baskerville, Granziol & Keating (arXiv 2102.06740,
code ``npbaskerville/dnn-rmt-spacings``), sized for the input at hand.

=================  =========================================================================
``logreg``         Flatten -> Linear(d, C)  (softmax regression with cross-entropy)
``mlp``            d -> 10 -> 100 -> C, ReLU, biases (the paper's ``Mnist_NN``)
``deep-mlp``       d -> 10 -> 100 -> 100 -> C, ReLU (the paper's ``MLP_deep``)
``lenet``          Conv(c->6) ReLU MaxPool2, Conv(6->16) ReLU MaxPool2, FC -> 35 -> 50 -> C
                   (the paper's ``LeNetsmall``: 5x5 kernels for images of side >= 28, 3x3 kernels
                   with padding 1 for smaller images such as the 8x8 digits)
``regression-mlp`` d -> 100 -> 100 -> 50 -> 1, ReLU (the paper's ``MLP_Bike``)
``vgg-small``,     small VGG-style CNNs without / with BatchNorm and a pre-activation ResNet-style
``vgg-small-bn``,  CNN with BatchNorm (:mod:`hessrmt.nn.architectures`; BatchNorm mode is the
``preresnet-small`` curvature pass's explicit ``mode`` argument)
``resnet20``       He et al. 2016's CIFAR ResNet-20 (BatchNorm, option B shortcuts, 272,474
                   parameters on 32x32x3; :mod:`hessrmt.nn.resnet`)
``transformer``    a pre-LayerNorm transformer encoder for (tokens, features) sequences such as
                   the ``digits-rows`` data set (:mod:`hessrmt.nn.transformer`)
=================  =========================================================================

``"package.module:function"`` imports a user function returning an ``nn.Module``; it is called
with ``input_shape=`` and ``n_outputs=`` keyword arguments where its signature accepts them.
Parameters are initialised with PyTorch's defaults under ``torch.manual_seed(seed)`` inside a
forked RNG state (the global state is untouched), then cast to ``dtype``.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import pickle
import re
from collections.abc import Sequence

import torch
from torch import nn

from hessrmt.errors import InputError

ZOO = (
    "logreg",
    "mlp",
    "deep-mlp",
    "lenet",
    "regression-mlp",
    "vgg-small",
    "vgg-small-bn",
    "preresnet-small",
    "resnet20",
    "transformer",
)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _lenet(input_shape: tuple[int, ...], n_outputs: int) -> nn.Sequential:
    if len(input_shape) != 3:
        raise InputError(
            f"lenet needs image inputs (channels, height, width), got input shape "
            f"{input_shape}; use an image data set such as digits, mnist or cifar10"
        )
    c, h, w = input_shape
    k, pad = (5, 0) if min(h, w) >= 28 else (3, 1)
    features = nn.Sequential(
        nn.Conv2d(c, 6, k, padding=pad),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, k, padding=pad),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    with torch.no_grad():
        n_flat = features(torch.zeros(1, c, h, w)).shape[1]
    if n_flat == 0:
        raise InputError(f"input images {h}x{w} are too small for lenet")
    return nn.Sequential(
        features,
        nn.Linear(n_flat, 35),
        nn.ReLU(),
        nn.Linear(35, 50),
        nn.ReLU(),
        nn.Linear(50, n_outputs),
    )


def _import_builder(spec: str):  # type: ignore[no-untyped-def]
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InputError(
            f"model {spec!r}: expected a zoo name ({', '.join(ZOO)}) or 'package.module:function'"
        )
    try:
        module = importlib.import_module(module_name)
    except SystemExit as exc:
        raise InputError(
            f"model {spec!r}: importing {module_name!r} called sys.exit({exc.code!r})"
        ) from None
    except Exception as exc:
        msg = " ".join(str(exc).split())[:200]
        raise InputError(
            f"model {spec!r}: cannot import module {module_name!r} ({type(exc).__name__}: {msg})"
        ) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InputError(f"model {spec!r}: {module_name!r} has no callable {attr!r}")
    return fn


def build_model(
    name: str,
    *,
    input_shape: Sequence[int],
    n_outputs: int,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> nn.Module:
    """Build a zoo model (see the module docstring) for inputs of ``input_shape``."""
    input_shape = tuple(int(s) for s in input_shape)
    d = math.prod(input_shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "logreg":
            model: nn.Module = _mlp([d, n_outputs])
        elif name == "mlp":
            model = _mlp([d, 10, 100, n_outputs])
        elif name == "deep-mlp":
            model = _mlp([d, 10, 100, 100, n_outputs])
        elif name == "lenet":
            model = _lenet(input_shape, n_outputs)
        elif name == "regression-mlp":
            model = _mlp([d, 100, 100, 50, n_outputs])
        elif name in ("vgg-small", "vgg-small-bn", "preresnet-small", "resnet20", "transformer"):
            from hessrmt.nn.architectures import build_architecture

            model = build_architecture(name, input_shape, n_outputs)
        elif ":" in name:
            fn = _import_builder(name)
            params = inspect.signature(fn).parameters
            kwargs = {
                k: v
                for k, v in (("input_shape", input_shape), ("n_outputs", n_outputs))
                if k in params
            }
            model = _call_builder(name, fn, kwargs)
            if not isinstance(model, nn.Module):
                raise InputError(
                    f"model {name!r} returned a {type(model).__name__}, not a torch.nn.Module"
                )
        else:
            raise InputError(
                f"unknown model {name!r}; choose one of {', '.join(ZOO)} or give "
                "'package.module:function'"
            )
    model = model.to(dtype)
    check_model_output(model, input_shape, n_outputs, dtype=dtype, name=name)
    return model


def _call_builder(name: str, fn, kwargs: dict):  # type: ignore[no-untyped-def]
    """Call a user's model builder; anything it raises (or a ``sys.exit``) is one InputError."""
    try:
        return fn(**kwargs)
    except SystemExit as exc:
        raise InputError(
            f"model builder {name!r} called sys.exit({exc.code!r}); a builder must return an "
            "nn.Module"
        ) from None
    except InputError:
        raise
    except Exception as exc:
        msg = " ".join(str(exc).split())[:200]
        raise InputError(f"model builder {name!r} raised {type(exc).__name__}: {msg}") from exc


def check_model_output(
    model: nn.Module,
    input_shape: Sequence[int],
    n_outputs: int,
    *,
    dtype: torch.dtype = torch.float64,
    name: str = "the model",
) -> None:
    """Run ``model`` on two zero inputs; its output must be ``(2, n_outputs)`` and finite.

    Catches, before any costly step, a model whose output size does not match the data's classes
    (or targets), one that fails on the data's input shape, and one that returns NaN. BatchNorm
    and dropout are in eval mode for the check (restored afterwards).
    """
    x = torch.zeros((2, *tuple(int(s) for s in input_shape)), dtype=dtype)
    try:
        x = x.to(next(model.parameters()).device)
    except StopIteration:
        pass
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except SystemExit as exc:
        raise InputError(f"model {name!r} called sys.exit({exc.code!r}) in forward") from None
    except Exception as exc:
        msg = " ".join(str(exc).split())[:200]
        raise InputError(
            f"model {name!r} fails on inputs of shape {tuple(input_shape)}: "
            f"{type(exc).__name__}: {msg}"
        ) from exc
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise InputError(f"model {name!r} returns a {type(out).__name__}, not a tensor")
    if tuple(out.shape) != (2, n_outputs):
        raise InputError(
            f"model {name!r} outputs shape {tuple(out.shape[1:])} per sample, but the data need "
            f"{n_outputs} output(s) (classes or targets); change its last layer"
        )
    if not torch.isfinite(out).all():
        raise InputError(f"model {name!r} returns non-finite outputs (NaN or inf) at zero input")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_checkpoint(model: nn.Module, path: str) -> nn.Module:
    """Load a ``state_dict`` (or a dict holding one under ``"state_dict"``/``"model"``) into
    ``model``; a missing file or a mismatch raises :class:`~hessrmt.errors.InputError`."""
    from hessrmt.validation import existing_file, sniff

    existing_file(path, "--checkpoint")
    if sniff(path) not in ("zip", "pickle"):
        raise InputError(
            f"checkpoint {path} cannot be read: not a torch.save file (neither ZIP nor pickle)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message advises weights_only=False, which would run the file's code: not here
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise InputError(
            f"checkpoint {path} cannot be read safely: it holds objects other than tensors and "
            f"plain containers{what}; hessrmt loads state_dicts only (torch.load "
            "weights_only=True)"
        ) from exc
    except Exception as exc:
        msg = " ".join(str(exc).split())[:200]
        raise InputError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {msg})") from exc
    if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        state = state.get("state_dict", state.get("model", state))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"checkpoint {path} does not hold a state_dict (names -> tensors)")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise InputError(
            f"checkpoint {path} holds non-finite weights (NaN or inf) in {', '.join(bad[:3])}; "
            "it cannot be analysed: use a checkpoint from before training diverged"
        )
    dtype = next(model.parameters()).dtype
    try:
        model.load_state_dict(
            {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        )
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise InputError(
            f"checkpoint {path} does not match the model: {' '.join(first[:2])[:300]}"
        ) from exc
    return model
