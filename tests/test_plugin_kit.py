"""The conformance kit (seqgen.testing): every loaded domain passes it, each broken contract is
caught with a message saying what to fix, and `seqgen plugins new` makes a plugin that installs,
registers, trains and passes the kit."""

from __future__ import annotations

import importlib
import random
import re
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
from seqgen_plugins.char import CharTokenizer

from seqgen import registry
from seqgen.errors import DataError
from seqgen.testing import CHECKS, check_tokenizer, fake_install, run_checks
from seqgen.tokenizer import Constraint, Document

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "2", "--seq-len", "16"]


@pytest.fixture(autouse=True)
def _grad_mode():
    """`seqgen generate` in-process turns autograd off globally; training after it needs it on."""
    import torch

    torch.set_grad_enabled(True)
    yield
    torch.set_grad_enabled(True)


# --- every domain the registry loads -----------------------------------------------------------
@pytest.mark.parametrize("domain", sorted(registry.load().domains))
def test_loaded_domain_conforms(domain, seqgen_check):
    """Built-in and installed domains, each on its own ``sample_corpus`` (skipped without)."""
    seqgen_check(registry.load().domains[domain])


def test_char_options_conform(seqgen_check):
    seqgen_check(CharTokenizer, options={"unknown": "bytes", "lowercase": "true"})


def test_kit_returns_passed_checks_and_can_run_some(tmp_path):
    corpus = CharTokenizer.sample_corpus(tmp_path)
    assert check_tokenizer(CharTokenizer, corpus) == list(CHECKS)
    assert check_tokenizer(CharTokenizer, corpus, only=["state"]) == ["state"]
    with pytest.raises(ValueError, match="unknown checks"):
        check_tokenizer(CharTokenizer, corpus, only=["nope"])


def test_pytest11_entry_point_is_installed():
    eps = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert eps.get("seqgen") == "seqgen.testing.pytest_plugin"


# --- one broken tokenizer per check -----------------------------------------------------------
class Good(CharTokenizer):
    name = "kitgood"


class NoDescription(Good):
    description = ""


class YieldsStrings(Good):
    def read(self, path):
        for doc in super().read(path):
            yield from doc.parts


class EodOutOfRange(Good):
    @property
    def eod_id(self):
        return self.vocab_size


class IdsOutOfRange(Good):
    def encode(self, part):
        return super().encode(part) + 1


class LossyDecode(Good):
    def decode(self, ids):
        return super().decode(ids)[:-1]


class RandomOrder(Good):
    def fit(self, documents):
        super().fit(documents)
        chars = list(self.chars)
        random.shuffle(chars)
        self._set_chars(chars)


class NotJsonState(Good):
    def get_state(self):
        return {**super().get_state(), "table": np.arange(3)}


class ForgetsVocabulary(Good):
    @classmethod
    def from_state(cls, state):
        return cls(settings=state["settings"])


class CrashesOnMissingFile(Good):
    def read(self, path):
        open(path).close()  # FileNotFoundError, not a DataError
        yield from super().read(path)


class Dead(Constraint):
    def __init__(self, vocab_size):
        self.vocab_size, self.n = vocab_size, 0

    def mask(self):
        return np.zeros(self.vocab_size, bool) if self.n >= 5 else None

    def advance(self, token):
        self.n += 1


class MasksEverything(Good):
    def constraint(self):
        return Dead(self.vocab_size)


class WritesNothing(Good):
    def write(self, ids, path):
        pass


class WritesUnreadable(Good):
    def write(self, ids, path):
        Path(path).write_bytes(b"\xff\xfe\x00 not utf-8")


class SharedHistory(Constraint):
    """Forbids repeating the last token; its copy shares the history list (the bug)."""

    def __init__(self, vocab_size, seen=None):
        self.vocab_size, self.seen = vocab_size, seen if seen is not None else []

    def mask(self):
        m = np.ones(self.vocab_size, bool)
        if self.seen:
            m[self.seen[-1]] = False
        return m

    def advance(self, token):
        self.seen.append(token)

    def copy(self):
        return SharedHistory(self.vocab_size, self.seen)


