"""How well control labels control (docs/labels.md): generate N samples per label value, with
and without the label, and count how often an independent judge agrees with the label asked
for. Prints JSON.

    python bench/control_judge.py --control author --seconds 20 --samples 10
    python bench/control_judge.py --control key --corpus music21:bach -o transpose=6 \
        --seconds 600 --samples 50 --twin
    python bench/control_judge.py --control metre --run runs/nottingham --samples 50

Judges: key and mode (music21's Aarden-Essen key profiles on the sample's pitch-class
histogram), density (the sample's notes per second, in the run's training terciles), metre (the
sample's first time signature), author (a character 3-to-5-gram naive Bayes trained on the
training split only). ``--twin`` also trains the same run without labels and reports both
validation losses (bits per unit). The unlabelled samples' agreement is the baseline.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from runner import SHARED  # noqa: E402

MUSIC = {"key": "key", "density": "density", "metre": "metre"}  # control -> label key
BOOKS = {"shakespeare": "tinyshakespeare/input.txt", "conrad": "gutenberg/219-0.txt"}
BOOKS["carroll"] = "gutenberg/pg11.txt"  # stand-in where no Hikmet-style Turkish is at hand
BOOKS["austen"] = "gutenberg/1342-0.txt"
# the other stand-in: a text in another language (the wikitext of a Bulgarian Wikipedia export)
BOOKS["bulgarian"] = "wiki-xml/bgwiki-latest-pages-articles-shortened.xml"


def book_text(rel: str) -> str:
    """A book's text; for a MediaWiki export, the wikitext of its pages (entities decoded)."""
    if not rel.endswith(".xml"):
        return (SHARED / rel).read_text(encoding="utf-8", errors="replace")
    from xml.etree import ElementTree

    root = ElementTree.parse(SHARED / rel).getroot()  # a local file from the shared corpora
    return "\n\n".join(e.text or "" for e in root.iter() if e.tag.endswith("}text"))


def author_corpus(tmp: Path, books: list[str], chunk: int = 4000) -> Path:
    """corpus/AUTHOR/NNNN.txt: each book in chunks of ``chunk`` characters (one document each)."""
    root = tmp / "authors"
    for author in books:
        text = book_text(BOOKS[author])
        (root / author).mkdir(parents=True, exist_ok=True)
        for k in range(0, min(len(text), 400_000), chunk):
            (root / author / f"{k // chunk:04d}.txt").write_text(text[k : k + chunk])
    return root


class NaiveBayes:
    """Multinomial naive Bayes over character 3- to 5-grams (add-one smoothing)."""

    def __init__(self, texts: dict[str, list[str]]):
        self.counts = {c: Counter(g for t in ts for g in grams(t)) for c, ts in texts.items()}
        self.totals = {c: sum(n.values()) for c, n in self.counts.items()}
        self.vocab = len(set().union(*self.counts.values()))

    def __call__(self, text: str) -> str:
        def score(c: str) -> float:
            n, total = self.counts[c], self.totals[c] + self.vocab
            return sum(math.log((n[g] + 1) / total) for g in grams(text))

        return max(self.counts, key=score)


def grams(text: str):
    for n in (3, 4, 5):
        for i in range(len(text) - n + 1):
            yield text[i : i + n]


def train_texts(model, data) -> dict[str, list[str]]:
    """The training split's documents by their author label (control ids at their start)."""
    tok, table = model.tokenizer, model.labels
    ids = np.asarray(data.tokens("train")).astype(np.int64)
    out: dict[str, list[str]] = {}
    for doc in np.split(ids, np.flatnonzero(ids == tok.eod_id) + 1):
        labels = table.labels_of(doc[doc >= tok.vocab_size])
        if "author" in labels:
            body = doc[(doc < tok.vocab_size) & (doc != tok.eod_id)]
            out.setdefault(labels["author"], []).append(tok.to_text(body.tolist()))
    return out


def judge_for(control: str, model, data):
    """sample ids -> the value the judge hears (None: it cannot say)."""
    if control == "author":
        nb = NaiveBayes(train_texts(model, data))
        return lambda ids: nb(model.tokenizer.to_text(ids))
    from seqgen_plugins.midi.labels import density_of, key_of, metre_of

    tok = model.tokenizer

    def judge(ids):
        piece = tok.decode(ids)
        if control == "key":
            found = key_of(piece)
            return f"{found[0]}-{found[1]}" if found else None
        if control == "density":
            return density_of(piece, tok.density_cuts)
        return metre_of(piece)

    return judge


