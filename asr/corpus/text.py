"""Natural English text for the built-in corpus: sources installed from Debian main, a text
normalizer, and a split of every sentence into one corpus split by a hash of its text.

Sources (each yields raw sentences; the Debian package that installs it in brackets):

    wordnet   example sentences in WordNet 3.0's glosses          [wordnet-base]
    fortunes  the fortune cookie files, cut into sentences         [fortunes, fortunes-min]
    gcide     quotations of the 1913 Webster in GCIDE              [dict-gcide]
    glosses   the definitions of WordNet's glosses (LM text only)  [wordnet-base]

A sentence is kept when `normalize` turns it into lower-case letters, apostrophe and space
(numbers, ordinals, years, times, money and abbreviations spelled out), every word is in the
word list (SCOWL's american-english-huge, [wamerican-huge], or the grammar's vocabulary), and it
has `min_words`..`max_words` words and at most `max_chars` characters (about 1-6 s of speech).

    normalize("Dr. Smith paid $25 on May 3rd, 1984.")
    -> "doctor smith paid twenty five dollars on may third nineteen eighty four"
    natural_pool(NaturalSpec(...))["test-natural"]   # held-out sentences, the same on every machine
"""
from __future__ import annotations

import gzip
import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from asr.corpus import CorpusError
from asr.corpus.grammar import ALPHABET, ONES, number_words, vocabulary, year_words

WORDNET_DIR = Path("/usr/share/wordnet")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
GCIDE_DICT = Path("/usr/share/dictd/gcide.dict.dz")
WORD_LIST = Path("/usr/share/dict/american-english-huge")
SOURCE_PACKAGES = {"wordnet": "wordnet-base", "fortunes": "fortunes fortunes-min", "gcide": "dict-gcide",
                   "glosses": "wordnet-base", "wordlist": "wamerican-huge"}
# fortune files left out: pictures, and jokes about groups of people
FORTUNES_SKIPPED = {"ascii-art", "ethnic", "men-women", "translate-me"}

# ---------------------------------------------------------------------------------------
# Normalizer

ABBREVIATIONS = {
    "mr.": "mister", "mrs.": "missus", "ms.": "miz", "dr.": "doctor", "prof.": "professor",
    "jr.": "junior", "sr.": "senior", "gen.": "general", "gov.": "governor", "sen.": "senator",
    "rep.": "representative", "capt.": "captain", "lt.": "lieutenant", "col.": "colonel",
    "sgt.": "sergeant", "rev.": "reverend", "mt.": "mount", "ft.": "fort", "vs.": "versus",
    "etc.": "et cetera", "e.g.": "for example", "i.e.": "that is", "approx.": "approximately",
    "dept.": "department", "univ.": "university", "ave.": "avenue", "jan.": "january",
    "feb.": "february", "aug.": "august", "sept.": "september", "oct.": "october",
    "nov.": "november", "dec.": "december",
}
# abbreviations with more than one reading ("st." is saint or street) or read as letters
# ("p.m."): the sentence is dropped
AMBIGUOUS = {"st.", "co.", "inc.", "ltd.", "vol.", "ch.", "p.", "pp.", "cf.", "viz.", "ibid.", "op.", "a.m.",
             "p.m.", "u.s.", "b.c.", "a.d."}
ORDINAL_OF = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
              "nine": "ninth", "twelve": "twelfth"}
TRANSLATE = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2032": "'", "`": "'",
                           "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
                           "\u2010": "-", "\u2011": "-", "\u2012": " - ", "\u2013": " - ", "\u2014": " - ",
                           "\u2015": " - ", "\u2212": "-", "\u00a0": " "})
_ABBREV = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in sorted(
    ABBREVIATIONS.keys() | AMBIGUOUS, key=len, reverse=True)) + r")(?=\s|$|[,;:!?\")])", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])([$£]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th|s)?(%?)(?![\w.]*\d)"
                     r"(?=[\s,;:!?\")\-]|\.(?!\d)|$)")
_NUMBER_SIGN = re.compile(r"(?<![\w.])no\.(?=\s*\d)", re.IGNORECASE)  # "No. 5"; a plain "no." ends a sentence
_TIME = re.compile(r"(?<![\w:])(\d{1,2}):(\d{2})(?![\w:])")
_LIST_MARK = re.compile(r"\(\s*\d+\s*\)|^\s*\d+[.)](?:\s|$)")
_QUOTED = re.compile(r"(?<![a-zA-Z])'([^']+)'(?![a-zA-Z])")


