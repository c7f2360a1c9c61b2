"""Natural English text of the built-in corpus: the normalizer, the source readers, the split."""
import gzip

import pytest

from asr.corpus import CorpusError
from asr.corpus.grammar import ALPHABET
from asr.corpus.text import (HASH_SPLITS, NaturalSpec, fortune_sentences, gcide_quotations, hash_split,
                             lm_sentences, natural_pool, natural_sentences, normalize, ordinal_words,
                             split_sentences, wordnet_examples, wordnet_glosses)


# --- the normalizer ------------------------------------------------------------------------
@pytest.mark.parametrize("raw, text", [
    # numbers, money, percent, decimals
    ("I have 3 cats.", "i have three cats"),
    ("He won 1,250 dollars", "he won one thousand two hundred and fifty dollars"),
    ("It costs $25.", "it costs twenty five dollars"),
    ("Just $1 a day", "just one dollar a day"),
    ("it costs \u00a33", "it costs three pounds"),
    ("About 45% of us", "about forty five percent of us"),
    ("pi is 3.14", "pi is three point one four"),
    ("room No. 5", "room number five"),
    ("he said no. we left", "he said no we left"),
    ("123456 grains", "one hundred and twenty three thousand four hundred and fifty six grains"),
    # ordinals
    ("the 1st, 2nd, 3rd and 4th", "the first second third and fourth"),
    ("on the 11th and 12th and 13th", "on the eleventh and twelfth and thirteenth"),
    ("his 21st birthday", "his twenty first birthday"),
    ("the 40th floor", "the fortieth floor"),
    # years, decades, times
    ("in 1984", "in nineteen eighty four"),
    ("born in 1905, died in 1900", "born in nineteen oh five died in nineteen hundred"),
    ("since 2005", "since two thousand and five"),
    ("by 2024", "by twenty twenty four"),
    ("the 1960s were wild", "the nineteen sixties were wild"),
    ("back in the 80s", "back in the eighties"),
    ("at 10:30 sharp", "at ten thirty sharp"),
    ("at 7:05", "at seven oh five"),
    ("at 9:00", "at nine o'clock"),
    # abbreviations
    ("Dr. Smith met Mr. Brown and Mrs. Green", "doctor smith met mister brown and missus green"),
    ("apples, pears, etc. are fruit", "apples pears et cetera are fruit"),
    ("fruit, e.g. apples", "fruit for example apples"),
    ("Tom & Jerry", "tom and jerry"),
    # punctuation, quotes, dashes, unicode
    ("\u201cDon\u2019t go,\u201d she said\u2026", "don't go she said"),
    ("wait \u2014 no \u2013 stop!", "wait no stop"),
    ("a well-known fact", "a well known fact"),
    ("the dogs' bowls are 'full'", "the dogs' bowls are full"),
    ("(in brackets); semi: colon?", "in brackets semi colon"),
    ("a caf\u00e9 for the na\u00efve", "a cafe for the naive"),
    ("  Extra   spaces\there ", "extra spaces here"),
    ("It's the cat's toy", "it's the cat's toy"),
], ids=lambda x: x[:24] if isinstance(x, str) else None)
def test_normalize(raw, text):
    assert normalize(raw) == text
    assert ALPHABET.match(text)


@pytest.mark.parametrize("raw", [
    "NASA launched it",          # acronym: read letter by letter or as a word, no one spelling
    "x marks the spot",          # a single letter
    "Henry VIII was king",       # roman numeral
    "see http://example.com",    # a URL
    "mail me at a@b.com",
    "5 + 3 = 8",                 # symbols
    "the 2th place",             # a wrong ordinal suffix
    "the 11st try",
    "1/2 of it",                 # a fraction
    "he lives on Main St.",      # st. is saint or street
    "at 5 p.m. today",           # read as letters
    "mp3 players",               # a number inside a word
    "it cost $5%",
    "it cost $3.50",             # dollars and cents: not "three point five zero dollars"
    "agent 007",
    "the 1234567 stars",         # past what number_words spells
    "25:99 hours",               # not a time
    "",                          # nothing left
    "...",
    "\u4e2d\u6587 text",          # a script other than Latin
    "(1) Everything depends.",   # an item of a list
    "2. Go home.",
], ids=lambda x: x[:20] or "empty")
def test_normalize_rejects(raw):
    assert normalize(raw) is None