class CopiesShallowly(Good):
    def constraint(self):
        return SharedHistory(self.vocab_size)


class RendersBadly(Good):
    renders = {"audio": "wav"}


BROKEN = [
    (NoDescription, "contract", "description is empty"),
    (YieldsStrings, "read", "yield seqgen.tokenizer.Document"),
    (EodOutOfRange, "special", "give <eod> an id below vocab_size"),
    (IdsOutOfRange, "ids", "every id must be below vocab_size"),
    (LossyDecode, "roundtrip", "override reference()"),
    (RandomOrder, "deterministic", "sort the vocabulary"),
    (NotJsonState, "state", "not JSON-safe"),
    (ForgetsVocabulary, "state", "put the whole vocabulary"),
    (CrashesOnMissingFile, "bad_input", "raise seqgen.errors.DataError"),
    (MasksEverything, "constraint", "always leave at least one token allowed"),
    (WritesNothing, "write_read", "created no file"),
    (WritesUnreadable, "write_read", "write() must produce the format read() accepts"),
    (CopiesShallowly, "copy", "changed the original"),
    (RendersBadly, "declarations", "map an option name to a tuple of suffixes"),
]


@pytest.mark.parametrize("cls, check, says", BROKEN, ids=[c.__name__ for c, *_ in BROKEN])
def test_kit_catches_broken_tokenizer(cls, check, says, tmp_path):
    corpus = Good.sample_corpus(tmp_path)
    if cls is RandomOrder:
        random.seed(1)  # two fits must differ in order: a longer alphabet makes that certain
    with pytest.raises(AssertionError) as info:
        check_tokenizer(cls, corpus)
    msg = str(info.value)
    assert f"[{check}]" in msg and "fix:" in msg and says in msg, msg
    assert f"failed for domain {cls.name!r}" in msg
    report = run_checks(cls, corpus)
    assert check in {f.check for f in report.failures}
    assert "contract" in report.passed or check == "contract"


def test_kit_reports_every_failure_at_once(tmp_path):
    class TwoBugs(Good):
        description = ""

        def decode(self, ids):
            return super().decode(ids)[:-1]

    report = run_checks(TwoBugs, Good.sample_corpus(tmp_path))
    assert {f.check for f in report.failures} == {"contract", "roundtrip"}
    assert "write_read" in report.passed


