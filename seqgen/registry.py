"""The plugin host: loads every ``seqgen`` entry point through pluggy, calls its hooks one plugin
at a time (so one broken plugin never takes the others down), and validates what each registers.

``SEQGEN_PLUGINS=char,midi`` limits which entry points load (empty string: none).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from seqgen import hookspecs
from seqgen.errors import PluginError, SeqgenError, hint
from seqgen.tokenizer import Tokenizer

GROUP = "seqgen"


@dataclass
class PluginInfo:
    name: str
    module: str
    version: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class CorpusEntry:
    name: str
    factory: Callable[[], Any]
    description: str
    domain: str | None
    plugin: str


@dataclass
class Registry:
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    domains: dict[str, type[Tokenizer]] = field(default_factory=dict)
    domain_plugin: dict[str, str] = field(default_factory=dict)
    corpora: dict[str, CorpusEntry] = field(default_factory=dict)
    architectures: dict[str, type] = field(default_factory=dict)
    architecture_plugin: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    manager: pluggy.PluginManager | None = None

    def domain(self, name: str) -> type[Tokenizer]:
        try:
            return self.domains[name]
        except KeyError:
            raise SeqgenError(f"unknown domain {name!r}{hint(name, self.domains)}") from None

    def architecture(self, name: str) -> type:
        """The class of architecture ``name``, imported on first use."""
        try:
            found = self.architectures[name]
        except KeyError:
            raise SeqgenError(
                f"unknown architecture {name!r}{hint(name, self.architectures)}"
            ) from None
        if isinstance(found, str):
            module, _, attr = found.partition(":")
            plugin = self.architecture_plugin[name]
            try:
                found = getattr(importlib.import_module(module), attr)
            except (Exception, SystemExit) as e:
                raise PluginError(
                    f"plugin {plugin!r}: architecture {name!r} failed to load ({e})"
                ) from None
            self._check_architecture(plugin, found, name)
            self.architectures[name] = found
        return found

    def corpus(self, name: str) -> CorpusEntry | None:
        return self.corpora.get(name)

    # --- registration callbacks handed to plugins -------------------------------------------
    def _register_domain(self, plugin: str, cls: Any) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Tokenizer)):
            raise PluginError(
                f"plugin {plugin!r} registered {cls!r} as a domain; expected a Tokenizer subclass"
            )
        if not cls.name or not cls.name.isidentifier():
            raise PluginError(f"plugin {plugin!r}: domain class {cls.__name__} needs a `name`")
        if cls.name in self.domains:
            other = self.domain_plugin[cls.name]
            raise PluginError(
                f"plugin {plugin!r} registered domain {cls.name!r}, already registered by {other!r}"
            )
        self.domains[cls.name] = cls
        self.domain_plugin[cls.name] = plugin

    def _register_architecture(self, plugin: str, cls: Any, name: str | None = None) -> None:
        """``register(ModelClass)``, or ``register("module:Class", name="arch")`` to import
        it (and torch) only when a run uses it."""
        if isinstance(cls, str):
            if not name or not name.isidentifier() or ":" not in cls:
                raise PluginError(
                    f"plugin {plugin!r}: a lazy architecture is register('module:Class', name=...)"
                )
        else:
            name = self._check_architecture(plugin, cls, name)
        if name in self.architectures:
            other = self.architecture_plugin[name]
            raise PluginError(
                f"plugin {plugin!r} registered architecture {name!r}, already registered by "
                f"{other!r}"
            )
        self.architectures[name] = cls
        self.architecture_plugin[name] = plugin

    @staticmethod
    def _check_architecture(plugin: str, cls: Any, name: str | None = None) -> str:
        from seqgen.models import LanguageModel

        if not (isinstance(cls, type) and issubclass(cls, LanguageModel)):
            raise PluginError(
                f"plugin {plugin!r} registered {cls!r} as an architecture; "
                "expected a seqgen.models.LanguageModel subclass"
            )
        if not isinstance(cls.arch, str) or not cls.arch.isidentifier():
            raise PluginError(f"plugin {plugin!r}: architecture {cls.__name__} needs an `arch`")
        if name is not None and name != cls.arch:
            raise PluginError(f"plugin {plugin!r}: {cls.__name__}.arch is not {name!r}")
        return cls.arch

    def _register_corpus(
        self,
        plugin: str,
        name: str,
        factory: Callable[[], Any],
        description: str = "",
        domain: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or not callable(factory):
            raise PluginError(
                f"plugin {plugin!r} registered a corpus without a name and a callable factory"
            )
        if name in self.corpora:
            other = self.corpora[name].plugin
            raise PluginError(
                f"plugin {plugin!r} registered corpus {name!r}, already registered by {other!r}"
            )
        self.corpora[name] = CorpusEntry(name, factory, description, domain, plugin)

    def call(self, hook: str, **kwargs: Callable[..., Any]) -> None:
        """Call one hook on every plugin separately. ``kwargs`` map argument names to factories
        that take the plugin name (so each plugin gets a `register` bound to itself)."""
        assert self.manager is not None
        caller = getattr(self.manager.hook, hook)
        for impl in caller.get_hookimpls():
            plugin = impl.plugin_name
            args = {name: kwargs[name](plugin) for name in impl.argnames}
            try:
                impl.function(**args)
            except (Exception, SystemExit) as e:  # a plugin bug must not break the host
                msg = e if isinstance(e, SeqgenError) else f"{type(e).__name__}: {e}"
                self.problems.append(f"plugin {plugin!r} failed in {hook}: {msg}")
                if plugin in self.plugins:
                    self.plugins[plugin].error = str(msg)


def _wanted() -> set[str] | None:
    value = os.environ.get("SEQGEN_PLUGINS")
    if value is None:
        return None
    return {p.strip() for p in value.split(",") if p.strip()}


def _builtin(ep: Any) -> bool:
    dist = getattr(ep, "dist", None)
    return dist is not None and dist.name == "seqgen"


def _version(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else "unknown"


@functools.cache
def load() -> Registry:
    """Load plugins and collect their domains and corpora (once per process)."""
    reg = Registry()
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    reg.manager = pm
    wanted = _wanted()
    _register_core(reg, pm)
    # seqgen's own plugins first: hooks run in this order, so a third-party plugin that
    # registers a built-in domain's name is the one refused, never the built-in.
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (not _builtin(e), e.name)):
        if wanted is not None and ep.name not in wanted:
            continue
        if ep.name in reg.plugins:
            continue  # the same distribution seen twice on sys.path
        info = PluginInfo(ep.name, ep.value, _version(ep))
        reg.plugins[ep.name] = info
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except (Exception, SystemExit) as e:  # SystemExit: a plugin that exits on import
            info.error = f"{type(e).__name__}: {e}"
            reg.problems.append(f"plugin {ep.name!r} failed to load: {info.error}")
            continue
        info.hooks = sorted(h.name for h in pm.get_hookcallers(module) or [])
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        reg.problems.append(str(e))

    def bind(method: Callable[..., None]) -> Callable[[str], Callable[..., None]]:
        return lambda plugin: functools.partial(method, plugin)

    reg.call("register_architectures", register=bind(reg._register_architecture))
    reg.call("register_domains", register=bind(reg._register_domain))
    reg.call("register_corpora", register=bind(reg._register_corpus))
    return reg


def _register_core(reg: Registry, pm: pluggy.PluginManager) -> None:
    """The core's own architecture registers through the same hook as a plugin's, first (so no
    plugin can take its name), whatever SEQGEN_PLUGINS says."""
    from seqgen.models import builtin

    pm.register(builtin, name="seqgen.lstm")
    reg.plugins["seqgen.lstm"] = PluginInfo(
        "seqgen.lstm", "seqgen.models.builtin", _own_version(), ["register_architectures"]
    )


def _own_version() -> str:
    from seqgen import __version__

    return __version__


def warn_problems(reg: Registry | None = None) -> None:
    """Print plugin problems to stderr, once, as one line each."""
    reg = reg or load()
    for line in reg.problems:
        print(f"seqgen: warning: {line}", file=sys.stderr)
    reg.problems.clear()