@pytest.mark.parametrize("n, words", [(1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (8, "eighth"),
                                      (9, "ninth"), (12, "twelfth"), (20, "twentieth"), (42, "forty second"),
                                      (100, "one hundredth")], ids=str)
def test_ordinal_words(n, words):
    assert ordinal_words(n) == words


def test_split_sentences_keeps_abbreviations_and_initials():
    text = "Mr. Smith went to Washington. He met J. R. Ewing there!  Was it 1984? \"Yes,\" she said. No. Go."
    assert split_sentences(text) == ["Mr. Smith went to Washington.", "He met J. R. Ewing there!",
                                     "Was it 1984?", "\"Yes,\" she said.", "No.", "Go."]


# --- the source readers, on small files in their formats -------------------------------------
def _wordnet(root, gloss: str):
    """A WordNet data directory whose one synset (a noun) has this gloss."""
    (root / "data.noun").write_text("  1 This software and database is licensed\n"
                                    f"00001740 03 n 01 dog 0 002 @ 02084071 n 0000 | {gloss}\n")
    for pos in ("verb", "adj", "adv"):
        (root / f"data.{pos}").write_text("")
    return root


def test_wordnet_examples(tmp_path):
    root = _wordnet(tmp_path, 'a member of the genus Canis; "the dog barked all night"; "dogs are loyal"')
    assert wordnet_examples(root) == ["the dog barked all night", "dogs are loyal"]


def test_wordnet_glosses_are_the_definitions_without_the_examples(tmp_path):
    root = _wordnet(tmp_path, 'a member of the genus Canis; a loyal pet; "the dog barked all night"; "dogs are loyal"')
    assert wordnet_glosses(root) == ["a member of the genus Canis", "a loyal pet"]


def test_fortune_sentences(tmp_path):
    (tmp_path / "fortunes").write_text("A stitch in time saves nine. Look before\nyou leap.\n%\n"
                                       "Never trust a computer.\n\t\t-- Some Author\n%\n"
                                       "Q: Why? A: Because it is there. --lwall\n%\n")
    (tmp_path / "fortunes.dat").write_bytes(b"\x00\x01")
    (tmp_path / "ethnic").write_text("A joke about a group of people.\n%\n")  # left out
    assert fortune_sentences(tmp_path) == ["A stitch in time saves nine.", "Look before you leap.",
                                           "Never trust a computer.", "Why?", "Because it is there."]


def test_gcide_quotations(tmp_path):
    entry = ("Abjure \\Ab*jure\"\\, v. t.\n   To renounce upon oath.\n   [1913 Webster]\n\n"
             "            The head is not more native to the heart,\n"
             "            Than is the throne to the king.      --Shak.\n      [1913 Webster]\n")
    path = tmp_path / "gcide.dict.dz"
    with gzip.open(path, "wt") as f:
        f.write(entry)
    assert gcide_quotations(path) == ["The head is not more native to the heart, Than is the throne to the king."]


def test_a_missing_source_names_its_package(tmp_path):
    with pytest.raises(CorpusError, match="apt-get install dict-gcide"):
        gcide_quotations(tmp_path / "gcide.dict.dz")
    with pytest.raises(CorpusError, match="unknown source 'bible'"):
        natural_sentences(NaturalSpec(sources=("bible",)))


# --- the installed sources and the split -------------------------------------------------------
@pytest.fixture(scope="module")
def spec():
    return NaturalSpec()


def test_every_source_gives_clean_sentences(spec):
    by_source = natural_sentences(spec)
    assert set(by_source) == {"wordnet", "fortunes", "gcide"}
    everything = [s for sentences in by_source.values() for s in sentences]
    assert len(everything) == len(set(everything))  # deduplicated across sources too
    for source, sentences in by_source.items():
        assert len(sentences) > 5000, source
        assert all(ALPHABET.match(s) and spec.min_words <= len(s.split()) <= spec.max_words
                   and len(s) <= spec.max_chars for s in sentences), source


def test_split_is_a_function_of_the_text(spec):
    assert hash_split("the dog barked all night") == hash_split("the dog barked all night")
    assert sum(share for _, share in HASH_SPLITS) == 100
    a, b, c = natural_pool(spec, 0), natural_pool(spec, 0), natural_pool(spec, 1)
    assert a == b
    for split in a:  # another seed reorders a split, never moves a sentence to another split
        assert a[split] != c[split] and sorted(a[split]) == sorted(c[split])
        assert all(hash_split(s) == split for s in a[split][:200])


def test_no_sentence_is_in_two_splits(spec):
    pool = natural_pool(spec, 0)
    seen: set[str] = set()
    for split, sentences in pool.items():
        assert not seen & set(sentences), split
        seen |= set(sentences)
    total = len(seen)
    assert 0.08 < len(pool["test-natural"]) / total < 0.12  # its 10 %


def test_lm_sentences_widened_stay_on_the_train_side(spec):
    from omegaconf import OmegaConf

    data = OmegaConf.create({"natural": {"sources": list(spec.sources), "min_words": spec.min_words,
                                         "max_words": spec.max_words, "max_chars": spec.max_chars}})
    recordable = lm_sentences(data)
    assert recordable == sorted(natural_pool(spec, 0)["train"])
    longer = lm_sentences(data, max_words=40)
    assert set(recordable) < set(longer)
    assert max(len(s.split()) for s in longer) > spec.max_words and min(len(s.split()) for s in longer) < spec.min_words
    assert all(len(s.split()) <= 40 and hash_split(s) == "train" for s in longer)
    glosses = set(lm_sentences(data, sources=["glosses"], max_words=40))
    assert len(glosses) > 50_000 and all(hash_split(s) == "train" for s in glosses)
    held_out = {s for split, sents in natural_pool(spec, 0).items() if split != "train" for s in sents}
    assert not held_out & (set(longer) | glosses)
    assert lm_sentences(OmegaConf.create({"natural": None})) == []


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "many"])
def test_lm_sentences_reject_a_bad_max_words(bad):
    from omegaconf import OmegaConf

    with pytest.raises(CorpusError, match="decode.lm.natural_max_words"):
        lm_sentences(OmegaConf.create({"natural": {"sources": ["wordnet"], "min_words": 4, "max_words": 12,
                                                   "max_chars": 72}}), max_words=bad)


@pytest.mark.parametrize("bad", [["wordnet", "bible"], "glosses"])
def test_lm_sentences_reject_an_unknown_source(bad):
    from omegaconf import OmegaConf

    with pytest.raises(CorpusError, match="decode.lm.natural_sources=.* is not a source"):
        lm_sentences(OmegaConf.create({"natural": {"sources": ["wordnet"], "min_words": 4, "max_words": 12,
                                                   "max_chars": 72}}), sources=bad)
