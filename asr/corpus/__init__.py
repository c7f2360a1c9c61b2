"""Where corpora come in. The built-in synthetic speech corpus: the project's own sentence grammar
(grammar.py, its word lists in words.py) and natural English sentences (text.py: WordNet, fortunes,
GCIDE) spoken by the English voices of espeak-ng, flite and festival (synth.py, prepare.py). The
importers of existing corpora, one module per format (kaldi.py, librispeech.py, lhotse.py), and
their table (importers.py: FORMATS, import_data).

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
