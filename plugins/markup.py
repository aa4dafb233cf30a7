"""The markup domain: XML (MediaWiki exports, enwik8) and the wiki text inside it.

Markup is tokenized as markup: a start tag opens with one token per element name (``<page``),
attributes are ``name=`` tokens, ``</page>`` closes by name in one token, entities (``&amp;``),
character references (``&#``, ``&#x``), comments, CDATA and processing instructions have their
own delimiters, and the wiki constructs ``[[ ]] {{ }} ''' '' == {| |} |- ||`` and list markers
at line start are single tokens. Everything else is one token per character, so any text
round-trips: a name missing from the vocabulary is spelled (``<`` + letters, ``</`` + letters +
``>``, ``&`` + letters + ``;``) and a character missing from it is spelled as UTF-8 byte tokens.

Decoding is plain concatenation of the tokens' texts, which is what makes the domain lossless:
``decode(encode(x)) == x`` for every string. Sampling can be constrained to well-formed XML
(see :mod:`seqgen_plugins.markup_constraint`).
"""

from __future__ import annotations

import codecs
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from seqgen_plugins.markup_lexer import _pieces

from seqgen import hookimpl
from seqgen.errors import DataError
from seqgen.io import join_tokens, read_text_chunks, text_encoding
from seqgen.tokenizer import Constraint, Document, Option, Tokenizer

# --- token scheme ------------------------------------------------------------------------------
# Every token is (kind, text); its text is what it decodes to.
EOD = ("eod", "")
N_BYTES = 256
# Fixed structural delimiters ("sym"). "<" and "&" here start a *spelled* tag or entity name;
# a stray "<" or "&" in text is the ordinary character token.
SYMS = ("<", "</", "/>", "<!--", "-->", "<![CDATA[", "]]>", "<?", "?>", "&", "&#", "&#x")
WIKI = ("[[", "]]", "{{", "}}", "'''", "''", "==", "===", "====", "=====", "======")
WIKI += ("{|", "|}", "|-", "||")
LIST_SINGLE = ("*", "#", ":", ";")
PREDEFINED_ENTITIES = ("amp", "lt", "gt", "quot", "apos")  # the only ones XML defines itself
# Always in the vocabulary, seen or not, so spelled names, digits and quotes are always possible.
BASE_CHARS = "\t\n\r" + "".join(chr(c) for c in range(0x20, 0x7F))
NAME_KINDS = ("element", "attr", "entity")

# --- labels (seqgen train --domain-labels) -------------------------------------------------
LABEL_CHARS = 1 << 16
_ROOT = re.compile(r"<([A-Za-z_][\w.:-]*)")  # not <?xml or <!-- : the first element
_NS = re.compile(r"<ns>\s*(-?\d+)\s*</ns>")

# --- encoding detection ------------------------------------------------------------------------
_DECL = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")