def test_kit_on_unreadable_corpus_says_what_was_not_run(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(AssertionError) as info:
        check_tokenizer(Good, bad)
    msg = str(info.value)
    assert "[read]" in msg and "[roundtrip] not run" in msg


# --- `seqgen plugins new` ---------------------------------------------------------------------
@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    """A throwaway site folder; the registry is reloaded before and after the test."""
    monkeypatch.delenv("SEQGEN_PLUGINS", raising=False)
    site = tmp_path / "site"
    site.mkdir()
    registry.load.cache_clear()
    yield site
    registry.load.cache_clear()
    importlib.invalidate_caches()


def _install(project: Path, site: Path, monkeypatch) -> None:
    """Install ``project`` the way pip would expose it: its modules on sys.path, and a
    dist-info carrying the entry points declared in its own pyproject.toml."""
    toml = (project / "pyproject.toml").read_text()  # no tomllib: Python 3.10 is supported
    dist = re.search(r'^name = "(.+)"$', toml, re.M).group(1)
    version = re.search(r'^version = "(.+)"$', toml, re.M).group(1)
    section = toml.split("[project.entry-points.seqgen]\n", 1)[1].split("\n\n", 1)[0]
    eps = dict(re.findall(r'^(\w+) = "([\w.]+)"$', section, re.M))
    assert eps, "the template's pyproject.toml declares no seqgen entry point"
    fake_install(site, dist, {"seqgen": eps}, version)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    registry.load.cache_clear()


def test_plugins_new_installs_registers_and_trains(cli, tmp_path, plugin_site, monkeypatch):
    project = tmp_path / "seqgen-kittemplate"
    code, out, err = cli("plugins", "new", "kittemplate", "--dir", project)
    assert code == 0, err
    for rel in (
        "pyproject.toml",
        "README.md",
        "seqgen_kittemplate/__init__.py",
        "tests/test_kittemplate.py",
    ):
        assert (project / rel).is_file(), rel
    assert 'kittemplate = "seqgen_kittemplate"' in (project / "pyproject.toml").read_text()
    code, _, err = cli("plugins", "new", "kittemplate", "--dir", project)
    assert code == 1 and "not empty" in err
    code, _, err = cli("plugins", "new", "Bad-Name", "--dir", tmp_path / "x")
    assert code == 1 and "lowercase Python identifier" in err

    _install(project, plugin_site, monkeypatch)
    code, out, err = cli("domains")
    assert code == 0 and "kittemplate" in out, err
    code, out, _ = cli("plugins", "--json")
    assert '"kittemplate"' in out

    cls = registry.load().domains["kittemplate"]
    check_tokenizer(cls, cls.sample_corpus(tmp_path))  # the stub passes the kit as written
    corpus = cls.sample_corpus(tmp_path)
    run = tmp_path / "run"
    code, _, err = cli(
        "train",
        "--domain",
        "kittemplate",
        "-c",
        corpus,
        "--out",
        run,
        "--max-steps",
        "1",
        *TINY,
        "-q",
    )
    assert code == 0, err
    code, out, err = cli("generate", run, "-n", "20", "--seed", "1", "--out", tmp_path / "s.txt")
    assert code == 0, err
    assert (tmp_path / "s.txt").is_file()


def test_generated_tests_pass_with_the_pytest_fixture(cli, tmp_path, monkeypatch):
    """The template's own tests pass in a nested pytest session, which finds `seqgen_check`
    through the pytest11 entry point of the installed seqgen (not through this suite)."""
    project = tmp_path / "proj"
    assert cli("plugins", "new", "kitfixture", "--dir", project)[0] == 0
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.chdir(project)
    args = [str(project / "tests"), "-q", "-p", "no:cacheprovider", "-s", "--rootdir", str(project)]
    assert pytest.main(args) == pytest.ExitCode.OK


# --- the out-of-tree example plugin, when installed -------------------------------------------
def test_example_dna_plugin_end_to_end(cli, tmp_path):
    pytest.importorskip("seqgen_dna", reason="pip install -e plugins/seqgen-dna to run this")
    reg = registry.load()
    assert "dna" in reg.domains and reg.domain_plugin["dna"] == "dna"
    cls = reg.domains["dna"]
    check_tokenizer(cls, cls.sample_corpus(tmp_path), options={"max_run": "3"})
    fasta = tmp_path / "in.fa"
    fasta.write_text(">x\nACGTTGCA\n>y\nggccaatt\n" * 40)
    run = tmp_path / "run"
    code, _, err = cli(
        "train",
        "--domain",
        "dna",
        "-c",
        fasta,
        "--out",
        run,
        "-o",
        "max_run=3",
        "--max-steps",
        "1",
        *TINY,
        "-q",
    )
    assert code == 0, err
    out_file = tmp_path / "out.fasta"
    code, out, err = cli(
        "generate", run, "-n", "40", "--seed", "2", "--prime", "ACG", "--out", out_file
    )
    assert code == 0, err
    assert out.startswith("ACG")
    docs = list(cls.from_state({"settings": cls.parse_options({})}).read(out_file))
    assert docs and isinstance(docs[0], Document)
    code, _, err = cli("generate", run, "--prime", "ACGZ", "-n", "2")
    assert code == 1 and "outside the alphabet" in err


def test_dna_tokenizer_errors_are_data_errors(tmp_path):
    seqgen_dna = pytest.importorskip("seqgen_dna")
    path = tmp_path / "x.fa"
    path.write_text("ACGT\n")
    with pytest.raises(DataError, match="before the first '>' header"):
        list(seqgen_dna.FastaTokenizer.create().read(path))
