"""The markup domain: lossless tokens, encoding detection, and well-formed constrained samples."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import xml.sax

import numpy as np
import pytest
from seqgen_plugins.markup import MarkupTokenizer

from seqgen.errors import DataError
from seqgen.tokenizer import Document

TRAIN = """<mediawiki xmlns="http://example.org/" xml:lang="en">
  <page>
    <title>Foo &amp; bar</title>
    <revision><id>1</id>
      <text xml:space="preserve">'''Foo''' is a [[bar|baz]] {{cite|a=b}} &lt;ref&gt;x&lt;/ref&gt;
== History ==
* one
** two
# three
: four
</text>
    </revision>
  </page>
  <page>
    <title>Second</title>
    <revision><id>2</id><text xml:space="preserve">''it'' [[x]]</text></revision>
  </page>
</mediawiki>
"""

SNIPPETS = [
    "<a><b><c>deep</c></b></a>",
    '<a x="double" y=\'single\' z = "spaced" >t</a>',
    "<e a='it&apos;s' b=\"&quot;q&quot; &#169; &#xA9;\"/>",
    "&amp;&lt;&gt;&quot;&apos;&nbsp;&unknownentity; & bare &#; &#x;",
    "&#65;&#x41;&#1114111;",
    "<!-- a comment -- with dashes --><!---->",
    "<![CDATA[ <not a tag> & ]] ]]>",
    '<?xml version="1.0" encoding="utf-8"?>\n<?php echo 1; ?>',
    "[[Link|text]] [[Image:x.png|thumb|[[nested]]]] {{tmpl|{{{1}}}|x=y}}",
    "'''bold''' ''italic'' '''''both''''' ''''four",
    "== Heading ==\n=== Sub ===\n==== Deep ====\n======= seven =======\n",
    "* a\n** b\n*#: c\n; term : def\n#list\n",
    '{| class="wikitable"\n|-\n! h1 !! h2\n|-\n| a || b\n|}\n',
    '<unseenTagName attr-x="1">text</unseenTagName><ns:thing/>',
    "</dangling> < a <<>> a<b",
    "Ünïcödé → 中文 😀 \u00a0 \ufeff",
    "\r\nwindows\r\nlines\rold mac\n",
    '<open attr="unterminated',
    "<!-- unterminated comment",
    "",
]


@pytest.fixture(scope="module")
def tok() -> MarkupTokenizer:
    t = MarkupTokenizer.create({"min_count": "1"})
    t.fit([Document("train", [TRAIN])])
    return t


@pytest.mark.parametrize("text", SNIPPETS)
def test_round_trip_is_byte_exact(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.count_units(ids) == len(text)
    assert tok.check_part(text) is None


def test_structure_is_explicit(tok):
    ids = tok.encode('<page><title a="1">x</title></page>')
    shown = tok.describe(ids)
    assert shown[:2] == ["open:<page", "'>'"]
    assert "close:</title>" in shown and "close:</page>" in shown
    ids = tok.encode("&amp;[[x]]{{y}}'''z'''\n** w")
    shown = tok.describe(ids)
    for unit in ("entity:&amp;", "wiki:[[", "wiki:]]", "wiki:{{", "wiki:}}", "wiki:'''", "list:**"):
        assert unit in shown
    # an unseen name is spelled letter by letter after the "<" / "</" delimiters
    shown = tok.describe(tok.encode("<zq></zq>"))
    assert shown == ["sym:<", "'z'", "'q'", "'>'", "sym:</", "'z'", "'q'", "'>'"]


def test_unseen_characters_are_bytes_and_units_count_characters(tok):
    text = "😀 <page>中</page>"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.count_units(np.asarray(ids)) == len(text)
    assert tok.count_units(np.asarray([0, *ids, 0])) == len(text)  # <eod> stands for nothing


def test_state_round_trip(tok):
    state = json.loads(json.dumps(tok.get_state()))
    again = MarkupTokenizer.from_state(state)
    assert again.vocab_size == tok.vocab_size
    for text in SNIPPETS:
        assert list(again.encode(text)) == list(tok.encode(text))


def test_options_limit_names():
    t = MarkupTokenizer.create({"min_count": "3", "max_names": "1"})
    t.fit([Document("d", ["<a></a><a></a><a></a><b></b><b></b><b></b><b></b><c></c>"])])
    assert t.describe(t.encode("</b>")) == ["close:</b>"]
    assert t.describe(t.encode("</a>"))[0] == "sym:</"  # over max_names: spelled
    assert t.describe(t.encode("</c>"))[0] == "sym:</"  # under min_count: spelled


def test_utf16_bom_crlf_detected(tmp_path, capsys):
    text = '<?xml version="1.0" encoding="UTF-16"?>\r\n<a>България\r\n</a>\r\n'
    path = tmp_path / "bg.xml"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    t = MarkupTokenizer.create()
    parts = [p for d in t.read(path) for p in d.parts]
    assert "".join(parts) == text  # CRLF kept, BOM consumed
    err = capsys.readouterr().err
    assert "UTF-16 LE" in err and "CRLF" in err
    t.fit([Document("bg", parts)])
    assert all(t.check_part(p) is None for p in parts)


def test_declared_encoding(tmp_path, capsys):
    text = '<?xml version="1.0" encoding="ISO-8859-1"?><a>café</a>'
    path = tmp_path / "latin.xml"
    path.write_bytes(text.encode("latin-1"))
    parts = [p for d in MarkupTokenizer.create().read(path) for p in d.parts]
    assert "".join(parts) == text
    assert "XML declaration" in capsys.readouterr().err


def test_invalid_bytes_name_file_and_offset(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_bytes(b"<a>fine\n\xff</a>")
    with pytest.raises(DataError) as e:
        for doc in MarkupTokenizer.create().read(path):
            list(doc.parts)
    assert "bad.xml" in str(e.value) and "byte 8" in str(e.value)


# --- constrained sampling ----------------------------------------------------------------------
def wrapped(text: str) -> bytes:
    return f"<seqgen-sample>{text}</seqgen-sample>".encode()


def parses(text: str) -> bool:
    try:
        xml.sax.parseString(wrapped(text), xml.sax.ContentHandler())
        ET.fromstring(wrapped(text))  # namespace-aware too
        return True
    except (xml.sax.SAXParseException, ET.ParseError):
        return False


def test_random_logits_through_the_constraint_always_parse():
    t = MarkupTokenizer.create({"min_count": "1"})
    rich = TRAIN + '<x:y q:r="1" xmlns:q="u" xml:lang="b"/>&nbsp;<!-- c --><![CDATA[d]]>'
    t.fit([Document("train", [rich])])
    rng = np.random.default_rng(7)
    for trial in range(100):
        c = t.constraint()
        ids: list[int] = []
        sharp = 1.0 + 4.0 * rng.random()  # some samples peaked, some flat
        # Bias structural tokens up so deep nesting, tags and brackets are really exercised.
        bias = np.array([0.0 if k == "char" else 2.0 for k, _ in t.tokens])
        for step in range(int(rng.integers(1, 400))):
            allowed = c.mask()
            assert allowed is not None and allowed.shape == (t.vocab_size,)
            if step == 0:
                allowed = allowed.copy()
                allowed[t.eod_id] = False
            assert allowed.any(), f"empty mask after {t.describe(ids)[-10:]}"
            logits = rng.normal(size=t.vocab_size) * sharp + bias
            logits[~allowed] = -np.inf
            p = np.exp(logits - logits.max())
            nxt = int(rng.choice(t.vocab_size, p=p / p.sum()))
            ids.append(nxt)
            c.advance(nxt)
            if nxt == t.eod_id:
                break
        if ids[-1] != t.eod_id:
            ids += c.finish()
        text = t.decode(ids)
        assert parses(text), f"trial {trial}: {text!r}"


def test_finish_closes_a_prime_cut_anywhere(tok):
    doc = "<page a=\"1\" b='&amp;&#65;'><t>[[x|{{y}}]] &#x41;<!-- c - --></t><![CDATA[z]]]></page>"
    ids = [int(i) for i in tok.encode(doc)]
    for cut in range(len(ids) + 1):
        c = tok.constraint()
        for i in ids[:cut]:
            c.advance(i)
        closed = tok.decode(ids[:cut] + c.finish())
        assert parses(closed), closed


def test_a_copied_constraint_advances_on_its_own(tok):
    """Beam search forks the lexer: the copy shares the grammar (read-only masks) and nothing
    else, so advancing or finishing it leaves the original as it was."""
    doc = (
        "<page a=\"1\" b='&amp;&#65;'><t>[[x|{{y}}]] &#x41;<!-- c - --></t>"
        "<![CDATA[z]]]><?p q?><u v='w'/></page>"
    )
    ids = [int(i) for i in tok.encode(doc)]
    for cut in range(len(ids) + 1):
        original, fresh = tok.constraint(), tok.constraint()
        for i in ids[:cut]:
            original.advance(i)
            fresh.advance(i)
        before = original.mask().copy()
        twin = original.copy()
        assert type(twin) is type(original) and twin.g is original.g
        assert all(a is not b for a, b in zip(twin.stack, original.stack, strict=True))
        for i in ids[cut:]:
            twin.advance(i)
        assert original.copy().finish() == fresh.finish()  # finishing a copy, too
        assert np.array_equal(original.mask(), before), f"cut {cut}: the original moved"
        other = original.copy()
        for i in ids[cut:]:
            original.advance(i)
            other.advance(i)
            assert np.array_equal(original.mask(), other.mask())
        assert np.array_equal(original.mask(), twin.mask())
        assert original.finish() == twin.finish()


# --- the real CLI ------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_train_generate_well_formed(cli, tmp_path):
    corpus = tmp_path / "tiny.xml"
    corpus.write_text(TRAIN * 20, encoding="utf-8")
    run = tmp_path / "run"
    code, _, err = cli(
        "train",
        "-d",
        "markup",
        "-c",
        corpus,
        "--out",
        run,
        "--max-steps",
        "40",
        "--hidden-size",
        "32",
        "--embedding-size",
        "16",
        "--batch-size",
        "4",
        "--seq-len",
        "32",
        "--threads",
        "1",
        "-o",
        "min_count=1",
        "-q",
    )
    assert code == 0, err
    assert "reading as UTF-8" in err
    out = tmp_path / "sample.xml"
    code, _, err = cli("generate", run, "-n", "120", "--seed", "3", "-N", "3", "--out", out, "-q")
    assert code == 0, err
    for k in ("", "-2", "-3"):
        text = (tmp_path / f"sample{k}.xml").read_text(encoding="utf-8")
        assert text and parses(text), text
    code, out_text, err = cli("generate", run, "-n", "60", "--seed", "1", "--prime", "<page>")
    assert code == 0, err
    assert out_text.startswith("<page>") and "</page>" in out_text
    code, out_text, err = cli("eval", run, "--json")
    assert code == 0, err
    assert json.loads(out_text)["unit"] == "character"


@pytest.mark.shared
@pytest.mark.slow
def test_check_round_trips_the_shared_wiki_exports(cli, corpora):
    folder = corpora / "wiki-xml"
    if not folder.is_dir():
        pytest.skip("no wiki-xml in the shared corpora")
    code, out, err = cli("prepare", "-d", "markup", "-c", folder, "--check")
    assert code == 0, err
    report = json.loads(out)
    assert report["files"] == 3
    assert report["check"]["mismatches"] == 0 and report["check"]["parts"] >= 3
    assert "UTF-16 LE" in err  # bgwiki


def test_the_studio_report_says_whether_a_sample_is_well_formed():
    from seqgen_plugins.markup import well_formed

    assert well_formed('<?xml version="1.0"?>\n<page><b>x</b> &amp; y</page>') == (True, "")
    ok, why = well_formed("<page><b>x</page>")
    assert not ok and "mismatched tag" in why
    assert well_formed("text &nope; here")[0] is False
