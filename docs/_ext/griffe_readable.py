"""Griffe extension: signatures and types as a reader needs them, not as the code spells them.

Two rewrites of what mkdocstrings renders (the code is untouched):

- A default that names a module constant (``timeout: float = C.DEFAULT_TIMEOUT``) shows
  the constant's literal value (``timeout: float = 10.0``): the reader should not have
  to open ``_constants.py`` to learn that the timeout is 10 s.
- A base class that is private (``class Offer(_Model)``) shows as the public bases it
  stands for (``msgspec.Struct``): ``_Model`` means nothing to a reader.
- An annotation that names a private alias defined for type checkers
  (``fast_redemption_daily_limit: _AmountText | None``, where ``models.py`` says
  ``_AmountText = Decimal`` under ``if TYPE_CHECKING``) shows the aliased type
  (``Decimal | None``), which is what the attribute holds once a page is decoded.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

import griffe


def _literal(value: object) -> str | None:
    """``value``'s source text when it is a plain literal (number, string, bool, None)."""
    text = str(value)
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return text


class ReadableSignatures(griffe.Extension):
    """Inlines constant defaults and resolves private type aliases, package-wide."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if isinstance(obj, griffe.Class):
                obj.bases = self._bases(obj.bases, pkg)
            if isinstance(obj, griffe.Function):
                for param in obj.parameters:
                    param.annotation = self._type(param.annotation, pkg)
                    param.default = self._default(param.default, pkg)
                obj.returns = self._type(obj.returns, pkg)
            elif isinstance(obj, griffe.Attribute):
                obj.annotation = self._type(obj.annotation, pkg)
                # Dataclass fields: their values become the synthesized __init__'s defaults.
                obj.value = self._default(obj.value, pkg)

    def _target(self, expr: object, pkg: griffe.Module) -> griffe.Object | None:
        path = getattr(expr, "canonical_path", None)
        if not isinstance(path, str) or not path.startswith(pkg.path + "."):
            return None
        try:
            member = pkg[path[len(pkg.path) + 1 :]]
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
        return member if isinstance(member, griffe.Object) else None

    def _bases(self, bases: list[Any], pkg: griffe.Module) -> list[Any]:
        public: list[Any] = []
        for base in bases:
            target = self._target(base, pkg)
            if isinstance(target, griffe.Class) and target.name.startswith("_"):
                public += [b for b in self._bases(target.bases, pkg) if b not in public]
            else:
                public.append(base)
        return public

    def _default(self, default: Any, pkg: griffe.Module) -> Any:
        if not isinstance(default, griffe.ExprName | griffe.ExprAttribute):
            return default
        value = default
        for _ in range(5):  # a constant may name another: DEFAULT_BASE_URL = HOST_WWW
            if not isinstance(value, griffe.ExprName | griffe.ExprAttribute):
                break
            target = self._target(value, pkg)
            if not isinstance(target, griffe.Attribute) or target.value is None:
                return default
            value = target.value
        return _literal(value) or default

    def _type(self, expr: Any, pkg: griffe.Module) -> Any:
        if isinstance(expr, griffe.ExprName) and expr.name.startswith("_"):
            target = self._target(expr, pkg)
            if (
                isinstance(target, griffe.Attribute)
                and "module-attribute" in target.labels
                and isinstance(target.value, griffe.Expr)
            ):
                return target.value
            return expr
        if isinstance(expr, griffe.Expr) and dataclasses.is_dataclass(expr):
            for field in dataclasses.fields(expr):
                value = getattr(expr, field.name)
                if isinstance(value, list):
                    setattr(expr, field.name, [self._type(v, pkg) for v in value])
                elif isinstance(value, griffe.Expr):
                    setattr(expr, field.name, self._type(value, pkg))
        return expr


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found: list[griffe.Object] = [obj]
    for member in obj.members.values():
        if isinstance(member, griffe.Alias):
            continue
        found += _walk(member)
    return found
