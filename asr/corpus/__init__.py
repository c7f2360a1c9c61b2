"""The built-in synthetic speech corpus: the project's own sentence grammar and natural English
sentences (WordNet, fortunes, GCIDE) spoken by the English voices of espeak-ng, flite and festival.

    from asr.corpus import sentence_pool, prepare_corpus, normalize, lm_sentences
"""
from asr.errors import ASRError


class CorpusError(ASRError, ValueError):
    """A bad corpus config value, a missing TTS engine, or a broken corpus on disk."""


from asr.corpus.grammar import sentence_pool, vocabulary  # noqa: E402
from asr.corpus.text import lm_sentences, normalize  # noqa: E402
from asr.corpus.prepare import plan_corpus, prepare_corpus  # noqa: E402

__all__ = ["CorpusError", "sentence_pool", "vocabulary", "plan_corpus", "prepare_corpus", "normalize",
           "lm_sentences"]
