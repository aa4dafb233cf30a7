"""Grammar-constrained sampling for the markup domain: every sample is well-formed XML.

:class:`XMLConstraint` runs a small XML lexer over the tokens as they are drawn. It keeps the
lexer state (text, inside a start tag, attribute value, character reference, end tag being
spelled, comment, CDATA) and a stack of open elements, each with its own stack of open wiki
brackets (``[[`` / ``{{``). ``mask`` allows only tokens that keep the text a prefix of a
well-formed document; ``finish`` returns the tokens that close whatever is open.

What it guarantees (the generated grammar is a subset of XML 1.0, also namespace-clean):

* an end tag closes the innermost open element, and only after its wiki brackets are closed;
  ``]]`` / ``}}`` close only the innermost open ``[[`` / ``{{``;
* start tags have unique attributes, quoted values without ``<``, whitespace between
  attributes; element names have no colon, attribute prefixes are only ``xml:`` and there
  are no ``xmlns`` declarations;
* only the five predefined entities, and character references to legal XML characters;
* no ``]]>`` in text, no ``--`` in comments, only characters XML allows anywhere;
* end-of-document only when nothing is open (the sampler appends no ``finish`` after it).

Every state allows at least one token, so the mask is never empty. ``advance`` also accepts
tokens the mask would refuse (a ``--prime`` may hold anything) and makes the best of them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from seqgen.tokenizer import Constraint

TEXT, TAGNAME, INTAG, ATTRNAME, ATTRQ, ATTRVAL, CHARREF, ENDTAG, COMMENT, CDATA, PI = range(11)
WS = " \t\r\n"
NAME_START = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
NAME_CHARS = NAME_START + "0123456789-."
HEX = "0123456789abcdefABCDEF"
PREDEFINED = ("&amp;", "&lt;", "&gt;", "&quot;", "&apos;")


def xml_char(cp: int) -> bool:
    """Whether XML 1.0 allows the character anywhere (production [2] Char)."""
    return (
        cp in (0x9, 0xA, 0xD)
        or 0x20 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


class Grammar:
    """Masks and token classes of one vocabulary, built once and shared by all samples."""

    def __init__(self, tok):
        self.V = V = tok.vocab_size
        self.kind = [k for k, _ in tok.tokens]
        self.text = [t for _, t in tok.tokens]
        ix = tok.index
        self.char = {t: i for i, (k, t) in enumerate(tok.tokens) if k == "char"}
        self.sym = {t: ix[("sym", t)] for k, t in tok.tokens if k == "sym"}
        self.wiki = {t: ix[("wiki", t)] for k, t in tok.tokens if k == "wiki"}
        self.close_of = {t[2:-1]: i for i, (k, t) in enumerate(tok.tokens) if k == "close"}
        self.attr_of = {t[:-1]: i for i, (k, t) in enumerate(tok.tokens) if k == "attr"}

        def mask(ids) -> np.ndarray:
            m = np.zeros(V, dtype=bool)
            m[list(ids)] = True
            return m

        def chars(s: str) -> list[int]:
            return [self.char[c] for c in s if c in self.char]

        valid = [i for c, i in self.char.items() if xml_char(ord(c))]
        entities = [ix[("entity", e)] for e in PREDEFINED]
        refs = [self.sym["&#"], self.sym["&#x"]]
        opens = [i for i, (k, t) in enumerate(tok.tokens) if k == "open" and ":" not in t]
        self.list_ids = mask(i for i, (k, _) in enumerate(tok.tokens) if k == "list")
        wiki_free = [i for t, i in self.wiki.items() if t not in ("]]", "}}")]
        text = [i for i in valid if self.text[i] not in "<&"]
        self.gt = self.char[">"]
        self.m_text = mask(
            text
            + entities
            + refs
            + opens
            + wiki_free
            + [self.sym["<"], self.sym["<!--"], self.sym["<![CDATA["]]
        )
        self.m_tagname_first = mask(chars(NAME_START))
        self.m_tagname = mask(chars(NAME_CHARS + WS + ">") + [self.sym["/>"]])
        self.m_intag = mask(chars(WS + ">") + [self.sym["/>"]])
        # No namespace declarations: a URI holding ElementTree's "}" separator fails to parse.
        attrs = [
            i
            for n, i in self.attr_of.items()
            if (":" not in n or n.startswith("xml:")) and n != "xmlns"
        ]
        self.m_intag_ws = self.m_intag | mask(attrs + chars(NAME_START))
        self.m_attrname = mask(chars(NAME_CHARS))
        self.eq = self.char["="]
        self.m_attrq = mask(chars("\"'"))
        base = [i for i in valid if self.text[i] not in "<&\"'"] + entities + refs
        self.m_attrval = {q: mask(base + chars(q)) for q in "\"'"}
        self.m_dec = [self.char[c] for c in "0123456789"]
        self.m_hex = [self.char[c] for c in HEX]
        self.semi = self.char[";"]
        self.m_comment = mask(valid + [self.sym["-->"]])
        self.m_comment_dash = self.m_comment.copy()
        self.m_comment_dash[[self.char["-"], self.sym["-->"]]] = False
        self.m_cdata = mask(valid + [self.sym["]]>"]])
        self.m_cdata_gt = self.m_cdata.copy()
        self.m_cdata_gt[self.gt] = False
        self.m_pi = mask(valid + [self.sym["?>"]])


@dataclass
class _Frame:
    name: str | None  # None: outside every element
    wiki: list[str] = field(default_factory=list)


class XMLConstraint(Constraint):
    """Per-sample XML lexer state; see the module docstring for what it guarantees."""

    def __init__(self, g: Grammar):
        self.g = g
        self.stack = [_Frame(None)]
        self.state = TEXT
        self.tail = "\n"  # last characters of text: "]]" forbids ">", "\n" allows list markers
        self.name = ""  # tag or attribute name being spelled; end tag being spelled
        self.tag = ""  # name of the open start tag
        self.pos = 0  # next character of the end tag name
        self.used: set[str] = set()  # attributes of the open start tag
        self.ws = False  # whitespace since the last attribute
        self.quote = '"'
        self.base = 10
        self.value = 0
        self.digits = 0
        self.ret = TEXT  # where a character reference returns to
        self.dash = False  # last comment character was "-"

    def copy(self) -> XMLConstraint:
        """Shares the grammar (read-only masks and tables); copies the lexer state."""
        new = copy.copy(self)
        new.stack = [_Frame(f.name, list(f.wiki)) for f in self.stack]
        new.used = set(self.used)
        return new

    # --- mask --------------------------------------------------------------------------------
    def mask(self) -> np.ndarray:
        g, s = self.g, self.state
        if s == TEXT:
            m = g.m_text.copy()
            if self.tail.endswith("\n"):
                m |= g.list_ids
            if self.tail.endswith("]]"):
                m[g.gt] = False
            top = self.stack[-1]
            if top.wiki:
                m[g.wiki["]]" if top.wiki[-1] == "[[" else "}}"]] = True
            elif top.name is not None:
                close = g.close_of.get(top.name)
                m[close if close is not None else g.sym["</"]] = True
            elif len(self.stack) == 1:
                m[0] = True  # end of document: nothing is open
            return m
        if s == TAGNAME:
            return g.m_tagname if self.name else g.m_tagname_first
        if s == INTAG:
            if not self.ws:
                return g.m_intag
            m = g.m_intag_ws.copy()
            for n in self.used:
                if n in g.attr_of:
                    m[g.attr_of[n]] = False
            return m
        if s == ATTRNAME:
            if self.name in self.used or self.name == "xmlns":
                return g.m_attrname
            m = g.m_attrname.copy()
            m[g.eq] = True
            return m
        if s == ATTRQ:
            return g.m_attrq
        if s == ATTRVAL:
            return g.m_attrval[self.quote]
        if s == CHARREF:
            m = np.zeros(g.V, dtype=bool)
            for i in g.m_dec if self.base == 10 else g.m_hex:
                if self.value * self.base + int(g.text[i], 16) <= 0x10FFFF:
                    m[i] = True
            if self.digits and _legal_ref(self.value):
                m[g.semi] = True
            return m
        if s == ENDTAG:
            m = np.zeros(g.V, dtype=bool)
            if self.pos < len(self.name) and self.name[self.pos] in g.char:
                m[g.char[self.name[self.pos]]] = True
            else:
                m[g.gt] = True
            return m
        if s == COMMENT:
            return g.m_comment_dash if self.dash else g.m_comment
        if s == CDATA:
            return g.m_cdata_gt if self.tail.endswith("]]") else g.m_cdata
        return g.m_pi

    # --- advance -------------------------------------------------------------------------------
    def advance(self, token: int) -> None:
        g = self.g
        kind, text = g.kind[token], g.text[token]
        if kind == "eod":
            self.__init__(g)
            return
        step = _STEPS.get(self.state)
        if step is not None:
            step(self, kind, text)

    def _text(self, kind: str, text: str) -> None:
        top = self.stack[-1]
        if kind == "open":
            self._start_tag(text[1:])
        elif kind == "close":
            self._end(text[2:-1])
        elif kind == "sym" and text in _OPENERS:
            self._open(text, top)
        else:
            if kind == "wiki" and text in ("[[", "{{"):
                top.wiki.append(text)
            elif kind == "wiki" and text in ("]]", "}}") and top.wiki:
                if top.wiki[-1] == ("[[" if text == "]]" else "{{"):
                    top.wiki.pop()
            self.tail = (self.tail + text)[-2:]

    def _open(self, text: str, top: _Frame) -> None:
        """A symbol that opens a construct inside text."""
        if text == "<":
            self.state, self.name = TAGNAME, ""
        elif text == "</":
            self.state, self.name, self.pos = ENDTAG, top.name or "", 0
        elif text in ("&#", "&#x"):
            self._charref(text, TEXT)
        elif text == "<!--":
            self.state, self.dash = COMMENT, False
        elif text == "<![CDATA[":
            self.state, self.tail = CDATA, ""
        else:  # "<?"
            self.state = PI

    def _tagname(self, kind: str, text: str) -> None:
        if kind == "char" and text in NAME_CHARS and (self.name or text in NAME_START):
            self.name += text
        else:
            self._start_tag(self.name or "x")
            self._in_tag(kind, text)

    def _attrname(self, kind: str, text: str) -> None:
        if text == "=":
            self.used.add(self.name)
            self.state = ATTRQ
        elif kind == "char" and text in NAME_CHARS:
            self.name += text

    def _attrq(self, kind: str, text: str) -> None:
        if text in ("'", '"'):
            self.state, self.quote = ATTRVAL, text

    def _attrval(self, kind: str, text: str) -> None:
        if text == self.quote:
            self.state, self.ws = INTAG, False
        elif kind == "sym" and text in ("&#", "&#x"):
            self._charref(text, ATTRVAL)

    def _charref_digit(self, kind: str, text: str) -> None:
        if text == ";" or not (kind == "char" and len(text) == 1 and text in HEX):
            self.state = self.ret
            if self.ret == TEXT:
                self.tail = ";"
        else:
            self.value = min(self.value * self.base + int(text, 16), 0x110000)
            self.digits += 1

    def _endtag(self, kind: str, text: str) -> None:
        if text == ">":
            self._end(self.name)
        else:
            self.pos += len(text)

    def _comment(self, kind: str, text: str) -> None:
        if text == "-->":
            self.state, self.tail = TEXT, ">"
        else:
            self.dash = text.endswith("-")

    def _cdata(self, kind: str, text: str) -> None:
        if text == "]]>":
            self.state, self.tail = TEXT, ">"
        else:
            self.tail = (self.tail + text)[-2:]

    def _pi(self, kind: str, text: str) -> None:
        if text == "?>":
            self.state, self.tail = TEXT, ">"

    def _start_tag(self, name: str) -> None:
        self.state, self.tag, self.used, self.ws = INTAG, name, set(), False

    def _in_tag(self, kind: str, text: str) -> None:
        if text == ">":
            self.stack.append(_Frame(self.tag))
            self.state, self.tail = TEXT, ">"
        elif text == "/>":
            self.state, self.tail = TEXT, ">"
        elif kind == "char" and text in WS:
            self.ws = True
        elif kind == "attr":
            self.used.add(text[:-1])
            self.state = ATTRQ
        elif kind == "char" and text in NAME_START:
            self.state, self.name = ATTRNAME, text

    def _end(self, name: str) -> None:
        if self.stack[-1].name == name:
            self.stack.pop()
        self.state, self.tail = TEXT, ">"

    def _charref(self, text: str, ret: int) -> None:
        self.state, self.ret = CHARREF, ret
        self.base, self.value, self.digits = (16 if text == "&#x" else 10), 0, 0

    # --- finish --------------------------------------------------------------------------------
    def finish(self) -> list[int]:
        out: list[int] = []
        for _ in range(100_000):  # each closer makes progress; the bound only guards a bug
            t = self._closer()
            if t is None:
                break
            out.append(t)
            self.advance(t)
        return out

    def _closer(self) -> int | None:
        g, s, ch = self.g, self.state, self.g.char
        if s == TEXT:
            top = self.stack[-1]
            if top.wiki:
                return g.wiki["]]" if top.wiki[-1] == "[[" else "}}"]
            if top.name is None:
                return None
            return g.close_of.get(top.name, g.sym["</"])
        if s == TAGNAME:
            return g.sym["/>"] if self.name else ch["x"]
        if s == INTAG:
            return g.sym["/>"]
        if s == ATTRNAME:
            return ch["_"] if self.name in self.used or self.name == "xmlns" else g.eq
        if s == ATTRQ:
            return ch['"']
        if s == ATTRVAL:
            return ch[self.quote]
        if s == CHARREF:
            if self.digits and _legal_ref(self.value):
                return g.semi
            return ch["4"] if self.value == 0 else ch["0"]  # &#40; / &#x40;, or scale it up
        if s == ENDTAG:
            return ch[self.name[self.pos]] if self.pos < len(self.name) else g.gt
        if s == COMMENT:
            return ch[" "] if self.dash else g.sym["-->"]
        if s == CDATA:
            return g.sym["]]>"]
        return g.sym["?>"]


def _legal_ref(cp: int) -> bool:
    return xml_char(cp)


_OPENERS = ("<", "</", "&#", "&#x", "<!--", "<![CDATA[", "<?")
# What advance() does in each lexer state (the handlers take the token's kind and text).
_STEPS = {
    TEXT: XMLConstraint._text,
    TAGNAME: XMLConstraint._tagname,
    INTAG: XMLConstraint._in_tag,
    ATTRNAME: XMLConstraint._attrname,
    ATTRQ: XMLConstraint._attrq,
    ATTRVAL: XMLConstraint._attrval,
    CHARREF: XMLConstraint._charref_digit,
    ENDTAG: XMLConstraint._endtag,
    COMMENT: XMLConstraint._comment,
    CDATA: XMLConstraint._cdata,
    PI: XMLConstraint._pi,
}
