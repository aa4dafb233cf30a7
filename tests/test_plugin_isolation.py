"""A broken plugin is named in a warning and never takes seqgen or the other domains down.

Each case installs throwaway plugin modules through real entry points (a dist-info folder with
``entry_points.txt`` on sys.path), next to a healthy plugin, and runs the real CLI.
"""

from __future__ import annotations

import importlib
import itertools
import json
import textwrap

import pytest

from seqgen import registry
from seqgen.testing import fake_install

GOOD = """
    from seqgen import hookimpl
    from seqgen_plugins.char import CharTokenizer

    class Healthy(CharTokenizer):
        name = "{domain}"
        description = "a healthy neighbour"

    @hookimpl
    def register_domains(register):
        register(Healthy)
"""

BROKEN = {
    "import": """
        raise RuntimeError("boom at import")
    """,
    "syntax": """
        def register_domains(register)
            pass
    """,
    "register_domains": """
        from seqgen import hookimpl

        @hookimpl
        def register_domains(register):
            raise ValueError("boom while registering")
    """,
    "register_invalid": """
        from seqgen import hookimpl

        @hookimpl
        def register_domains(register):
            register(dict)
    """,
    "duplicate_domain": """
        from seqgen import hookimpl
        from seqgen_plugins.char import CharTokenizer

        @hookimpl
        def register_domains(register):
            register(CharTokenizer)
    """,
    "register_corpora": """
        from seqgen import hookimpl

        @hookimpl
        def register_corpora(register):
            raise KeyError("boom in register_corpora")
    """,
    "register_commands": """
        from seqgen import hookimpl

        @hookimpl
        def register_commands(cli):
            raise RuntimeError("boom in register_commands")
    """,
    "bad_hook_signature": """
        from seqgen import hookimpl

        @hookimpl
        def register_domains(register, unknown_argument):
            pass
    """,
}
SAYS = {
    "import": "failed to load: RuntimeError: boom at import",
    "syntax": "failed to load: SyntaxError",
    "register_domains": "failed in register_domains: ValueError: boom while registering",
    "register_invalid": "expected a Tokenizer subclass",
    "duplicate_domain": "already registered by 'char'",
    "register_corpora": "failed in register_corpora: KeyError",
    "register_commands": "failed in register_commands: RuntimeError: boom in register_commands",
    "bad_hook_signature": "failed to load",
}
_counter = itertools.count()


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install({"entry name": source})``: write each module, register it under the `seqgen`
    entry-point group (alongside the built-ins) and reload the registry."""
    monkeypatch.delenv("SEQGEN_PLUGINS", raising=False)

    def run(plugins: dict[str, str]) -> dict[str, str]:
        n = next(_counter)
        eps = {}
        for name, source in plugins.items():
            module = f"seqgen_isolation_{name}_{n}"  # unique: sys.modules keeps old ones
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
            eps[name] = module
        fake_install(tmp_path, f"seqgen-isolation-{n}", {"seqgen": eps})
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()
        registry.load.cache_clear()
        return eps

    yield run
    registry.load.cache_clear()
    importlib.invalidate_caches()


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_is_named_and_others_keep_working(case, install, cli):
    bad = f"broken_{case}"
    install({bad: BROKEN[case], "healthy": GOOD.format(domain="healthydom")})

    code, out, err = cli("domains")
    assert code == 0, err
    assert "char" in out and "healthydom" in out
    warning = [line for line in err.splitlines() if line.startswith("seqgen: warning:")]
    assert any(f"plugin {bad!r}" in line and SAYS[case] in line for line in warning), err

    code, out, err = cli("domains", "healthydom")
    assert code == 0 and "a healthy neighbour" in out, err

    code, out, _ = cli("plugins", "--json")
    assert code == 0
    status = {p["name"]: p for p in json.loads(out)}
    assert status["healthy"]["error"] is None and status["char"]["error"] is None
    if case != "duplicate_domain":  # the duplicate's plugin loaded; only its domain was refused
        assert status[bad]["error"], status[bad]


def test_many_broken_plugins_at_once(install, cli, tmp_path):
    install({f"broken_{k}": v for k, v in BROKEN.items()} | {"healthy": GOOD.format(domain="hdom")})
    code, out, err = cli("domains")
    assert code == 0 and "hdom" in out and "char" in out, err
    for case in BROKEN:
        assert f"'broken_{case}'" in err, (case, err)
    text = tmp_path / "t.txt"
    text.write_text("abc abc abc\n" * 50)
    code, _, err = cli("prepare", "-d", "hdom", "-c", text)
    assert code == 0, err


def test_seqgen_plugins_limits_loading(install, cli, monkeypatch):
    install({"broken_import": BROKEN["import"], "healthy": GOOD.format(domain="limited")})
    monkeypatch.setenv("SEQGEN_PLUGINS", "char,healthy")
    registry.load.cache_clear()
    code, out, err = cli("domains")
    assert code == 0 and "limited" in out and "broken_import" not in err, err
