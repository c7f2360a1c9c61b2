"""Word and character error rates (Levenshtein alignment via `editdistance`)."""
from __future__ import annotations

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
