"""seqgen-dna's tests: the conformance kit on every alphabet, plus FASTA details."""

import pytest
from seqgen.errors import DataError

from seqgen_dna import FastaTokenizer


@pytest.mark.parametrize(
    "options", [{}, {"alphabet": "protein"}, {"max_run": "2"}, {"line_width": "7"}]
)
def test_conformance(seqgen_check, options):
    seqgen_check(FastaTokenizer, options=options)


def test_records_become_documents(tmp_path):
    path = tmp_path / "two.fa"
    path.write_text(">one\nACGT\nac\n>two\n\nggxx\n")
    docs = list(FastaTokenizer.create().read(path))
    assert [d.name.split(":")[-1] for d in docs] == ["one", "two"]
    assert [list(d.parts) for d in docs] == [["ACGTAC"], ["GGNN"]]


def test_strict_refuses_unknown_letters(tmp_path):
    path = tmp_path / "bad.fa"
    path.write_text(">one\nACGTZ\n")
    with pytest.raises(DataError, match="outside the dna alphabet"):
        list(FastaTokenizer.create({"strict": "yes"}).read(path))


def test_write_wraps_lines(tmp_path):
    tok = FastaTokenizer.create({"line_width": "4"})
    tok.write(list(tok.encode("ACGTACG")) + [tok.eod_id] + list(tok.encode("TT")), tmp_path / "o")
    assert (tmp_path / "o").read_text().splitlines()[1:3] == ["ACGT", "ACG"]
    assert [list(d.parts) for d in tok.read(tmp_path / "o")] == [["ACGTACG"], ["TT"]]