def detect_encoding(path: Path) -> tuple[str, str]:
    """(Python codec, how it was found) from the byte-order mark, the first bytes, or the XML
    declaration; UTF-8 when nothing says otherwise."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise DataError(f"{path}: cannot open ({e.strerror})") from None
    for bom, codec, label in (
        (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 LE"),
        (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 BE"),
        (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
        (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE"),
        (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE"),
    ):
        if head.startswith(bom):
            return codec, f"{label} (byte-order mark)"
    if head.startswith(b"<\0?\0"):
        return "utf-16-le", "UTF-16 LE (first bytes, no byte-order mark)"
    if head.startswith(b"\0<\0?"):
        return "utf-16-be", "UTF-16 BE (first bytes, no byte-order mark)"
    m = _DECL.match(head)
    if m:
        name = m.group(1).decode("ascii")
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            raise DataError(
                f"{path}: the XML declaration names unknown encoding {name!r}"
            ) from None
        if codec.startswith("utf-16") or codec.startswith("utf-32"):
            codec = "utf-8"  # an 8-bit file that claims UTF-16 cannot be; the bytes win
        return codec, f"{codec.upper()} (XML declaration)"
    return "utf-8", "UTF-8 (default: no byte-order mark or declaration)"


def _has_crlf(path: Path, encoding: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    return "\r\n" in head.decode(encoding, errors="ignore")


# --- the tokenizer -----------------------------------------------------------------------------
class MarkupTokenizer(Tokenizer):
    name = "markup"
    description = "XML and wiki markup (MediaWiki exports, enwik8): tags, entities as units."
    unit = "character"
    output_suffix = ".xml"
    file_patterns = ("*.xml", "*.wiki", "*.xhtml", "*.svg", "enwik8", "enwik9", "enwik8-*")
    options = (
        Option(
            "min_count", 2, "names (tags, attributes, entities) seen fewer times are spelled", int
        ),
        Option("max_names", 512, "at most this many names of each kind get their own token", int),
        Option(
            "encoding",
            "auto",
            "text encoding: auto (byte-order mark, XML declaration, else UTF-8) or a codec",
            str,
            check=text_encoding,
        ),
        Option("constrain", True, "constrain sampling to well-formed XML", bool),
    )

    def __init__(self, settings=None):
        super().__init__(settings)
        self._noted: set[str] = set()
        self._set_vocab("", {k: [] for k in NAME_KINDS}, list(LIST_SINGLE))

    # --- reading ---------------------------------------------------------------------------
    def read(self, path: Path) -> Iterator[Document]:
        path = Path(path)
        given = str(self.settings.get("encoding", "auto"))
        if given.lower() == "auto":
            encoding, how = detect_encoding(path)
        else:
            encoding, how = given, f"{given} (-o encoding)"
        if str(path) not in self._noted:  # read() runs once per pass; say it once
            self._noted.add(str(path))
            note = f"seqgen: markup: {path.name}: reading as {how}"
            if _has_crlf(path, encoding):
                note += "; CRLF line endings kept as they are"
            print(note, file=sys.stderr)
        yield Document(str(path), read_text_chunks(path, encoding))

    def labels(self, document: Document) -> dict[str, str]:
        """``root``: the top-level element; ``namespace``: the first ``<ns>`` of a MediaWiki
        export. Read from the first LABEL_CHARS characters only."""
        head = ""
        for part in document.parts:
            head += part
            if len(head) >= LABEL_CHARS:
                break
        head, out = head[:LABEL_CHARS], {}
        root = _ROOT.search(head)
        if root:
            out["root"] = root.group(1)[:64]
        ns = _NS.search(head)
        if ns:
            out["namespace"] = ns.group(1)
        return out

    # --- vocabulary ------------------------------------------------------------------------
    def fit(self, documents: Iterable[Document]) -> None:
        chars: Counter[str] = Counter()
        names: dict[str, Counter[str]] = {k: Counter() for k in NAME_KINDS}
        lists: Counter[str] = Counter()
        for doc in documents:
            for part in doc.parts:
                chars.update(part)
                for kind, a, b in _pieces(part):
                    if kind in ("open", "close"):
                        names["element"][part[a:b]] += 1
                    elif kind in names:
                        names[kind][part[a:b]] += 1
                    elif kind == "list":
                        lists[part[a:b]] += 1
        lo, most = int(self.settings.get("min_count", 2)), int(self.settings.get("max_names", 512))
        kept = {
            k: sorted(n for n, c in cnt.most_common(most) if c >= lo) for k, cnt in names.items()
        }
        kept["entity"] = sorted(set(kept["entity"]) | set(PREDEFINED_ENTITIES))
        runs = sorted(set(LIST_SINGLE) | {r for r, c in lists.most_common(64) if c >= lo})
        self._set_vocab("".join(sorted(set(chars) | set(BASE_CHARS))), kept, runs)

    def _set_vocab(self, chars: str, names: dict[str, list[str]], runs: list[str]) -> None:
        chars = "".join(sorted(set(chars) | set(BASE_CHARS)))
        self._chars, self._names, self._runs = chars, names, runs
        toks: list[tuple[str, str]] = [EOD]
        toks += [("byte", "")] * N_BYTES
        toks += [("sym", s) for s in SYMS] + [("wiki", w) for w in WIKI]
        toks += [("list", r) for r in runs]
        toks += [("char", c) for c in chars]
        for name in names["element"]:
            toks += [("open", "<" + name), ("close", "</" + name + ">")]
        toks += [("attr", n + "=") for n in names["attr"]]
        toks += [("entity", "&" + n + ";") for n in names["entity"]]
        self.tokens = toks
        self.index = {t: i for i, t in enumerate(toks) if t[0] != "byte"}
        self._table = np.array([t for _, t in toks], dtype=object)
        lens = np.array([len(t) for _, t in toks], dtype=np.int64)
        b = np.arange(N_BYTES)
        lens[1 : 1 + N_BYTES] = ((b & 0xC0) != 0x80).astype(np.int64)  # a byte run: 1 per char
        self._unit_len = lens
        first = self.index[("char", chars[0])]
        self._cps = np.array([ord(c) for c in chars], dtype=np.int64)
        self._char0 = first
        self._grammar = None

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def eod_id(self) -> int:
        return 0

    def count_units(self, ids: np.ndarray) -> int:
        """Characters the ids stand for (a multi-byte character spelled as bytes counts once)."""
        return int(self._unit_len[np.asarray(ids, dtype=np.int64)].sum())

    # --- ids -------------------------------------------------------------------------------
    def _char_ids(self, text: str) -> np.ndarray:
        """Char-token id of every character of ``text``; -1 where the vocabulary lacks it."""
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        idx = np.minimum(np.searchsorted(self._cps, cps), len(self._cps) - 1)
        return np.where(self._cps[idx] == cps, idx + self._char0, -1)

    def encode(self, part: str) -> np.ndarray:
        cids = self._char_ids(part)
        unknown = bool((cids < 0).any())
        out: list[int] = []
        index = self.index

        def chars(a: int, b: int) -> None:
            run = cids[a:b]
            if not unknown or (run >= 0).all():
                out.extend(run.tolist())
                return
            for i, t in zip(range(a, b), run.tolist(), strict=True):
                if t >= 0:
                    out.append(t)
                else:  # spelled as its UTF-8 bytes
                    out.extend(1 + x for x in part[i].encode("utf-8"))

        for kind, a, b in _pieces(part):
            if kind == "text":
                chars(a, b)
            elif kind in ("sym", "wiki"):
                out.append(index[(kind, part[a:b])])
            elif kind == "list":
                t = index.get(("list", part[a:b]))
                if t is None:
                    out.append(index[("list", part[a])])
                    chars(a + 1, b)
                else:
                    out.append(t)
            elif kind == "open":
                t = index.get(("open", "<" + part[a:b]))
                if t is None:
                    out.append(index[("sym", "<")])
                    chars(a, b)
                else:
                    out.append(t)
            elif kind == "close":  # part[a:b] is the name; "</" before it and ">" after it
                t = index.get(("close", "</" + part[a:b] + ">"))
                if t is None:
                    out.append(index[("sym", "</")])
                    chars(a, b + 1)
                else:
                    out.append(t)
            elif kind == "attr":  # the name; "=" follows it directly
                t = index.get(("attr", part[a : b + 1]))
                if t is None:
                    chars(a, b + 1)
                else:
                    out.append(t)
            elif kind == "entity":  # the name; "&" before, ";" after
                t = index.get(("entity", part[a - 1 : b + 1]))
                if t is None:
                    out.append(index[("sym", "&")])
                    chars(a, b + 1)
                else:
                    out.append(t)
        return np.asarray(out, dtype=np.int64)

    def decode(self, ids: Sequence[int]) -> str:
        return join_tokens(ids, self._table, 1, N_BYTES)

    def to_text(self, ids: Sequence[int]) -> str:
        return self.decode(ids)

    def describe(self, ids: Sequence[int]) -> list[str]:
        """The tokens as readable strings (for docs and debugging): ``<page``, ``'a'``, ..."""
        shown = []
        for i in ids:
            kind, text = self.tokens[int(i)]
            if kind == "byte":
                shown.append(f"<0x{int(i) - 1:02X}>")
            elif kind == "eod":
                shown.append("<eod>")
            else:
                shown.append(repr(text) if kind == "char" else f"{kind}:{text}")
        return shown

    def sample_report(self, ids: Sequence[int]) -> dict[str, str]:
        """Whether the sample is well-formed XML, by the criterion of docs/markup.md."""
        ok, why = well_formed(self.to_text(ids))
        return {"well-formed": "yes" if ok else f"no ({why})"}

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {
            "settings": self.settings,
            "chars": self._chars,
            "names": self._names,
            "lists": self._runs,
        }

    @classmethod
    def from_state(cls, state: dict) -> MarkupTokenizer:
        tok = cls(settings=state["settings"])
        tok._set_vocab(state["chars"], state["names"], state["lists"])
        return tok

    # --- sampling --------------------------------------------------------------------------
    @classmethod
    def sample_corpus(cls, directory: Path) -> Path:
        """A small MediaWiki-like export: nested elements, attributes, entities, wiki links,
        templates, bold and a heading; names repeat so some become whole tokens."""
        bold = "'" * 3
        pages = "".join(
            f'  <page id="{i}">\n    <title>Page {i} &amp; more</title>\n'
            f'    <revision><text xml:space="preserve">{bold}Page {i}{bold} is in '
            f"[[Category {i}|a category]] and {{{{cite|n={i}}}}}.\n== Notes ==\n"
            f"* a list item &lt;{i}&gt;</text></revision>\n  </page>\n"
            for i in range(6)
        )
        path = Path(directory) / "sample.xml"
        path.write_text(f'<mediawiki lang="en">\n{pages}</mediawiki>\n', encoding="utf-8")
        return path

    def constraint(self) -> Constraint | None:
        if not self.settings.get("constrain", True):
            return None
        from seqgen_plugins.markup_constraint import Grammar, XMLConstraint

        if self._grammar is None:
            self._grammar = Grammar(self)
        return XMLConstraint(self._grammar)


_LEADING_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


def well_formed(text: str) -> tuple[bool, str]:
    """(True, "") if ``text``, wrapped in one root element (a leading XML declaration moved
    before it), parses as XML 1.0 with expat; else (False, "line:column: what")."""
    import xml.sax

    m = _LEADING_DECL.match(text)
    decl, body = (m.group(0).strip(), text[m.end() :]) if m else ("", text)
    doc = f"{decl}<seqgen-sample>{body}</seqgen-sample>"
    try:
        xml.sax.parseString(doc.encode("utf-8"), xml.sax.ContentHandler())
    except xml.sax.SAXParseException as e:
        return False, f"{e.getLineNumber()}:{e.getColumnNumber()}: {e.getMessage()}"
    return True, ""


@hookimpl
def register_domains(register):
    register(MarkupTokenizer)
