"""Sentence generator for the built-in corpus: the project's own grammar and word lists.

The grammar knows subject-verb agreement, tenses (present, past, future, progressive,
perfect, modals), negation, questions, prepositional phrases, numbers spelled out, names,
places, adjectives, adverbs, contractions ("don't", "it's", "the dog's") and simple
semantic classes (people eat food, drive vehicles, read texts...), so most sentences make
sense. Text is lower-case letters, apostrophe and space.

    sentence_pool(20000, seed=0)   # 20,000 distinct sentences, the same for the same seed
"""
from __future__ import annotations

import random
import re
from functools import lru_cache

from asr.corpus import CorpusError
from asr.corpus.words import (NOUNS, MASS, COLORS, ADJECTIVES, TRANSITIVE, INTRANSITIVE, DITRANSITIVE, NAMES,
                              CITIES, COUNTRIES, REPORTING_VERBS, MOTION_VERBS, EVENTS, EVENT_VERBS,
                              COUNT_VERBS, LIFE_EVENTS, DURATION_VERBS, MANNER, FREQUENCY, DEGREE,
                              PREPS_BUILDING, PREPS_NATURE, PREPS_THING, DAYS, MONTHS, PARTS_OF_DAY, ONES,
                              TENS, ORDINALS, FUNCTION_WORDS, PRONOUNS, OBJECT_PRONOUN, POSSESSIVE, BE,
                              SUBJECT_CONTRACTION, NEGATIVE, TIMES)  # noqa: F401 (ONES: asr.corpus.text)

# ---------------------------------------------------------------------------------------
# The lexicon, parsed from the word lists (asr/corpus/words.py). Nouns: "singular" or
# "singular/plural" when the plural is irregular; "_" joins the words of one entry ("ice_cream").
# Verbs: "base" or "base:past:participle", with ":ing-form" where the spelling rules would get it wrong.


def _words(text: str) -> list[str]:
    return [w.replace("_", " ") for w in text.split()]


def _noun_entry(entry: str) -> tuple[str, str]:
    if "/" in entry:
        sg, pl = entry.split("/")
        return sg.replace("_", " "), pl.replace("_", " ")
    sg = entry.replace("_", " ")
    return sg, plural(sg)


def plural(noun: str) -> str:
    """Regular English plural of the last word ("bus" -> "buses", "city" -> "cities")."""
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def _doubles(verb: str) -> bool:
    """One-syllable consonant-vowel-consonant verbs double the last letter: stop -> stopped."""
    return (len(re.findall(r"[aeiou]+", verb)) == 1
            and re.search(r"[^aeiou][aeiou][bdglmnprt]$", verb) is not None)


def verb_forms(spec: str) -> dict[str, str]:
    """Forms of a verb: base, s (3rd person singular), past, pp (participle), ing.

    A phrasal verb ("wake_up:woke_up:woken_up") inflects its first word.
    """
    parts = spec.split(":")
    base, *rest = parts[0].split("_")
    particle = " " + " ".join(rest) if rest else ""
    if re.search(r"(s|x|z|ch|sh|o)$", base):
        s = base + "es"
    elif re.search(r"[^aeiou]y$", base):
        s = base[:-1] + "ies"
    else:
        s = base + "s"
    if base == "have":
        s = "has"
    if re.search(r"ie$", base):
        ing = base[:-2] + "ying"
    elif re.search(r"[^aeiouy]e$", base) and base not in ("be",):
        ing = base[:-1] + "ing"
    elif _doubles(base):
        ing = base + base[-1] + "ing"
    else:
        ing = base + "ing"
    if len(parts) == 4:  # the spelling rules miss "forgetting"
        ing = parts[3]
    if len(parts) >= 3:
        past, pp = parts[1].replace("_", " "), parts[2].replace("_", " ")
    else:
        if base.endswith("e"):
            past = base + "d"
        elif re.search(r"[^aeiou]y$", base):
            past = base[:-1] + "ied"
        elif _doubles(base):
            past = base + base[-1] + "ed"
        else:
            past = base + "ed"
        past = pp = past + particle
    return {"base": base + particle, "s": s + particle, "past": past, "pp": pp, "ing": ing + particle}