def agreement(model, judge, key: str, values: list[str], args) -> dict:
    opts = dict(length=args.length, num_samples=args.samples, seed=args.seed)
    opts["temperature"] = args.temperature
    rows, free = {}, [judge(s) for s in model.generate_ids(**opts)]
    for v in values:
        asked = model.generate_ids(labels={key: v}, guidance=args.guidance, **opts)
        heard = [judge(s) for s in asked]
        rows[v] = {
            "with_label": sum(h == v for h in heard) / len(heard),
            "without_label": sum(h == v for h in free) / len(free),
        }
        if key == "key":
            mode = v.split("-")[1]
            rows[v]["mode_with_label"] = sum(bool(h) and h.endswith(mode) for h in heard) / len(
                heard
            )
    mean = {m: float(np.mean([r[m] for r in rows.values()])) for m in next(iter(rows.values()))}
    return {"mean": mean, "per_value": rows}


def train(args, out: Path, labelled: bool):
    import seqgen

    music = args.control in MUSIC
    labels = {"domain_labels": True} if music else {"labels_from_folders": "author"}
    if args.section_labels:
        labels["section_labels"] = True
    return seqgen.train(
        "midi" if music else "char", args.corpus, out, max_time=args.seconds,
        options=dict(o.split("=", 1) for o in args.option), **(labels if labelled else {}),
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--control", choices=["key", "density", "metre", "author"], required=True)
    p.add_argument("--run", help="a trained labelled run (else one is trained)")
    p.add_argument("--corpus", help="default: music21:bach-small (music), three books (author)")
    p.add_argument("-o", "--option", action="append", default=[], help="domain option k=v")
    p.add_argument("--seconds", type=float, default=20, help="training budget (--max-time)")
    p.add_argument("--samples", type=int, default=10, help="samples per label value")
    p.add_argument("--length", type=int, default=None, help="tokens a sample (default 400/600)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--guidance", type=float, default=0.0, help="classifier-free guidance")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--twin", action="store_true", help="also train without labels: NLL cost")
    p.add_argument("--section-labels", action="store_true", help="music: label each bar too")
    p.add_argument(
        "--books", default="shakespeare,conrad,carroll", help=f"author: of {list(BOOKS)}"
    )
    args = p.parse_args()
    import seqgen

    tmp = Path(tempfile.mkdtemp(prefix="control-judge-"))
    music = args.control in MUSIC
    if args.corpus is None:
        args.corpus = (
            "music21:bach-small" if music else str(author_corpus(tmp, args.books.split(",")))
        )
    args.length = args.length or (400 if music else 600)
    t0 = time.perf_counter()
    run_dir = Path(args.run) if args.run else train(args, tmp / "labelled", True).dir
    model = seqgen.load(run_dir)
    data, _ = model._data(None)
    key = MUSIC.get(args.control, "author")
    values = model.labels.known().get(key)
    if not values:
        sys.exit(f"control_judge: the run has no {key!r} labels (it has {model.labels.known()})")
    corpus = model.checkpoint.run.corpus if args.run else args.corpus
    report = {"control": args.control, "run": str(run_dir), "corpus": corpus}
    report.update(samples_per_value=args.samples, length=args.length, values=values)
    report.update(guidance=args.guidance, temperature=args.temperature)
    report["section_labels"] = bool(model.checkpoint.run.labels.get("sections"))
    report["agreement"] = agreement(model, judge_for(args.control, model, data), key, values, args)
    score = model.score()
    report["val_bits_per_unit"] = {"with_labels": score["bits_per_unit"]}
    # the tokenizer's own tokens only: the control ids' own predictions left out
    report["val_bits_per_unit"]["with_labels_tokens_only"] = score["without_controls"][
        "bits_per_unit"
    ]
    if args.twin:
        twin = seqgen.load(train(args, tmp / "plain", False).dir)
        report["val_bits_per_unit"]["without_labels"] = twin.score()["bits_per_unit"]
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
