"""Word and character error rates (`editdistance`), alignments and sclite-style error reports."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import editdistance


@dataclass
class ErrorStats:
    errors: int = 0
    ref_len: int = 0

    @property
    def rate(self) -> float:
        return self.errors / max(self.ref_len, 1)

    def add(self, ref: list, hyp: list) -> int:
        e = editdistance.eval(ref, hyp)
        self.errors += e
        self.ref_len += len(ref)
        return e


def wer_cer(refs: list[str], hyps: list[str]) -> tuple[float, float]:
    """Corpus-level (WER, CER) as fractions: total edits / total reference length."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    w, c = ErrorStats(), ErrorStats()
    for r, h in zip(refs, hyps):
        w.add(r.split(), h.split())
        c.add(list(r), list(h))
    return w.rate, c.rate


def align(ref: list, hyp: list) -> list[tuple[str, object, object]]:
    """Levenshtein alignment as (op, ref_item, hyp_item); op in C, S, D, I (None for the missing side).

    Among the alignments with the fewest edits, one with the most correct items is chosen
    ("a b c" / "a c d" aligns as C D C I, not C S S).
    """
    R, H = len(ref), len(hyp)
    # cost[i][j] = (edits, -hits) to turn ref[:i] into hyp[:j], compared as tuples
    cost = [[(i + j, 0) if i == 0 or j == 0 else None for j in range(H + 1)] for i in range(R + 1)]
    for i in range(1, R + 1):
        for j in range(1, H + 1):
            e, h = cost[i - 1][j - 1]
            diag = (e, h - 1) if ref[i - 1] == hyp[j - 1] else (e + 1, h)
            up, left = cost[i - 1][j], cost[i][j - 1]
            cost[i][j] = min(diag, (up[0] + 1, up[1]), (left[0] + 1, left[1]))
    out = []
    i, j = R, H
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            e, h = cost[i - 1][j - 1]
            same = ref[i - 1] == hyp[j - 1]
            if cost[i][j] == ((e, h - 1) if same else (e + 1, h)):
                out.append(("C" if same else "S", ref[i - 1], hyp[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i][j] == (cost[i - 1][j][0] + 1, cost[i - 1][j][1]):
            out.append(("D", ref[i - 1], None))
            i -= 1
        else:
            out.append(("I", None, hyp[j - 1]))
            j -= 1
    return out[::-1]


@dataclass
class ErrorCounts:
    ref_len: int = 0
    sub: int = 0
    dels: int = 0
    ins: int = 0

    @property
    def errors(self) -> int:
        return self.sub + self.dels + self.ins

    @property
    def rate(self) -> float:
        return self.errors / max(self.ref_len, 1)

    def add(self, alignment: list[tuple[str, object, object]]) -> "ErrorCounts":
        for op, r, _ in alignment:
            self.ref_len += r is not None
            self.sub += op == "S"
            self.dels += op == "D"
            self.ins += op == "I"
        return self


def _pair(op: str, r, h) -> tuple[str, str]:
    """Aligned REF/HYP cells of equal width; errors upper-cased, gaps as stars (sclite style)."""
    r = "*" * len(h) if r is None else (r.upper() if op != "C" else r)
    h = "*" * len(r) if h is None else (h.upper() if op != "C" else h)
    w = max(len(r), len(h))
    return r.ljust(w), h.ljust(w)


def error_report(ids: list[str], refs: list[str], hyps: list[str], title: str = "") -> tuple[str, dict]:
    """sclite/icefall `errs-*.txt` style report and its summary numbers.

    Returns (report text, summary dict with wer, cer, word/char counts, sentence error rate).
    """
    if not (len(ids) == len(refs) == len(hyps)):
        raise ValueError(f"{len(ids)} ids, {len(refs)} references, {len(hyps)} hypotheses")
    words, chars = ErrorCounts(), ErrorCounts()
    subs, dels, ins = Counter(), Counter(), Counter()
    utt_lines, wrong_sents = [], 0
    for uid, ref, hyp in zip(ids, refs, hyps):
        ali = align(ref.split(), hyp.split())
        u = ErrorCounts().add(ali)
        words.add(ali)
        chars.add(align(list(ref), list(hyp)))
        wrong_sents += u.errors > 0
        for op, r, h in ali:
            if op == "S":
                subs[(r, h)] += 1
            elif op == "D":
                dels[r] += 1
            elif op == "I":
                ins[h] += 1
        cells = [_pair(op, r, h) for op, r, h in ali]
        marks = [(" " if op == "C" else op).ljust(len(c[0])) for (op, _, _), c in zip(ali, cells)]
        utt_lines += [
            f"id: {uid}",
            ("REF:  " + " ".join(c[0] for c in cells)).rstrip(),
            ("HYP:  " + " ".join(c[1] for c in cells)).rstrip(),
            ("EVAL: " + " ".join(marks)).rstrip(),
            f"errors: {u.errors} (S={u.sub} D={u.dels} I={u.ins}) / {u.ref_len} words",
            "",
        ]
    summary = {
        "utterances": len(ids), "wer": words.rate, "cer": chars.rate, "ser": wrong_sents / max(len(ids), 1),
        "words": words.ref_len, "word_errors": words.errors, "sub": words.sub, "del": words.dels, "ins": words.ins,
        "chars": chars.ref_len, "char_errors": chars.errors,
    }
    head = [title] if title else []
    head += [
        f"%WER {100 * words.rate:.2f} [ {words.errors} / {words.ref_len}, {words.ins} ins, {words.dels} del, "
        f"{words.sub} sub ]",
        f"%CER {100 * chars.rate:.2f} [ {chars.errors} / {chars.ref_len}, {chars.ins} ins, {chars.dels} del, "
        f"{chars.sub} sub ]",
        f"%SER {100 * summary['ser']:.2f} [ {wrong_sents} / {len(ids)} ]",
        "",
        "Sections below: PER-UTT DETAILS, SUBSTITUTIONS, DELETIONS, INSERTIONS (most frequent first).",
        "",
        "PER-UTT DETAILS:",
    ]
    tail = ["SUBSTITUTIONS: count ref -> hyp"]
    tail += [f"{n:6d}  {r} -> {h}" for (r, h), n in subs.most_common()]
    tail += ["", "DELETIONS: count ref"] + [f"{n:6d}  {w}" for w, n in dels.most_common()]
    tail += ["", "INSERTIONS: count hyp"] + [f"{n:6d}  {w}" for w, n in ins.most_common()]
    return "\n".join(head + utt_lines + tail) + "\n", summary


def speaker_report(speakers: list[str], refs: list[str], hyps: list[str]) -> tuple[str, dict]:
    """Error rates per speaker (sclite's per-speaker summary, `-o sum`): a table sorted by word errors,
    most first, and {speaker: {"utterances", "words", "word_errors", "wer", "cer"}}."""
    if not (len(speakers) == len(refs) == len(hyps)):
        raise ValueError(f"{len(speakers)} speakers, {len(refs)} references, {len(hyps)} hypotheses")
    words, chars, utts = {}, {}, Counter()
    for spk, ref, hyp in zip(speakers, refs, hyps):
        spk = spk or "(none)"
        words.setdefault(spk, ErrorStats()).add(ref.split(), hyp.split())
        chars.setdefault(spk, ErrorStats()).add(list(ref), list(hyp))
        utts[spk] += 1
    total = sum(w.errors for w in words.values())
    order = sorted(words, key=lambda k: (-words[k].errors, k))
    lines = [f"{'speaker':<40} {'utts':>5} {'words':>6} {'WER %':>7} {'CER %':>7} {'share of word errors':>21}"]
    lines += [f"{k:<40} {utts[k]:>5} {words[k].ref_len:>6} {100 * words[k].rate:>7.2f} {100 * chars[k].rate:>7.2f} "
              f"{100 * words[k].errors / max(total, 1):>20.1f}%" for k in order]
    table = {k: {"utterances": utts[k], "words": words[k].ref_len, "word_errors": words[k].errors,
                 "wer": words[k].rate, "cer": chars[k].rate} for k in order}
    return "\n".join(lines) + "\n", table