def _parse_verbs(table: str) -> list[tuple[dict, list[str], bool, bool]]:
    """Rows of (forms, object classes, animals may be subjects, vehicles may be subjects)."""
    rows = []
    for line in table.strip().splitlines():
        spec, *classes = line.split()
        rows.append((verb_forms(spec), [c for c in classes if c not in "@!"], "@" in classes, "!" in classes))
    return rows


def _parse_intransitive(table: str) -> list[tuple[dict, bool, bool]]:
    rows, tokens = [], table.split()
    for i, tok in enumerate(tokens):
        if tok in "@!":
            continue
        flags = set()
        for nxt in tokens[i + 1:i + 3]:
            if nxt not in "@!":
                break
            flags.add(nxt)
        rows.append((verb_forms(tok), "@" in flags, "!" in flags))
    return rows


class Lexicon:
    """The word lists, parsed once: nouns per class with plurals, verbs with forms."""

    def __init__(self):
        self.nouns = {c: [_noun_entry(e) for e in text.split()] for c, text in NOUNS.items()}
        self.mass = {c: _words(text) for c, text in MASS.items()}
        self.adjectives = {c: sorted(set(_words(text))) for c, text in ADJECTIVES.items()}
        self.transitive = _parse_verbs(TRANSITIVE)
        self.ditransitive = _parse_verbs(DITRANSITIVE)
        self.intransitive = _parse_intransitive(INTRANSITIVE)
        self.names = _words(NAMES)
        self.cities = _words(CITIES)
        self.countries = _words(COUNTRIES)
        self.manner = sorted(set(_words(MANNER)))
        self.frequency = _words(FREQUENCY)
        self.degree = _words(DEGREE)
        self.days = _words(DAYS)
        self.months = _words(MONTHS)
        self.parts_of_day = _words(PARTS_OF_DAY)
        self.colors = _words(COLORS)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    return Lexicon()


# ---------------------------------------------------------------------------------------
# Numbers


