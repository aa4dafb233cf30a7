"""Corpus preparation: splits, caching, memmaps, document boundaries."""

import numpy as np

from seqgen.corpus import resolve
from seqgen.data import prepare
from seqgen.registry import load


def prep(path, **settings):
    reg = load()
    return prepare(reg.domain("char"), resolve(str(path), registry=reg), settings=settings)


def test_single_file_holds_out_the_tail(tmp_path):
    text = "".join(chr(97 + i % 26) for i in range(10_000))
    (tmp_path / "a.txt").write_text(text)
    data = prep(tmp_path / "a.txt")
    train, valid = data.tokens("train"), data.tokens("valid")
    assert isinstance(train, np.memmap)
    assert len(train) + len(valid) == 10_001  # + end-of-document
    assert data.tokenizer.decode(valid)[:5] == text[9000:9005]
    assert data.units("valid") == 1000


def test_many_files_split_by_document(tmp_path):
    for i in range(20):
        (tmp_path / f"doc{i:02d}.txt").write_text(f"document {i}\n")
    data = prep(tmp_path)
    assert data.meta["splits"]["train"]["documents"] == 18
    assert data.meta["splits"]["valid"]["documents"] == 2
    valid = data.tokenizer.decode(data.tokens("valid"))
    assert valid == "document 9\ndocument 19\n"


def test_own_splits_from_a_folder(tmp_path):
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text(f"{split} text\n" * 10)
    data = prep(tmp_path)
    assert set(data.splits) == {"train", "valid", "test"}
    # the vocabulary is fitted on train only: 's' never occurs there
    assert data.tokenizer.decode(data.tokens("test")).startswith("te<unk>t text")


def test_cache_is_reused_and_keyed_by_content(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("abc\n" * 100)
    first = prep(path)
    assert prep(path).dir == first.dir
    assert prep(path, lowercase=True).dir != first.dir
    path.write_text("abd\n" * 100)
    assert prep(path).dir != first.dir


def test_gutenberg_header_and_footer_stripped(tmp_path):
    book = tmp_path / "book.txt"
    book.write_bytes(
        "\ufeffThe Project Gutenberg eBook\r\nlicense blah\r\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK X ***\r\nCall me Ishmael.\r\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK X ***\r\nmore license\r\n".encode()
    )
    data = prep(book, strip_gutenberg=True)
    text = data.tokenizer.decode(np.concatenate([data.tokens("train"), data.tokens("valid")]))
    assert text == "Call me Ishmael.\n"


def test_byte_fallback_is_lossless(tmp_path):
    from seqgen_plugins.char import CharTokenizer

    tok = CharTokenizer(settings={"unknown": "bytes"})
    tok._set_chars(list("abc "))
    ids = tok.encode("ab ☃ cé")
    assert tok.decode(ids) == "ab ☃ cé"
    assert tok.count_units(ids) == 7


def test_bit_patterns(tmp_path):
    reg = load()
    data = prepare(reg.domain("char"), resolve("bits-3-1", registry=reg), settings={})
    text = data.tokenizer.decode(data.tokens("train"))
    assert text.startswith("000100010001") and set(text) == {"0", "1"}
