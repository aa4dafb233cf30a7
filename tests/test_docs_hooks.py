"""The plugin guide documents every hook and every public part of the tokenizer contract, and its
tutorial code is the real example plugin in plugins/seqgen-dna, verbatim."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugin-guide.md"
EXAMPLE = ROOT / "plugins" / "seqgen-dna"
FENCE = re.compile(r"^```(\w*)[ \t]*(?:(file|excerpt)=(\S+))?[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _module(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text())


def hooks() -> list[str]:
    """Functions decorated with @hookspec in seqgen/hookspecs.py."""
    return [
        node.name
        for node in _module("seqgen/hookspecs.py").body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d) == "hookspec" for d in node.decorator_list)
    ]


def public_members(cls_name: str) -> list[str]:
    """Public methods, properties and class attributes of a class in seqgen/tokenizer.py,
    plus attributes set on ``self`` in its ``__init__``."""
    cls = next(
        n
        for n in _module("seqgen/tokenizer.py").body
        if isinstance(n, ast.ClassDef) and n.name == cls_name
    )
    names = []
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            names.append(node.name)
            if node.name == "__init__":
                names += [
                    t.attr
                    for sub in ast.walk(node)
                    if isinstance(sub, (ast.Assign, ast.AnnAssign))
                    for t in (sub.targets if isinstance(sub, ast.Assign) else [sub.target])
                    if isinstance(t, ast.Attribute) and ast.unparse(t.value) == "self"
                ]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return sorted({n for n in names if not n.startswith("_")})


def headings() -> list[str]:
    text = FENCE.sub("", GUIDE.read_text())  # a '#' inside a code block is not a heading
    return [line for line in text.splitlines() if line.startswith("#")]


def documented(name: str) -> bool:
    return any(f"`{name}`" in h for h in headings())


def test_parsers_find_the_contract():
    assert {"register_domains", "register_corpora", "register_commands"} <= set(hooks())
    assert {"read", "encode", "eod_id", "name", "sample_corpus", "settings"} <= set(
        public_members("Tokenizer")
    )
    assert set(public_members("Constraint")) == {"mask", "advance", "finish", "copy"}


@pytest.mark.parametrize("hook", hooks())
def test_every_hook_has_a_reference_section(hook):
    assert documented(hook), (
        f"hook {hook!r} in seqgen/hookspecs.py has no heading `{hook}` in {GUIDE.name}: "
        "add a reference section with an example"
    )


@pytest.mark.parametrize(
    "cls, member",
    [(c, m) for c in ("Tokenizer", "Constraint") for m in public_members(c)],
)
def test_every_contract_member_has_a_reference_section(cls, member):
    assert documented(member), (
        f"{cls}.{member} in seqgen/tokenizer.py has no heading `{member}` in {GUIDE.name}: "
        "document it in the reference"
    )


@pytest.mark.parametrize("kind", ["bool", "int", "float", "str", "choices"])
def test_every_option_type_is_documented(kind):
    assert any(h.strip("# ") == kind for h in headings()), f"no '#### {kind}' option section"


def test_guide_has_the_tutorial_and_troubleshooting():
    titles = [h.lstrip("# ") for h in headings()]
    assert any(t.startswith("Tutorial") for t in titles)
    assert "What to do when it breaks" in titles
    text = GUIDE.read_text()
    for command in ("seqgen train --domain dna", "seqgen generate", "seqgen plugins new"):
        assert command in text


def _blocks() -> list[tuple[str, str, str]]:
    return [
        (m.group(2), m.group(3), m.group(4))
        for m in FENCE.finditer(GUIDE.read_text())
        if m.group(2)
    ]


def _norm(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text.strip("\n")) + "\n"


def test_tutorial_code_is_the_example_plugin_verbatim():
    blocks = _blocks()
    files = sorted(
        str(p.relative_to(ROOT))
        for p in EXAMPLE.rglob("*")
        if p.suffix in (".py", ".toml")
        and "__pycache__" not in p.parts
        and ".egg-info" not in str(p)
    )
    assert files, "plugins/seqgen-dna has no source files"
    for path in files:
        real = (ROOT / path).read_text()
        whole = [body for kind, p, body in blocks if kind == "file" and p == path]
        parts = [body for kind, p, body in blocks if kind == "excerpt" and p == path]
        assert whole or parts, f"{path} is not shown in the guide (a ```python file={path} block)"
        for body in whole:
            assert body == real, f"the guide's copy of {path} differs from the file; update it"
        if parts:
            joined = "\n\n".join(b.strip("\n") for b in parts)
            assert _norm(joined) == _norm(real), (
                f"the guide's excerpts of {path}, joined in order, differ from the file"
            )
    for _, path, _ in blocks:
        assert (ROOT / path).is_file(), f"the guide shows {path}, which does not exist"