def number_words(n: int) -> str:
    """0..999,999 spelled out: 342 -> "three hundred and forty two"."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    rest = n % 1000
    head = number_words(n // 1000) + " thousand"
    if rest == 0:
        return head
    return head + (" and " if rest < 100 else " ") + number_words(rest)


def year_words(year: int) -> str:
    """1984 -> "nineteen eighty four", 2005 -> "two thousand and five"."""
    if 2000 <= year < 2010:
        return number_words(year)
    hi, lo = divmod(year, 100)
    if lo == 0:
        return number_words(hi) + " hundred"
    return number_words(hi) + " " + ("oh " + ONES[lo] if lo < 10 else number_words(lo))


def clock_words(rng: random.Random) -> str:
    h = rng.randint(1, 12)
    return rng.choice([
        f"{ONES[h]} o'clock",
        f"half past {ONES[h]}",
        f"quarter past {ONES[h]}",
        f"quarter to {ONES[h]}",
        f"{ONES[h]} {number_words(rng.choice([10, 15, 20, 25, 30, 40, 45, 50]))}",
        f"{number_words(rng.choice([5, 10, 20, 25]))} past {ONES[h]}",
    ])


def small_number(rng: random.Random) -> str:
    n = rng.choice([rng.randint(2, 12), rng.randint(2, 12), rng.randint(2, 20), rng.randint(13, 99),
                    rng.randint(13, 99), rng.randint(100, 999)])
    return number_words(n)


# ---------------------------------------------------------------------------------------
# Phrases. A subject is a dict: words, pron (the pronoun or None), agr ("1sg", "3sg" or "pl");
# the phrase tables (PRONOUNS ... TIMES) are in asr/corpus/words.py.


class Generator:
    """Random sentences from the lexicon; all randomness comes from `rng`."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lex = lexicon()

    def p(self, prob: float) -> bool:
        return self.rng.random() < prob

    def choice(self, seq):
        return self.rng.choice(seq)

    def fill(self, text: str) -> str:
        """Fill the {day} {month} {num} {clock} {year} slots of a time phrase."""
        r = self.rng
        return text.format(day=r.choice(self.lex.days), month=r.choice(self.lex.months),
                           num=number_words(r.randint(2, 12)), clock=clock_words(r),
                           year=year_words(r.randint(1950, 2025)))

    def time(self, tense: str) -> list[str]:
        return self.fill(self.choice(TIMES[tense])).split()

    # -- noun phrases -----------------------------------------------------------------
    def article(self, word: str) -> str:
        vowel = word[0] in "aeiou" and not re.match(r"(uni|use|eu|one|ukulele)", word)
        return "an" if vowel or word.startswith(("hour", "honest")) else "a"

    def adjective(self, cls: str) -> list[str]:
        adj = [self.choice(self.lex.adjectives[cls])]
        if self.p(0.15):
            adj.insert(0, self.choice(["very", "really", "rather", "quite", "pretty"]))
        return adj

    def owner(self, animal: bool = True) -> str:
        """A possessive: "maria's", "the dog's", "my brother's"."""
        r = self.rng.random()
        if r < 0.4:
            return self.choice(self.lex.names) + "'s"
        cls = "person" if r < 0.85 or not animal else "animal"
        det = self.choice(["the", "the", "my", "your", "our", "his", "her", "their"])
        return f"{det} {self.choice(self.lex.nouns[cls])[0]}'s"

    def noun_phrase(self, cls: str, plural: bool | None = None, adj_prob: float = 0.3) -> tuple[list[str], bool]:
        """(words, is_plural) for a noun of class `cls`."""
        if cls in self.lex.mass and (cls not in self.lex.nouns or self.p(0.5)):
            noun = self.choice(self.lex.mass[cls]).split()
            if cls == "sport":
                return noun, False
            adj = self.adjective(cls) if self.p(adj_prob) else []
            det = self.choice(["the", "the", "some", "more", "", "", "a lot of", "enough", "no",
                               self.choice(POSSESSIVE), self.owner()])
            return det.split() + adj + noun, False
        sg, pl = self.choice(self.lex.nouns[cls])
        if plural is None:
            plural = self.p(0.35)
        adj = self.adjective(cls) if self.p(adj_prob) else []
        head = (pl if plural else sg).split()
        if plural:
            det = self.choice(["the", "the", "some", "these", "those", "many", "a few", "several",
                               "", small_number(self.rng), small_number(self.rng),
                               self.choice(POSSESSIVE), self.owner(cls not in ("building", "nature")), "all the",
                               "two", "three"])
        else:
            det = self.choice(["the", "the", "the", "a", "a", "a", "this", "that", "every", "the",
                               self.choice(POSSESSIVE), self.choice(POSSESSIVE),
                               self.owner(cls not in ("building", "nature"))])
            if det == "a":
                det = self.article((adj + head)[0])
        return det.split() + adj + head, plural

    def person_np(self, allow_pronoun: bool = True) -> dict:
        r = self.rng.random()
        if allow_pronoun and r < 0.35:
            pron = self.choice(list(PRONOUNS))
            return {"words": [pron], "pron": pron, "agr": PRONOUNS[pron]}
        if r < 0.6:
            words = [self.choice(self.lex.names)]
            if self.p(0.12):
                words += ["and", self.choice(self.lex.names)]
                return {"words": words, "pron": None, "agr": "pl"}
            return {"words": words, "pron": None, "agr": "3sg"}
        words, plural = self.noun_phrase("person")
        return {"words": words, "pron": None, "agr": "pl" if plural else "3sg"}

    def subject(self, animal: bool = False, vehicle: bool = False) -> dict:
        r = self.rng.random()
        if animal and r < 0.3:
            words, plural = self.noun_phrase("animal")
            return {"words": words, "pron": None, "agr": "pl" if plural else "3sg"}
        if vehicle and r > 0.8:
            words, plural = self.noun_phrase("vehicle", adj_prob=0.2)
            return {"words": words, "pron": None, "agr": "pl" if plural else "3sg"}
        return self.person_np()

    def object_np(self, cls: str) -> list[str]:
        if cls == "person" and self.p(0.25):
            return [self.choice(["me", "you", "him", "her", "us", "them"])]
        if cls in ("thing", "animal", "food") and self.p(0.05):
            return [self.choice(["it", "them"])]
        return self.noun_phrase(cls)[0]

    def place_pp(self) -> list[str]:
        r = self.rng.random()
        if r < 0.45:
            return [self.choice(PREPS_BUILDING)] + self.place_np("building")
        if r < 0.7:
            return [self.choice(PREPS_NATURE)] + self.place_np("nature")
        if r < 0.85:
            return ["in", self.choice(self.lex.cities + self.lex.countries)]
        return [self.choice(PREPS_THING)] + self.place_np("furniture")

    def place_np(self, cls: str) -> list[str]:
        sg, pl = self.choice(self.lex.nouns[cls])
        adj = self.adjective(cls) if self.p(0.2) else []
        person = self.choice(self.lex.nouns["person"])[0]
        owner = self.choice(self.lex.names) + "'s" if self.p(0.5) else f"the {person}'s"
        det = self.choice(["the", "the", "the", "the", "my", "our", "their", "this", "that", "your", owner])
        return det.split() + adj + sg.split()

    def with_pp(self) -> list[str]:
        r = self.rng.random()
        if r < 0.5:
            return ["with"] + self.person_np(allow_pronoun=False)["words"]
        if r < 0.75:
            return ["for"] + self.person_np(allow_pronoun=False)["words"]
        return ["with"] + self.noun_phrase("thing", adj_prob=0.2)[0]

    # -- verb groups ------------------------------------------------------------------
    def verb_group(self, subj: dict, forms: dict, tense: str, neg: bool = False) -> list[str]:
        """Subject + finite verb group, with agreement, negation and contractions."""
        agr, pron = subj["agr"], subj["pron"]
        contract = self.p(0.7)
        main = None  # (auxiliary, main verb form)
        if tense == "present":
            if not neg:
                return subj["words"] + [forms["s"] if agr == "3sg" else forms["base"]]
            main = ("does" if agr == "3sg" else "do", forms["base"])
        elif tense == "past":
            if not neg:
                return subj["words"] + [forms["past"]]
            main = ("did", forms["base"])
        elif tense == "future":
            main = ("will", forms["base"])
        elif tense == "going_to":
            main = (BE["present"][agr], "going to " + forms["base"])
        elif tense == "progressive":
            main = (BE["present"][agr], forms["ing"])
        elif tense == "past_progressive":
            main = (BE["past"][agr], forms["ing"])
        elif tense == "perfect":
            main = ("has" if agr == "3sg" else "have", forms["pp"])
            if not neg and self.p(0.25):
                main = (main[0], self.choice(["already", "just", "never", "recently"]) + " " + main[1])
        else:  # a modal
            main = (tense, forms["base"])
        aux, verb = main
        if pron and contract and (pron, aux) in SUBJECT_CONTRACTION and not (neg and aux == "have"):
            head = [SUBJECT_CONTRACTION[(pron, aux)]] + (["not"] if neg else [])
        elif pron and contract and aux in ("will", "would") and not neg:
            head = [pron + ("'ll" if aux == "will" else "'d")]
        elif neg and contract and aux in NEGATIVE:
            head = subj["words"] + [NEGATIVE[aux]]
        else:
            head = subj["words"] + [aux] + (["not"] if neg else [])
        return head + verb.split()

    def tense(self) -> str:
        return self.choice(["present", "present", "past", "past", "past", "future", "going_to",
                            "progressive", "progressive", "past_progressive", "perfect", "perfect",
                            "can", "could", "should", "might", "must", "would"])

    def time_for(self, tense: str) -> list[str]:
        key = tense if tense in TIMES else ("future" if tense in ("going_to", "will") else "future")
        return self.time(key)

    def adverbials(self, tense: str, manner: bool = True) -> list[str]:
        out = []
        if manner and self.p(0.15):
            out.append(self.choice(self.lex.manner))
        if self.p(0.35):
            out += self.place_pp()
        if self.p(0.12):
            out += self.with_pp()
        if self.p(0.35):
            out += self.time_for(tense)
        return out

    # -- clauses ----------------------------------------------------------------------
    def transitive_clause(self, tense: str | None = None, neg: bool | None = None) -> list[str]:
        forms, classes, animal, _ = self.choice(self.lex.transitive)
        subj = self.subject(animal=animal)
        tense = tense or self.tense()
        neg = self.p(0.2) if neg is None else neg
        words = self.verb_group(subj, forms, tense, neg)
        if tense == "present" and not neg and self.p(0.2):
            words.insert(len(subj["words"]), self.choice(self.lex.frequency))
        return words + self.object_np(self.choice(classes)) + self.adverbials(tense, manner=not neg)

    def intransitive_clause(self, tense: str | None = None, neg: bool | None = None) -> list[str]:
        forms, animal, vehicle = self.choice(self.lex.intransitive)
        subj = self.subject(animal=animal, vehicle=vehicle)
        tense = tense or self.tense()
        neg = self.p(0.2) if neg is None else neg
        words = self.verb_group(subj, forms, tense, neg)
        extra = self.adverbials(tense, manner=not neg)
        if not extra and self.p(0.6):
            extra = self.time_for(tense) if self.p(0.5) else self.place_pp()
        return words + extra

    def ditransitive_clause(self) -> list[str]:
        forms, classes, _, _ = self.choice(self.lex.ditransitive)
        subj = self.person_np()
        tense = self.tense()
        words = self.verb_group(subj, forms, tense, self.p(0.15))
        receiver = self.object_np("person")
        thing = self.object_np(self.choice(classes))
        if thing[0] in ("it", "them") or self.p(0.4):
            words += thing + ["to"] + receiver
        else:
            words += receiver + thing
        return words + (self.time_for(tense) if self.p(0.3) else [])

    def copula_clause(self) -> list[str]:
        cls = self.choice(["person", "person", "animal", "food", "drink", "thing", "clothes", "vehicle",
                           "text", "building", "nature", "abstract", "instrument"])
        if cls == "person":
            subj = self.person_np()
        else:
            words, plural = self.noun_phrase(cls, adj_prob=0.1)
            subj = {"words": words, "pron": None, "agr": "pl" if plural else "3sg"}
        tense = self.choice(["present", "present", "past", "future", "perfect", "might", "must"])
        neg = self.p(0.2)
        be = {"base": "be", "s": "is", "past": "was", "pp": "been", "ing": "being"}
        if tense == "present":
            verb = BE["present"][subj["agr"]]
            words = self.verb_group(subj, {**be, "base": verb}, "can", neg)  # reuse contraction rules
            words = self._fix_be(words, subj, verb, neg)
        elif tense == "past":
            verb = BE["past"][subj["agr"]]
            words = subj["words"] + ([NEGATIVE[verb]] if neg and self.p(0.7) else [verb] + (["not"] if neg else []))
        else:
            words = self.verb_group(subj, be, tense, neg)
        adj = self.choice(self.lex.adjectives[cls])
        if self.p(0.35):
            words.append(self.choice(self.lex.degree))
        words.append(adj)
        if self.p(0.25):
            other = self.choice(self.lex.adjectives[cls])
            if other != adj:
                words += [self.choice(["and", "and", "and", "but"]), other]
        if tense in ("present", "past") and self.p(0.3):
            words += self.time_for("progressive" if tense == "present" else tense)
        return words

    def _fix_be(self, words: list[str], subj: dict, verb: str, neg: bool) -> list[str]:
        """Present "be" as a main verb: "she's tired", "they aren't ready", "the cat is hungry"."""
        pron = subj["pron"]
        if pron and self.p(0.6) and (pron, verb) in SUBJECT_CONTRACTION:
            return [SUBJECT_CONTRACTION[(pron, verb)]] + (["not"] if neg else [])
        if neg and verb != "am" and self.p(0.7):
            return subj["words"] + [NEGATIVE[verb]]
        return subj["words"] + [verb] + (["not"] if neg else [])

    def there_clause(self) -> list[str]:
        cls = self.choice(["animal", "thing", "food", "person", "vehicle", "text", "clothes"])
        words, plural = self.noun_phrase(cls, adj_prob=0.3)
        if words[0] in ("the", "this", "that", "these", "those", "my", "your", "his", "her", "our", "their",
                        "every", "all") or words[0].endswith("'s"):
            words = ([self.article(words[1])] if not plural else [small_number(self.rng)]) + words[1:]
            if plural and words[1].endswith("'s"):
                words = words[:1] + words[2:]
        tense = self.choice(["present", "present", "present", "past", "past", "future"])
        if tense == "present":
            head = ["there's"] if not plural and self.p(0.5) else ["there", "are" if plural else "is"]
        elif tense == "past":
            head = ["there", "were" if plural else "was"]
        else:
            head = ["there", "will", "be"]
        return head + words + self.place_pp() + (self.time_for(tense) if self.p(0.3) else [])

    # -- sentence frames --------------------------------------------------------------
    def yes_no_question(self) -> list[str]:
        forms, classes, animal, _ = self.choice(self.lex.transitive)
        subj = self.subject(animal=animal)
        s = subj["words"] if subj["pron"] != "i" or self.p(0.2) else ["you"]
        agr = "pl" if s == ["you"] else subj["agr"]
        kind = self.choice(["do", "did", "will", "be", "have", "modal"])
        obj = self.object_np(self.choice(classes))
        if kind == "do":
            return ["does" if agr == "3sg" else "do"] + s + [forms["base"]] + obj + self.adverbials("present", False)
        if kind == "did":
            aux = "didn't" if self.p(0.15) else "did"
            return [aux] + s + [forms["base"]] + obj + self.adverbials("past", False)
        if kind == "will":
            return ["will"] + s + [forms["base"]] + obj + self.adverbials("future", False)
        if kind == "be":
            return [BE["present"][agr]] + s + [forms["ing"]] + obj + self.adverbials("progressive", False)
        if kind == "have":
            return ["has" if agr == "3sg" else "have"] + s + (["ever"] if self.p(0.2) else []) + \
                [forms["pp"]] + obj + self.adverbials("perfect", False)
        modal = self.choice(["can", "could", "should", "would", "might", "must"])
        if s == ["i"]:
            modal = self.choice(["can", "could", "should"])
        return [modal] + s + [forms["base"]] + obj + self.adverbials("future", False)

    def wh_question(self) -> list[str]:
        forms, classes, animal, _ = self.choice(self.lex.transitive)
        subj = self.subject(animal=animal)
        agr = subj["agr"]
        r = self.rng.random()
        aux, verb, tense = self.choice([("did", "base", "past"), ("do", "base", "present"),
                                        ("will", "base", "future"), ("can", "base", "future"),
                                        ("be", "ing", "progressive"), ("have", "pp", "perfect"),
                                        ("should", "base", "future")])
        if aux == "do":
            aux = "does" if agr == "3sg" else "do"
        elif aux == "be":
            aux = BE["present"][agr]
        elif aux == "have":
            aux = "has" if agr == "3sg" else "have"
        if r < 0.25:  # who broke the window
            cls = self.choice(classes)
            tense2 = self.choice(["past", "past", "present", "perfect", "future"])
            head = self.verb_group({"words": ["who"], "pron": None, "agr": "3sg"}, forms, tense2)
            return head + self.object_np(cls) + (self.time_for(tense2) if self.p(0.3) else [])
        if r < 0.45:  # what did you buy / which book does she want
            cls = self.choice(classes)
            if cls in self.lex.nouns and self.p(0.5):
                sg, pl = self.choice(self.lex.nouns[cls])
                lead = self.choice([["which", sg], ["which", pl], ["how", "many", pl], ["what", "kind", "of", sg]])
            else:
                lead = ["who" if cls == "person" else "what"]
            return lead + [aux] + subj["words"] + [forms[verb]] + self.adverbials(tense, False)
        wh = self.choice(["where", "when", "why", "how", "how often"])
        if wh == "why" and aux in NEGATIVE and self.p(0.4):
            aux = NEGATIVE[aux]
        if wh == "how often":
            aux, verb, tense = ("does" if agr == "3sg" else "do"), "base", "present"
        lead = wh.split()
        if not lead[-1].endswith("'s") and aux == "is" and self.p(0.4) and wh != "how often":
            return [wh + "'s"] + subj["words"] + [forms[verb]] + self.object_np(self.choice(classes))
        return lead + [aux] + subj["words"] + [forms[verb]] + self.object_np(self.choice(classes)) + \
            (self.time_for(tense) if self.p(0.3) and wh != "when" else [])

    def imperative(self) -> list[str]:
        forms, classes, _, _ = self.choice(self.lex.transitive)
        obj = self.object_np(self.choice(classes))
        r = self.rng.random()
        if r < 0.3:
            head = ["please", forms["base"]]
        elif r < 0.5:
            head = ["don't", forms["base"]]
        elif r < 0.7:
            head = ["let's", forms["base"]]
        else:
            head = [forms["base"]]
        tail = self.time_for("future") if self.p(0.35) else (self.place_pp() if self.p(0.3) else [])
        return head + obj + tail + (["please"] if r >= 0.7 and self.p(0.2) else [])

    def compound(self) -> list[str]:
        tense = self.choice(["present", "past", "past", "future", "progressive"])
        first = self.simple_clause(tense)
        conj = self.choice(["and", "but", "because", "so", "when", "while", "after", "before",
                            "although", "until"] + (["if"] if tense in ("present", "future") else []))
        second_tense = "present" if conj in ("if", "when", "until", "before", "after") and tense == "future" else tense
        if second_tense == "progressive" and conj in ("when", "after", "before", "until"):
            second_tense = "present"
        return first + [conj] + self.simple_clause(second_tense, short=True)

    def simple_clause(self, tense: str, short: bool = False) -> list[str]:
        r = self.rng.random()
        if r < 0.5:
            forms, classes, animal, _ = self.choice(self.lex.transitive)
            subj = self.subject(animal=animal)
            neg = self.p(0.15)
            return self.verb_group(subj, forms, tense, neg) + self.object_np(self.choice(classes)) + \
                (self.adverbials(tense, not neg) if not short and self.p(0.5) else [])
        forms, animal, vehicle = self.choice(self.lex.intransitive)
        subj = self.subject(animal=animal, vehicle=vehicle)
        neg = self.p(0.15)
        return self.verb_group(subj, forms, tense, neg) + \
            (self.adverbials(tense, not neg) if not short or self.p(0.3) else [])

    def reported(self) -> list[str]:
        subj = self.person_np()
        verb = verb_forms(self.choice(REPORTING_VERBS))
        tense = self.choice(["present", "past"])
        head = self.verb_group(subj, verb, tense)
        if verb["base"] == "tell":
            head += [self.choice(list(OBJECT_PRONOUN.values()))]
        if verb["base"] == "wonder":
            head += [self.choice(["if", "why", "where", "when", "whether"])]
        elif self.p(0.4):
            head += ["that"]
        inner = "past" if tense == "past" else self.choice(["present", "future", "past", "perfect"])
        return head + self.simple_clause(inner, short=True)

    def weather(self) -> list[str]:
        tense = self.choice(["present", "progressive", "past", "future"])
        where = ["in", self.choice(self.lex.cities + self.lex.countries)] if self.p(0.5) else []
        if tense == "progressive":
            head = [self.choice(["it's", "it is"]), self.choice(["raining", "snowing"])]
            if self.p(0.3):
                head = ["it", self.choice(["isn't", "wasn't"]), self.choice(["raining", "snowing"])]
            return head + where + self.time("progressive" if head[1] != "wasn't" else "past_progressive")
        adj = self.choice(["sunny", "rainy", "cloudy", "windy", "foggy", "snowy", "cold", "hot", "warm", "cool"])
        deg = [self.choice(self.lex.degree)] if self.p(0.3) else []
        head = {"present": self.choice([["it's"], ["it", "is"], ["it", "isn't"]]),
                "past": self.choice([["it", "was"], ["it", "wasn't"]]),
                "future": self.choice([["it", "will", "be"], ["it'll", "be"], ["it", "won't", "be"]])}[tense]
        return head + deg + [adj] + where + self.time("present" if tense == "present" and self.p(0.5) else
                                                      ("progressive" if tense == "present" else tense))

    def numbers_frame(self) -> list[str]:
        r = self.rng.random()
        name = self.person_np(allow_pronoun=False)
        agr = name["agr"]
        if r < 0.2:
            verb = self.choice(self.choice(EVENT_VERBS))
            return self.choice(EVENTS).split() + verb.split() + ["at"] + clock_words(self.rng).split()
        if r < 0.4:
            sg, pl = self.choice(self.lex.nouns[self.choice(["food", "thing", "clothes", "text"])])
            n = self.rng.randint(2, 30)
            verb = self.choice(COUNT_VERBS)
            price = number_words(self.rng.randint(2, 500))
            money = [self.choice(["dollars", "euros"])]
            return name["words"] + [verb] + number_words(n).split() + pl.split() + \
                (["for"] + price.split() + money if self.p(0.6) else [])
        if r < 0.55:
            age = number_words(self.rng.randint(2, 95))
            be = BE["present"][agr]
            return name["words"] + [be] + age.split() + (["years", "old"] if self.p(0.7) else [])
        if r < 0.7:
            year = year_words(self.rng.randint(1900, 2024))
            verb = self.choice(LIFE_EVENTS).format(city=self.choice(self.lex.cities),
                                                   country=self.choice(self.lex.countries))
            if agr == "pl":
                verb = verb.replace("was born", "were born")
            return name["words"] + verb.split() + ["in"] + year.split()
        if r < 0.85:
            n = number_words(self.rng.randint(2, 90))
            unit = self.choice(["minutes", "hours", "days", "weeks", "months", "years"])
            verb = self.choice(DURATION_VERBS)
            return name["words"] + [verb] + ["for"] + n.split() + [unit] + (self.place_pp() if self.p(0.3) else [])
        day = self.rng.randint(1, 20)
        return name["words"] + self.choice([["arrived"], ["will", "arrive"], ["left"], ["is", "leaving"]]) + \
            ["on", "the", ORDINALS[day - 1], "of", self.choice(self.lex.months)]

    def travel(self) -> list[str]:
        subj = self.person_np()
        place = self.choice(self.lex.cities + self.lex.countries)
        verb = verb_forms(self.choice(MOTION_VERBS))
        tense = self.choice(["past", "future", "going_to", "progressive", "perfect", "present", "might"])
        words = self.verb_group(subj, verb, tense, self.p(0.15))
        dest = ["to", place] if self.p(0.6) else ["to"] + self.place_np("building") if self.p(0.5) else \
            ["home"]
        if verb["base"] == "go" and tense == "perfect":
            words[-1] = "been"
        return words + dest + (self.time_for(tense) if self.p(0.5) else [])

    def sentence(self) -> list[str]:
        frames = [(self.transitive_clause, 26), (self.intransitive_clause, 10), (self.ditransitive_clause, 6),
                  (self.copula_clause, 9), (self.there_clause, 4), (self.yes_no_question, 8),
                  (self.wh_question, 8), (self.imperative, 5), (self.compound, 10), (self.reported, 5),
                  (self.weather, 2), (self.numbers_frame, 4), (self.travel, 4)]
        frame = self.rng.choices([f for f, _ in frames], weights=[w for _, w in frames])[0]
        return frame()


