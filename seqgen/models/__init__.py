"""Architectures behind one small protocol (:class:`LanguageModel`), registered by name.

The LSTM is the built-in one (``models/lstm.py``); a plugin adds another through the
``register_architectures`` hook, and ``seqgen train --arch NAME`` trains it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.models.base import LanguageModel

__all__ = ["LanguageModel", "NumpyHead", "State", "Stepper", "TokenHead", "build", "config_of"]
_LAZY = {"LanguageModel": "base", "State": "base", "Stepper": "base", "TokenHead": "head",
         "NumpyHead": "head"}  # fmt: skip


def __getattr__(name: str) -> Any:
    """The protocol's classes, imported (with torch) on first use: registering the built-in
    architecture must not make `seqgen --help` load torch."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"seqgen.models.{_LAZY[name]}"), name)
    raise AttributeError(name)


def architecture(name: str) -> type[LanguageModel]:
    from seqgen import registry

    return registry.load().architecture(name)


def config_of(arch: str, values: dict[str, Any]) -> Any:
    """The architecture's typed config from plain values (validated; ValueError if not)."""
    from seqgen.typed import from_dict

    config = from_dict(architecture(arch).config_class, values)
    check = getattr(config, "check", None)
    if check is not None:
        check()
    return config


def count_parameters(arch: str, config: Any) -> int:
    """The model's weight count, from a build on torch's meta device (nothing allocated)."""
    import torch

    with torch.device("meta"):
        return sum(p.numel() for p in architecture(arch)(config).parameters())


def build(arch: str, config: Any) -> LanguageModel:
    """A new model of architecture ``arch`` from its config (a dataclass or a dict)."""
    if isinstance(config, dict):
        try:
            config = config_of(arch, config)
        except ValueError as e:
            raise SeqgenError(f"--arch {arch}: {e}") from None
    return architecture(arch)(config)


def restore(arch: str, config: dict[str, Any], weights: dict, where: str = "checkpoint"):
    """A model rebuilt from a checkpoint's arch, config and weights. The shapes are compared
    on torch's ``meta`` device first, so a tampered config that declares a huge model is refused
    before anything of that size is allocated."""
    import torch

    from seqgen import registry
    from seqgen.errors import CheckpointError

    known = registry.load().architectures
    if arch not in known:
        raise CheckpointError(
            f"{where}: needs architecture {arch!r}, which no installed plugin provides "
            f"(available: {', '.join(sorted(known))})"
        )
    try:
        cfg = config_of(arch, config)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{where}: the model config does not fit {arch!r}: {e}") from None
    cls = architecture(arch)
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in cls(cfg).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if shapes != got:
        missing = sorted(set(shapes) - set(got))
        extra = sorted(set(got) - set(shapes))
        bad = [k for k in shapes if k in got and shapes[k] != got[k]]
        what = (
            f"missing {missing[0]}"
            if missing
            else f"unexpected {extra[0]}"
            if extra
            else f"{bad[0]} is {got[bad[0]]}, the config needs {shapes[bad[0]]}"
        )
        raise CheckpointError(f"{where}: the weights do not match the model config ({what})")
    model = cls(cfg)
    model.load_state_dict(weights)
    return model
