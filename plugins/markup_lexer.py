"""The markup domain's lexer: text split into the pieces its tokens are made of, in one pass.

Comments, CDATA sections and processing instructions run to their closer (``-->``, ``]]>``,
``?>``). Each closer is looked for once going forward, not once per opener, so a file of many
openers without a closer (``<?<?<?...``) is still read in linear time; an opener without a
closer is ordinary text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_NAME = r"(?:[^\W\d]|:)[\w.:\-]*"
MASTER = re.compile(
    r"(?P<COMMENT><!--)"  # the closers of these three are found by _matches
    r"|(?P<CDATA><!\[CDATA\[)"
    r"|(?P<PI><\?)"
    rf"|(?P<CLOSE></(?P<cname>{_NAME})>)"
    rf"|(?P<OPEN><(?P<oname>{_NAME})"
    rf"(?P<attrs>(?:\s+{_NAME}\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*)\s*/?>)"
    rf"|(?P<ENTITY>&(?P<ename>{_NAME});)"
    r"|(?P<CHARREF>&\#(?:[0-9]+|x[0-9a-fA-F]+);)"
    r"|(?P<LIST>^[*\#:;]+)"
    r"|(?P<WIKI>^\{\||^\|\}|^\|-|\[\[|\]\]|\{\{|\}\}|'''|''|={2,6}|\|\|)",
    re.S | re.M,
)
ATTR = re.compile(rf"(\s+)({_NAME})(\s*)=(\s*)(?:\"([^\"<]*)\"|'([^'<]*)')")
REFS = re.compile(rf"&(?P<ename>{_NAME});|&\#(?:[0-9]+|x[0-9a-fA-F]+);")

CLOSERS = {"COMMENT": "-->", "CDATA": "]]>", "PI": "?>"}


def _matches(text: str) -> Iterator[tuple[str, int, int, re.Match]]:
    """MASTER's matches as (kind, start, end, match), comments, CDATA and PIs spanning to
    their closer. ``ahead[closer]`` is where that closer next occurs after the last place it
    was looked for (-1: nowhere), so no stretch of text is searched twice for it."""
    pos, ahead = 0, {}
    while (m := MASTER.search(text, pos)) is not None:
        what, s = m.lastgroup, m.start()
        if what not in CLOSERS:
            yield what, s, m.end(), m
            pos = m.end()
            continue
        closer = CLOSERS[what]
        found = ahead.get(closer)
        if found is None or -1 < found < m.end():
            found = ahead[closer] = text.find(closer, m.end())
        if found < 0:
            pos = s + 1  # no closer anywhere after: the opener is ordinary text
            continue
        yield what, s, found + len(closer), m
        pos = found + len(closer)


def _pieces(text: str) -> Iterator[tuple[str, int, int]]:
    """Split ``text`` into (kind, start, end) pieces that tile it exactly. Kinds: text (plain
    characters), sym, wiki, list (the piece's own text); open, close, attr, entity (the span
    is the *name*; the delimiters around it are implied)."""
    pos = 0
    for what, s, e, m in _matches(text):
        if s > pos:
            yield "text", pos, s
        pos = e
        if what == "WIKI":
            yield "wiki", s, e
        elif what == "ENTITY":
            yield "entity", s + 1, e - 1
        elif what == "OPEN":
            yield "open", s + 1, m.end("oname")
            at = m.end("oname")
            for a in ATTR.finditer(text, at, m.end("attrs")):
                yield "text", a.start(1), a.end(1)
                if a.end(3) == a.start(3):  # name=: one attribute token
                    yield "attr", a.start(2), a.end(2)
                    at = a.end(2) + 1
                else:
                    yield "text", a.start(2), a.end(3) + 1
                    at = a.end(3) + 1
                quote = a.end(4)  # the opening quote
                if quote > at:
                    yield "text", at, quote
                value = a.span(5) if a.group(5) is not None else a.span(6)
                yield "text", quote, quote + 1
                yield from _refs(text, *value)
                yield "text", value[1], value[1] + 1
                at = value[1] + 1
            close = e - 2 if text[e - 2] == "/" else e - 1
            if close > at:
                yield "text", at, close
            yield ("sym", close, e) if close == e - 2 else ("text", close, e)
        elif what == "CLOSE":
            yield "close", s + 2, e - 1
        elif what == "CHARREF":
            hexa = text[s + 2] == "x"
            yield "sym", s, s + (3 if hexa else 2)
            yield "text", s + (3 if hexa else 2), e
        elif what == "LIST":
            yield "list", s, e
        else:  # COMMENT, CDATA, PI: opener, characters, closer
            n_open, n_close = {"COMMENT": (4, 3), "CDATA": (9, 3), "PI": (2, 2)}[what]
            yield "sym", s, s + n_open
            if e - n_close > s + n_open:
                yield "text", s + n_open, e - n_close
            yield "sym", e - n_close, e
    if pos < len(text):
        yield "text", pos, len(text)


def _refs(text: str, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """Pieces of an attribute value: entities and character references, else characters."""
    pos = start
    for m in REFS.finditer(text, start, end):
        s, e = m.span()
        if s > pos:
            yield "text", pos, s
        if m.group("ename") is not None:
            yield "entity", s + 1, e - 1
        else:
            n = 3 if text[s + 2] == "x" else 2
            yield "sym", s, s + n
            yield "text", s + n, e
        pos = e
    if end > pos:
        yield "text", pos, end