# ---------------------------------------------------------------------------------------

ALPHABET = re.compile(r"^[a-z']+( [a-z']+)*$")


def sentence_pool(n: int, seed: int, min_words: int = 4, max_words: int = 14) -> list[str]:
    """`n` distinct sentences of `min_words`..`max_words` words, deterministic from `seed`."""
    if n < 0 or min_words < 1 or max_words < min_words:
        raise CorpusError(f"sentence_pool: bad sizes n={n} min_words={min_words} max_words={max_words}")
    gen = Generator(random.Random(seed))
    seen: set[str] = set()
    pool: list[str] = []
    tries = 0
    while len(pool) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise CorpusError(f"the grammar gave only {len(pool)} distinct sentences of "
                              f"{min_words}-{max_words} words in {tries} tries; asked for {n}")
        text = " ".join(" ".join(gen.sentence()).split())
        if not min_words <= len(text.split()) <= max_words or text in seen:
            continue
        assert ALPHABET.match(text), text  # a grammar bug, not bad input
        seen.add(text)
        pool.append(text)
    return pool


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Every word the grammar can produce."""
    lex = lexicon()
    words: set[str] = set(FUNCTION_WORDS.replace("_", " ").split())
    phrases: list[str] = []
    for cls, entries in lex.nouns.items():
        for sg, pl in entries:
            phrases += [sg, pl] + ([sg + "'s"] if cls in ("person", "animal") else [])
    for table in (lex.transitive, lex.ditransitive):
        for forms, *_ in table:
            phrases += forms.values()
    for forms, *_ in lex.intransitive:
        phrases += forms.values()
    for spec in REPORTING_VERBS:  # in the present and past simple only
        phrases += [f for key, f in verb_forms(spec).items() if key in ("base", "s", "past")]
    for spec in MOTION_VERBS:
        phrases += verb_forms(spec).values()
    phrases += [w for ws in lex.mass.values() for w in ws]
    phrases += [w for ws in lex.adjectives.values() for w in ws]
    phrases += lex.names + [n + "'s" for n in lex.names] + lex.cities + lex.countries
    phrases += lex.manner + lex.frequency + lex.degree + lex.days + lex.months + lex.parts_of_day
    phrases += ONES[1:] + TENS[2:] + ORDINALS + PREPS_BUILDING + PREPS_NATURE + PREPS_THING
    phrases += EVENTS + [v for verbs in EVENT_VERBS for v in verbs] + COUNT_VERBS + DURATION_VERBS
    phrases += [e.format(city="", country="") for e in LIFE_EVENTS] + ["were born"]
    phrases += ["lunch", "kind", "whether", "oh", "summer", "arrive", "arrived", "leaving", "called"]
    for p in phrases:
        words.update(p.split())
    return frozenset(words)
