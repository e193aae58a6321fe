"""Pytrees: nested tuples, lists and dicts with Tensors (or anything else) at the leaves.

The transforms accept and return such structures, as torch.func and JAX do: `flatten` lists the leaves in
a fixed order and a `Spec` that `unflatten` uses to rebuild the same structure around new leaves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..tensor import Tensor


@dataclass(frozen=True)
class Spec:
    """The shape of a pytree: a leaf (kind "leaf"), or a tuple/list/dict of sub-specs (dict keys in order)."""

    kind: str
    children: tuple = ()
    keys: tuple = ()

    @property
    def num_leaves(self) -> int:
        return 1 if self.kind == "leaf" else sum(c.num_leaves for c in self.children)


LEAF = Spec("leaf")


def flatten(tree: Any) -> tuple[list[Any], Spec]:
    """(leaves in depth-first order, spec). Tuples, lists and dicts are containers; anything else is a leaf."""
    if isinstance(tree, (tuple, list)):
        leaves: list[Any] = []
        specs = []
        for item in tree:
            sub, spec = flatten(item)
            leaves += sub
            specs.append(spec)
        return leaves, Spec("tuple" if isinstance(tree, tuple) else "list", tuple(specs))
    if isinstance(tree, dict):
        leaves, specs = [], []
        for key in tree:
            sub, spec = flatten(tree[key])
            leaves += sub
            specs.append(spec)
        return leaves, Spec("dict", tuple(specs), tuple(tree))
    return [tree], LEAF


def unflatten(leaves: list[Any], spec: Spec) -> Any:
    """Rebuild the structure described by `spec` around `leaves` (the inverse of `flatten`)."""
    it = iter(leaves)
    tree = _build(it, spec)
    if next(it, _END) is not _END:
        raise ValueError(f"unflatten: more leaves than the spec's {spec.num_leaves}")
    return tree


_END = object()


def _build(it: Any, spec: Spec) -> Any:
    if spec.kind == "leaf":
        leaf = next(it, _END)
        if leaf is _END:
            raise ValueError("unflatten: fewer leaves than the spec needs")
        return leaf
    items = [_build(it, child) for child in spec.children]
    if spec.kind == "dict":
        return dict(zip(spec.keys, items))
    return tuple(items) if spec.kind == "tuple" else items


def tensor_leaves(tree: Any, where: str, what: str) -> tuple[list[Tensor], Spec]:
    """`flatten`, checking that every leaf is a Tensor; the error names the position of the first that is not."""
    leaves, spec = flatten(tree)
    for path, leaf in zip(leaf_paths(spec), leaves):
        if not isinstance(leaf, Tensor):
            raise TypeError(f"{where}: {what}{path} must be a Tensor (or a tuple, list or dict of Tensors), "
                            f"got {type(leaf).__name__}")
    return leaves, spec


def leaf_paths(spec: Spec, prefix: str = "") -> list[str]:
    """Index paths of the leaves, e.g. ["[0]", "['w']"], for error messages."""
    if spec.kind == "leaf":
        return [prefix]
    labels = [repr(k) for k in spec.keys] if spec.kind == "dict" else [str(i) for i in range(len(spec.children))]
    paths = []
    for label, child in zip(labels, spec.children):
        paths += leaf_paths(child, f"{prefix}[{label}]")
    return paths
