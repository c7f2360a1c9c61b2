"""Word n-gram language model from training text: interpolated Kneser-Ney, written as ARPA.

KenLM does not install from a wheel here (it compiles), so a small trainer, ARPA writer and
ARPA reader live in this file. Probabilities in ARPA files are log10, as usual; `NGramLM`
scores in natural log. Sentences are wrapped in <s> ... </s>; unseen words map to <unk>,
which takes the uniform share of the unigram distribution, as do the words of an open
vocabulary (`vocab`, e.g. a word list) that the text lacks. The "words" can be any tokens:
characters or BPE pieces make a token LM for lexicon-free decoding.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

from asr.errors import ASRError

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LN10 = math.log(10.0)


class LMError(ASRError, ValueError):
    """A bad LM file or bad LM settings; the message names the file or key."""


def count_ngrams(sentences: Iterable[str], order: int) -> list[Counter]:
    """counts[n - 1][(w1, ..., wn)] for n = 1..order, over <s> sentence </s>."""
    if order < 1:
        raise LMError(f"lm order={order} must be >= 1")
    counts = [Counter() for _ in range(order)]
    for line in sentences:
        words = [BOS] + line.split() + [EOS]
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                counts[n - 1][tuple(words[i:i + n])] += 1
    return counts


def _discount(counts: Counter) -> float:
    """Absolute discount D = n1 / (n1 + 2 n2) (Ney et al.), clipped to a sane range for tiny corpora."""
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    if n1 == 0 or n2 == 0:
        return 0.5
    return min(max(n1 / (n1 + 2 * n2), 0.1), 0.9)


def train_kneser_ney(sentences: Iterable[str], order: int = 3,
                     vocab: Iterable[str] = ()) -> list[dict[tuple, tuple[float, float]]]:
    """Interpolated Kneser-Ney. Returns per order {ngram: (log10 prob, log10 backoff)}.

    The highest order uses raw counts, lower orders continuation counts (how many distinct
    words precede the n-gram), except n-grams that start with <s>, which nothing precedes.
    The interpolation weight of a context is its ARPA backoff weight. `vocab`: extra words
    (an open vocabulary, e.g. a word list) that the text may lack; like <unk>, each unseen word
    gets the uniform share of the unigram distribution (the discounted mass / vocabulary size).
    """
    raw = count_ngrams(sentences, order)
    if not raw[0]:
        raise LMError("no text to train the LM on")
    # modified counts: continuation counts for lower orders
    counts = [Counter() for _ in range(order)]
    counts[-1] = raw[-1]
    for n in range(order - 1):
        cont = Counter()
        for ng in raw[n + 1]:
            cont[ng[1:]] += 1
        for ng, c in raw[n].items():
            counts[n][ng] = c if ng[0] == BOS else cont[ng]
    seen = [w for (w,) in counts[0] if w != BOS]
    vocab = seen + sorted(set(vocab) - set(seen) - {BOS, EOS, UNK}) + [UNK]

    probs: list[dict[tuple, float]] = [dict() for _ in range(order)]
    bows: list[dict[tuple, float]] = [dict() for _ in range(order)]
    # unigrams: discounted counts interpolated with the uniform distribution over the vocabulary
    D = _discount(counts[0])
    uni = {ng: c for ng, c in counts[0].items() if ng[0] != BOS}
    total = sum(uni.values())
    gamma = D * len(uni) / total
    for w in vocab:
        probs[0][(w,)] = max(uni.get((w,), 0) - D, 0) / total + gamma / len(vocab)
    for n in range(1, order):
        D = _discount(counts[n])
        ctx_total: dict[tuple, int] = defaultdict(int)
        ctx_types: dict[tuple, int] = defaultdict(int)
        for ng, c in counts[n].items():
            ctx_total[ng[:-1]] += c
            ctx_types[ng[:-1]] += 1
        for ctx in ctx_total:
            bows[n - 1][ctx] = D * ctx_types[ctx] / ctx_total[ctx]
        for ng, c in counts[n].items():
            lower = _interp(probs, bows, ng[1:])
            probs[n][ng] = (c - D) / ctx_total[ng[:-1]] + bows[n - 1][ng[:-1]] * lower
    model = []
    for n in range(order):
        model.append({ng: (math.log10(p), math.log10(bows[n][ng]) if ng in bows[n] else 0.0)
                      for ng, p in probs[n].items()})
    model[0][(BOS,)] = (-99.0, math.log10(bows[0][(BOS,)]) if (BOS,) in bows[0] else 0.0)
    return model


def _interp(probs: list[dict], bows: list[dict], ng: tuple) -> float:
    """p(w | h) for ng = h + (w,) by backing off through the (linear) probabilities built so far."""
    n = len(ng)
    if ng in probs[n - 1]:
        return probs[n - 1][ng]
    if n == 1:
        return probs[0][(UNK,)]
    return bows[n - 2].get(ng[:-1], 1.0) * _interp(probs, bows, ng[1:])


def write_arpa(model: list[dict[tuple, tuple[float, float]]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for n, grams in enumerate(model, 1):
            f.write(f"ngram {n}={len(grams)}\n")
        for n, grams in enumerate(model, 1):
            f.write(f"\n\\{n}-grams:\n")
            for ng in sorted(grams):
                lp, bow = grams[ng]
                line = f"{lp:.6f}\t{' '.join(ng)}"
                if n < len(model) and bow != 0.0:
                    line += f"\t{bow:.6f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")
    tmp.replace(path)
    return path


class NGramLM:
    """A backoff n-gram LM read from an ARPA file; `score` returns natural-log probabilities."""

    def __init__(self, model: list[dict[tuple, tuple[float, float]]]):
        self.order = len(model)
        self.prob = {ng: lp * LN10 for grams in model for ng, (lp, _) in grams.items()}
        self.bow = {ng: b * LN10 for grams in model for ng, (_, b) in grams.items() if b != 0.0}
        self.vocab = {ng[0] for ng in model[0]}
        self.contexts = {ng[:-1] for grams in model[1:] for ng in grams}

    @classmethod
    def from_arpa(cls, path: str | Path) -> "NGramLM":
        return cls(read_arpa(path))

    def score(self, context: tuple, word: str) -> tuple[tuple, float]:
        """(next context, ln p(word | context)), backing off to shorter contexts.

        The next context is the longest suffix of context + word that some n-gram continues:
        hypotheses that agree on it get the same scores from then on, so it is the LM state.
        """
        if word not in self.vocab:
            word = UNK
        ctx = tuple(context[len(context) - self.order + 1:]) if self.order > 1 else ()
        lp = 0.0
        while ctx + (word,) not in self.prob:
            if not ctx:  # a word the model has never seen and no <unk> entry
                return (), -99.0 * LN10
            lp += self.bow.get(ctx, 0.0)
            ctx = ctx[1:]
        ngram = ctx + (word,)
        state = ngram[len(ngram) - self.order + 1:] if self.order > 1 else ()
        while state and state not in self.contexts:
            state = state[1:]
        return state, lp + self.prob[ngram]

    def sentence_logprob(self, sentence: str) -> float:
        ctx, total = (BOS,), 0.0
        for w in sentence.split() + [EOS]:
            ctx, lp = self.score(ctx, w)
            total += lp
        return total


def read_arpa(path: str | Path) -> list[dict[tuple, tuple[float, float]]]:
    """Parse an ARPA file into per-order {ngram: (log10 prob, log10 backoff)}."""
    path = Path(path)
    if not path.is_file():
        raise LMError(f"LM file {path} does not exist")
    model: list[dict] = []
    counts: list[int] = []
    section = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line == "\\data\\":
                continue
            if line == "\\end\\":
                break
            if line.startswith("ngram "):
                counts.append(int(line.split("=")[1]))
                continue
            if line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:line.index("-")])
                model.append({})
                continue
            parts = line.split()
            if section == 0 or len(parts) < section + 1:
                raise LMError(f"{path}:{lineno}: not an ARPA line: {line[:60]!r}")
            ng = tuple(parts[1:section + 1])
            bow = float(parts[section + 1]) if len(parts) > section + 1 else 0.0
            model[section - 1][ng] = (float(parts[0]), bow)
    if not model or [len(m) for m in model] != counts:
        raise LMError(f"{path} is not a complete ARPA file (header counts {counts}, "
                      f"read {[len(m) for m in model]})")
    return model


def write_lexicon(words: Iterable[str], spell, path: str | Path) -> Path:
    """One line per word: `word tok1 tok2 ...`, spelled by `spell(word) -> list[str]`.

    Words the tokenizer cannot spell (empty spelling) are left out.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for w in sorted(set(words)):
            toks = spell(w)
            if toks:
                f.write(f"{w} {' '.join(toks)}\n")
    return path