def ordinal_words(n: int) -> str:
    """21 -> "twenty first", 40 -> "fortieth"."""
    *head, last = number_words(n).split()
    if last in ORDINAL_OF:
        last = ORDINAL_OF[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def _ordinal_suffix(n: int) -> str:
    return "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _plural_number(words: str) -> str:
    """ "nineteen twenty" -> "nineteen twenties" (the 1920s), "six" -> "sixes"."""
    *head, last = words.split()
    last = last[:-1] + "ies" if last.endswith("y") else last + ("es" if last.endswith("x") else "s")
    return " ".join([*head, last])


def _number(m: re.Match) -> str:
    currency, digits, decimals, suffix, percent = m.groups()
    n = int(digits.replace(",", ""))
    if (currency and (suffix or percent or decimals)) or n >= 1_000_000 or (suffix and decimals) or \
            (len(digits) > 1 and digits[0] == "0"):
        raise ValueError(m.group(0))  # "$3.50", "007"
    if suffix in ("st", "nd", "rd", "th"):
        if suffix != _ordinal_suffix(n):
            raise ValueError(m.group(0))  # "2th", "11st"
        return " " + ordinal_words(n) + " "
    year = "," not in digits and len(digits) == 4 and 1100 <= n <= 2099 and not (currency or decimals or percent)
    words = year_words(n) if year else number_words(n)
    if decimals:
        words += " point " + " ".join(ONES[int(d)] for d in decimals)
    if suffix == "s":  # decades: the 1960s, the 80s
        if not (year or (len(digits) == 2 and n % 10 == 0)):
            raise ValueError(m.group(0))
        words = _plural_number(words)
    if currency:
        unit = "dollar" if currency == "$" else "pound"
        words += f" {unit}" + ("" if n == 1 and not decimals else "s")
    return " " + words + (" percent" if percent else "") + " "


def _time(m: re.Match) -> str:
    h, mins = int(m.group(1)), int(m.group(2))
    if not 1 <= h <= 23 or mins > 59:
        raise ValueError(m.group(0))
    if mins == 0:
        return f" {number_words(h)} o'clock "
    return f" {number_words(h)} " + ("oh " + ONES[mins] if mins < 10 else number_words(mins)) + " "


def _abbreviation(m: re.Match) -> str:
    key = m.group(1).lower()
    if key in AMBIGUOUS:
        raise ValueError(key)
    return " " + ABBREVIATIONS[key] + " "


def _words(text: str) -> list[str] | None:
    """Split normalized-so-far text into words; None when a word is not speakable as written."""
    out = []
    for word in text.split():
        word = word.lstrip("'")
        if word.endswith("'") and not word.endswith("s'"):  # a closing quote, not the plural possessive
            word = word.rstrip("'")
        if not word:
            continue
        if not re.fullmatch(r"[A-Za-z]+(?:'[A-Za-z]+)*'?", word):
            return None
        if len(word) > 1 and word.isupper() or (len(word) == 1 and word.lower() not in "ai"):
            return None  # acronyms ("NASA", "TV") and single letters are read letter by letter
        out.append(word.lower())
    return out


def normalize(text: str) -> str | None:
    """Raw English text -> lower-case letters, apostrophe and single spaces; None when the text
    cannot be normalized cleanly (digits left over, symbols, acronyms, ambiguous abbreviations)."""
    text = unicodedata.normalize("NFKC", text).translate(TRANSLATE)
    if _LIST_MARK.search(text):
        return None  # "(1) ...", "2. ...": an item of a list, not a sentence
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.replace("&", " and ")
    try:
        text = _ABBREV.sub(_abbreviation, text)
        text = _NUMBER_SIGN.sub(" number ", text)
        text = _TIME.sub(_time, text)
        text = _NUMBER.sub(_number, text)
    except ValueError:
        return None
    text = _QUOTED.sub(r" \1 ", text)
    text = re.sub(r"(?<=[A-Za-z])-(?=[A-Za-z])", " ", text)  # well-known -> well known
    text = re.sub(r"[.,;:!?\"()\-]+", " ", text)
    words = _words(text)
    if not words:
        return None
    out = " ".join(words)
    return out if ALPHABET.match(out) else None


# ---------------------------------------------------------------------------------------
# Sources

_NO_SPLIT_BEFORE = re.compile(r"(?:^|\s)(?:" + "|".join(re.escape(a) for a in ABBREVIATIONS.keys() | AMBIGUOUS)
                              + r")$", re.IGNORECASE)


def split_sentences(paragraph: str) -> list[str]:
    """Cut a paragraph at . ! ? followed by a space and a capital or quote, not after "Mr." etc."""
    text = " ".join(paragraph.split())
    out, start = [], 0
    for m in re.finditer(r"[.!?]+[\"')]*\s+(?=[\"'(]?[A-Z0-9])", text):
        if _NO_SPLIT_BEFORE.search(text[start:m.start() + 1]) or re.search(r"(?:^|\s)[A-Z]\.$",
                                                                            text[start:m.start() + 1]):
            continue  # "Mr. Smith", "J. R. R. Tolkien"
        out.append(text[start:m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _need(path: Path, source: str) -> None:
    if not path.exists():
        raise CorpusError(f"data.natural.sources: {source} needs {path} (apt-get install {SOURCE_PACKAGES[source]})")


def wordnet_gloss_lines(root: Path = WORDNET_DIR, source: str = "wordnet") -> list[str]:
    """The gloss of every synset in WordNet's data files: the text after " | " (definitions; "examples")."""
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        path = root / f"data.{pos}"
        _need(path, source)
        out += [line.split(" | ", 1)[1] for line in path.read_text(encoding="latin-1").splitlines()
                if not line.startswith("  ") and " | " in line]
    return out


def wordnet_examples(root: Path = WORDNET_DIR) -> list[str]:
    """The quoted example sentences of WordNet's glosses: "the children played in the yard"."""
    return [ex for gloss in wordnet_gloss_lines(root) for ex in re.findall(r'"([^"]+)"', gloss)]


def fortune_sentences(root: Path = FORTUNES_DIR) -> list[str]:
    """The fortune cookie files cut into sentences, attributions ("-- Mark Twain") left out."""
    _need(root / "fortunes", "fortunes")
    out = []
    for path in sorted(root.iterdir()):
        if path.suffix or path.is_symlink() or path.name in FORTUNES_SKIPPED or not path.is_file():
            continue  # .dat indexes, .u8 links
        for cookie in re.split(r"\n%\n", path.read_text(encoding="utf-8", errors="replace")):
            lines = []
            for line in cookie.splitlines():
                if re.match(r"\s*--", line):  # the attribution: the cookie's text is over
                    break
                lines.append(line)
            text = re.sub(r"\s--\s*[\w .,'()]{1,40}$", "", " ".join(lines))  # "... --lwall"
            # a speaker's label opens a line of dialogue: "Q:", "Woody:"
            out += [re.sub(r"^[A-Z][A-Za-z .]{0,20}:\s+", "", s) for s in split_sentences(text)]
    return out


def gcide_quotations(path: Path = GCIDE_DICT) -> list[str]:
    """The indented quotations of GCIDE (the 1913 Webster), each closed by "--Author."."""
    _need(path, "gcide")
    text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()  # dictzip is gzip
    out, block = [], []
    for line in text.splitlines():
        if line.startswith("        ") and line.strip():
            body, dashes, _ = line.partition("  --")
            block.append(body)
            if dashes:
                out += split_sentences(" ".join(block))
                block = []
        else:
            block = []
    return out


def wordnet_glosses(root: Path = WORDNET_DIR) -> list[str]:
    """The definitions of WordNet's glosses, cut at ";", without the quoted examples: "a member of
    the genus Canis". Phrases rather than sentences: language-model text (`decode.lm.natural_sources`)."""
    return [part.strip() for gloss in wordnet_gloss_lines(root, "glosses") for part in gloss.split(";")
            if '"' not in part and part.strip()]


SOURCES = {"wordnet": wordnet_examples, "fortunes": fortune_sentences, "gcide": gcide_quotations,
           "glosses": wordnet_glosses}


@lru_cache(maxsize=1)
def word_list(path: Path = WORD_LIST) -> frozenset[str]:
    """The words a natural sentence may use: the word list, lower-cased, and the grammar's words."""
    _need(path, "wordlist")
    words = {w.lower() for w in path.read_text(encoding="utf-8", errors="replace").split()}
    return frozenset(words | vocabulary())


def _known(sentence: str, words: frozenset[str]) -> bool:
    return all(w in words or (w.endswith("'s") and w[:-2] in words) or (w.endswith("s'") and w[:-1] in words)
               for w in sentence.split())


# ---------------------------------------------------------------------------------------
# The natural sentences of each split

# share (in percent) of the natural sentences each split may draw from, by a hash of the text:
# a sentence belongs to one split for every seed, corpus size and machine
HASH_SPLITS = (("test-natural", 10), ("dev", 3), ("test", 3), ("test-other", 3), ("train", 81))


@dataclass(frozen=True)
class NaturalSpec:
    sources: tuple[str, ...] = ("wordnet", "fortunes", "gcide")
    min_words: int = 4
    max_words: int = 12
    max_chars: int = 72

    @classmethod
    def from_cfg(cls, natural) -> "NaturalSpec":
        """From `data.natural`; a key it lacks keeps the default."""
        d = cls()
        return cls(tuple(natural.get("sources") or ()), natural.get("min_words", d.min_words),
                   natural.get("max_words", d.max_words), natural.get("max_chars", d.max_chars))


def hash_split(sentence: str) -> str:
    """The split a natural sentence belongs to: a function of its normalized text only."""
    bucket = int.from_bytes(hashlib.sha1(sentence.encode()).digest()[:8], "big") % 100
    for split, share in HASH_SPLITS:
        if bucket < share:
            return split
        bucket -= share
    raise AssertionError("HASH_SPLITS must add up to 100")


@lru_cache(maxsize=4)
def natural_sentences(spec: NaturalSpec) -> dict[str, list[str]]:
    """source -> its normalized sentences that fit the spec, sorted, each in one source only
    (the first in spec.sources that has it)."""
    unknown = [s for s in spec.sources if s not in SOURCES]
    if unknown:
        raise CorpusError(f"data.natural.sources: unknown source {unknown[0]!r}; the sources are {', '.join(SOURCES)}")
    words = word_list()
    seen: set[str] = set()
    out = {}
    for source in spec.sources:
        kept = set()
        for raw in SOURCES[source]():
            text = normalize(raw)
            if (text and text not in seen and spec.min_words <= len(text.split()) <= spec.max_words
                    and len(text) <= spec.max_chars and _known(text, words)):
                kept.add(text)
        seen |= kept
        out[source] = sorted(kept)
    return out


def natural_pool(spec: NaturalSpec, seed: int) -> dict[str, list[str]]:
    """split -> its natural sentences in an order shuffled by `seed` (every split of HASH_SPLITS)."""
    import random

    pool: dict[str, list[str]] = {split: [] for split, _ in HASH_SPLITS}
    for sentences in natural_sentences(spec).values():
        for s in sentences:
            pool[hash_split(s)].append(s)
    for k, split in enumerate(sorted(pool)):
        pool[split].sort()
        random.Random(seed * 7919 + k).shuffle(pool[split])
    return pool


def lm_sentences(data_cfg, sources=None, max_words: int | None = None) -> list[str]:
    """The natural sentences on the train side of the split (text for a language model): none of
    them is ever in dev, test, test-other or test-natural, for any seed or size.

    `sources`: these instead of `data.natural.sources` (e.g. + "glosses", never recorded);
    `max_words`: every sentence of 1..max_words words at any length in characters, instead of only
    those the corpus could record (`data.natural.min_words`..`max_words`, `max_chars`)."""
    spec = NaturalSpec.from_cfg(data_cfg.get("natural") or {})
    if sources is not None:
        unknown = [sources] if isinstance(sources, str) else [s for s in sources if s not in SOURCES]
        if unknown:
            raise CorpusError(f"decode.lm.natural_sources={sources!r}: {unknown[0]!r} is not a source "
                              f"(a list of: {', '.join(SOURCES)})")
        spec = replace(spec, sources=tuple(sources))
    if not spec.sources:
        return []
    if max_words is not None:
        if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 1:
            raise CorpusError(f"decode.lm.natural_max_words={max_words!r} must be a positive integer or null")
        spec = replace(spec, min_words=1, max_words=max_words, max_chars=1 << 30)
    return sorted(natural_pool(spec, 0)["train"])
