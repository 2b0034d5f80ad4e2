"""Plain data between a grading worker (which runs student code) and the grader (which decides the score).

The worker sends JSON only: numbers, strings, lists, dicts and tensors as raw bytes with a dtype and a shape. The grader
rebuilds every tensor itself, as an exact ``torch.Tensor`` (never a subclass the student made), so nothing a student
returns can run code in the grader or lie in a comparison. :func:`decode` refuses anything else.

The other way, grader → worker, is a cloudpickle of the test's own inputs (networks, optimizers, loss functions): the
worker may trust the grader, not the reverse.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import torch

# The dtypes a tensor may come back in (by name): anything else is refused.
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8, torch.int16, torch.int32,
    torch.int64, torch.bool, torch.complex64, torch.complex128)}
MAX_DEPTH = 12
MAX_ITEMS = 100_000


class BadReply(ValueError):
    """The worker's reply is not plain data in the expected form (the student's code wrote something else)."""


def _tensor_bytes(t: torch.Tensor) -> tuple[str, list[int], str]:
    plain = torch.Tensor.as_subclass(t.detach(), torch.Tensor)
    dtype = str(plain.dtype).removeprefix("torch.")
    if plain.device.type == "meta":
        return dtype, list(plain.shape), ""
    data = plain.cpu().contiguous()
    raw = data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b""
    return dtype, list(data.shape), base64.b64encode(raw).decode()


def encode_tensor(t: torch.Tensor, *, grad: bool = True) -> dict:
    """``t`` as plain data: dtype, shape, device type, requires_grad, bytes, and its ``.grad`` (also encoded)."""
    dtype, shape, data = _tensor_bytes(t)
    node = {"t": "tensor", "dtype": dtype, "shape": shape, "device": t.device.type, "rg": bool(t.requires_grad),
            "data": data, "sub": None if type(t) in (torch.Tensor, torch.nn.Parameter) else type(t).__name__}
    if grad and t.is_leaf and t.grad is not None:
        node["grad"] = encode_tensor(t.grad, grad=False)
    return node


def encode(value: Any, depth: int = 0) -> Any:
    """A student's value as plain data (worker side). Objects that are not data become an ``opaque`` marker that keeps
    only their type name, so that a message can say "returned a <type>"."""
    if depth > MAX_DEPTH:
        return {"t": "opaque", "type": "deeply nested value"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and type(value) in (int, float):
        return value if not isinstance(value, float) or math.isfinite(value) else {"t": "float", "v": repr(value)}
    if isinstance(value, torch.Tensor):
        return encode_tensor(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return {"t": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
                "data": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"t": "npscalar", "v": encode(value.item(), depth + 1), "type": type(value).__name__}
    if type(value) in (list, tuple):
        return {"t": type(value).__name__, "v": [encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()
                                   if k is None or type(k) in (str, int, float, bool)]}
    return {"t": "opaque", "type": type(value).__name__[:80]}


def _decode_tensor(node: dict) -> torch.Tensor:
    dtype = DTYPES.get(node.get("dtype"))
    shape = node.get("shape")
    if dtype is None or not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise BadReply("a tensor with an unknown dtype or shape")
    if len(shape) > 16 or math.prod(shape) > 50_000_000:
        raise BadReply("a tensor that is too large")
    if node.get("device") == "meta":
        t = torch.empty(shape, dtype=dtype, device="meta")
    else:
        raw = base64.b64decode(node.get("data") or "", validate=True)
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise BadReply("a tensor whose bytes do not match its shape")
        t = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone() if raw else \
            torch.empty(shape, dtype=dtype)
    if node.get("rg") is True and (dtype.is_floating_point or dtype.is_complex):
        t.requires_grad_(True)
    return t


class Opaque:
    """Stands for an object the student's function returned that is not data; ``type(x).__name__`` is its type."""

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _opaque(name: Any) -> Opaque:
    name = "".join(ch for ch in str(name) if ch.isalnum() or ch == "_")[:80] or "object"
    return type(name, (Opaque,), {})()


def decode(node: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """The plain value :func:`encode` made (grader side). Tensors come back as new, exact ``torch.Tensor`` objects,
    with their ``.grad`` (``node["grad"]``) where one was sent. Raises :class:`BadReply` for anything else."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if depth > MAX_DEPTH + 2 or budget[0] < 0:
        raise BadReply("a value nested too deeply or with too many parts")
    if node is None or type(node) in (bool, str, int, float):
        return node
    if type(node) is not dict or type(node.get("t")) is not str:
        raise BadReply(f"a {type(node).__name__} where plain data was expected")
    kind = node["t"]
    if kind == "tensor":
        t = _decode_tensor(node)
        if isinstance(node.get("grad"), dict):
            grad = _decode_tensor(node["grad"])
            if grad.shape == t.shape and grad.dtype == t.dtype and t.is_leaf:
                t.grad = grad
        return t
    if kind == "float":
        if node.get("v") not in ("nan", "inf", "-inf"):
            raise BadReply("a float that is not a number")
        return float(node["v"])
    if kind == "ndarray":
        dtype = np.dtype(str(node.get("dtype")))
        if dtype.kind not in "biufc":
            raise BadReply("a NumPy array of objects")
        shape = node.get("shape")
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape) or math.prod(shape) > 50_000_000:
            raise BadReply("a NumPy array with a bad shape")
        raw = base64.b64decode(node.get("data") or "", validate=True)
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise BadReply("a NumPy array whose bytes do not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if kind == "npscalar":
        value = decode(node.get("v"), depth + 1, budget)
        if type(value) not in (bool, int, float):
            raise BadReply("a NumPy scalar that is not a number")
        return np.float64(value) if isinstance(value, float) else np.int64(value)
    if kind in ("list", "tuple"):
        items = node.get("v")
        if type(items) is not list:
            raise BadReply("a list that is not a list")
        values = [decode(v, depth + 1, budget) for v in items]
        return values if kind == "list" else tuple(values)
    if kind == "dict":
        pairs = node.get("v")
        if type(pairs) is not list or not all(type(p) is list and len(p) == 2 for p in pairs):
            raise BadReply("a dict that is not a list of pairs")
        out = {}
        for k, v in pairs:
            key = decode(k, depth + 1, budget)
            if not (key is None or type(key) in (str, int, float, bool)):
                raise BadReply("a dict key that is not a number or a string")
            out[key] = decode(v, depth + 1, budget)
        return out
    if kind == "opaque":
        return _opaque(node.get("type"))
    raise BadReply(f"an unknown kind of value {kind[:40]!r}")