def build_lm(texts: Iterable[str], out_dir: str | Path, order: int = 3, vocab: Iterable[str] = (),
             name: str | None = None) -> Path:
    """Train on `texts` (+ the open vocabulary `vocab`) and write `<out_dir>/<name or order>gram.arpa`."""
    model = train_kneser_ney(list(texts), order, vocab)
    return write_arpa(model, Path(out_dir) / f"{name or order}gram.arpa")


def read_wordlist(path: str | Path, spellable, key: str = "decode.lm.wordlist") -> list[str]:
    """Words of a word list (one per line, e.g. /usr/share/dict/american-english), lower-cased,
    sorted, without repeats, keeping those for which `spellable(word)` is true."""
    path = Path(path)
    if not path.is_file():
        raise LMError(f"{key}={str(path)!r}: no such file (Debian: apt-get install wamerican)")
    words = {w.strip().lower() for w in path.read_text(encoding="utf-8", errors="replace").splitlines()}
    words = sorted(w for w in words if w and " " not in w and spellable(w))
    if not words:
        raise LMError(f"{key}={str(path)!r}: no word spelled with the model's characters")
    return words


def arpa_vocab(path: str | Path) -> list[str]:
    """The words of an ARPA file (its 1-gram section) without <s>, </s>, <unk>; reads nothing else."""
    path = Path(path)
    if not path.is_file():
        raise LMError(f"LM file {path} does not exist")
    words, inside = [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif inside and line.startswith("\\"):
                break
            elif inside and line:
                words.append(line.split()[1])
    if not inside:
        raise LMError(f"{path} has no \\1-grams: section")
    return [w for w in words if w not in (BOS, EOS, UNK)]


# --- interpolating LMs (one per text source) ------------------------------------------------------------------
# Pooling the counts of a large source (500,000 grammar sentences) with a small one (48,000 natural sentences)
# gives the small one the weight of its share of the text. Instead, as SRILM's `ngram -mix-lm` and
# `compute-best-mix`: one LM per source, mixture weights that minimize a held-out text's perplexity (EM),
# and one backoff LM holding the mixture p(w | h) = sum_i weight_i p_i(w | h) for every n-gram of any source.

def logprob10(model: list[dict[tuple, tuple[float, float]]], ngram: tuple, unk: bool = True) -> float:
    """log10 p(ngram[-1] | ngram[:-1]) in a model of per-order {ngram: (log10 prob, log10 backoff)}, backing off.
    ngram may be longer than the model's order (the oldest words are dropped). A word the model lacks
    scores as <unk> (unk=True) or -99 (unk=False: its share of a mixture, where another model has the word)."""
    ngram = ngram[max(0, len(ngram) - len(model)):]
    if (ngram[-1],) not in model[0]:
        if not unk:
            return -99.0
        ngram = ngram[:-1] + (UNK,)
    lp = 0.0
    while ngram not in model[len(ngram) - 1]:
        if len(ngram) == 1:
            return lp + model[0][(UNK,)][0] if (UNK,) in model[0] else -99.0
        entry = model[len(ngram) - 2].get(ngram[:-1])
        lp += entry[1] if entry else 0.0
        ngram = ngram[1:]
    return lp + model[len(ngram) - 1][ngram][0]


def _token_probs(model, sentences: list[list[str]]) -> list[float]:
    """p(w | h) (linear) of every word and </s> of the sentences (word lists), as the model's share of a mixture."""
    out = []
    for words in sentences:
        words = [BOS] + words + [EOS]
        out += [10.0 ** logprob10(model, tuple(words[max(0, i - len(model) + 1):i + 1]), unk=False)
                for i in range(1, len(words))]
    return out


def _perplexity(probs: list[list[float]], weights: list[float]) -> float:
    n = len(probs[0])
    return math.exp(-sum(math.log(sum(w * p[t] for w, p in zip(weights, probs))) for t in range(n)) / n)


def best_mix(models: list, sentences: list[str], iters: int = 200, tol: float = 1e-6) -> tuple[list[float], dict]:
    """Mixture weights (summing to 1) that maximize the likelihood of `sentences` (EM, as compute-best-mix).

    Words no model has count as <unk>. -> (weights, {"perplexity": the mixture's, "tokens": words + </s>})."""
    if not sentences:
        raise LMError("no held-out sentences to fit the LM mixture weights on")
    vocab = set().union(*(m[0].keys() for m in models))
    words = [[w if (w,) in vocab else UNK for w in line.split()] for line in sentences]
    probs = [_token_probs(m, words) for m in models]
    k, n = len(models), len(probs[0])
    weights = [1.0 / k] * k
    for _ in range(iters):
        post = [0.0] * k
        for t in range(n):
            mix = sum(weights[i] * probs[i][t] for i in range(k))
            for i in range(k):
                post[i] += weights[i] * probs[i][t] / mix
        new = [p / n for p in post]
        done = max(abs(a - b) for a, b in zip(new, weights)) < tol
        weights = new
        if done:
            break
    return weights, {"perplexity": _perplexity(probs, weights), "tokens": n}


def mix_models(models: list, weights: list[float]) -> list[dict[tuple, tuple[float, float]]]:
    """One backoff LM for the mixture sum_i weights[i] p_i: every n-gram of any model, its probability the
    mixture of the models' (each backing off as it would); backoff weights renormalize each context.
    The models must have the same order; a word a model lacks gets nothing from it (its <unk> stays <unk>)."""
    if len(models) != len(weights) or not models:
        raise LMError(f"{len(models)} LMs and {len(weights)} mixture weights")
    if len({len(m) for m in models}) != 1:
        raise LMError(f"LMs of different orders cannot be mixed: {[len(m) for m in models]}")
    if min(weights) < 0 or not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
        raise LMError(f"mixture weights {weights} must be >= 0 and sum to 1")
    order, parts = len(models[0]), [(w, m) for w, m in zip(weights, models) if w > 0]
    probs: list[dict[tuple, float]] = []  # merged, per order: ngram -> log10 p
    bows: list[dict[tuple, float]] = []   # merged, per order: context -> log10 backoff
    for n in range(order):
        grams = set().union(*(m[n].keys() for _, m in parts))
        probs.append({ng: math.log10(max(sum(w * 10.0 ** logprob10(m, ng, unk=False) for w, m in parts), 1e-99))
                      for ng in grams})
        if n == 0:
            probs[0][(BOS,)] = -99.0
            continue
        # backoff of context h: (1 - sum_w p(w | h)) / (1 - sum_w p(w | h')) over the n-grams (h, w) listed
        seen, lower = defaultdict(float), defaultdict(float)
        for ng, lp in probs[n].items():
            seen[ng[:-1]] += 10.0 ** lp
            lower[ng[:-1]] += 10.0 ** _merged_logprob(probs, bows, ng[1:])
        bows.append({h: math.log10(max(1.0 - seen[h], 1e-12) / max(1.0 - lower[h], 1e-12)) for h in seen})
    bows.append({})
    return [{ng: (lp, bows[n].get(ng, 0.0)) for ng, lp in probs[n].items()} for n in range(order)]


def _merged_logprob(probs: list[dict], bows: list[dict], ngram: tuple) -> float:
    """log10 p in the half-built merged model (orders up to len(ngram) are complete)."""
    lp = 0.0
    while ngram not in probs[len(ngram) - 1]:
        if len(ngram) == 1:
            return lp + probs[0].get((UNK,), -99.0)
        lp += bows[len(ngram) - 2].get(ngram[:-1], 0.0)
        ngram = ngram[1:]
    return lp + probs[len(ngram) - 1][ngram]
