"""Where corpora come in: the table of import formats, and `import_data(cfg)` (recipes/import_data.py).

Every importer turns a corpus in its own layout into JSONL manifest rows (asr/manifest.py):
    importer(src, lowercase=True, **options) -> [{"id", "audio", "duration", "text", "speaker"} (+ "offset")]
A new format is one importer function (its own module in asr/corpus/) plus one entry in FORMATS;
`options` are the extra config keys it takes (conf/import_data.yaml). The built-in synthetic
corpus is not imported: `asr.corpus.prepare_corpus` writes its manifests directly.
"""
from __future__ import annotations

from omegaconf import OmegaConf

from asr.corpus.kaldi import import_kaldi_dir
from asr.corpus.lhotse import import_lhotse  # lhotse itself (an optional extra) is imported when called
from asr.corpus.librispeech import import_librispeech
from asr.manifest import ManifestError, write_manifest

# format name -> (importer, the config keys it takes besides src and lowercase)
FORMATS = {
    "kaldi": (import_kaldi_dir, ()),
    "librispeech": (import_librispeech, ()),
    "lhotse": (import_lhotse, ("supervisions",)),
}


def import_data(cfg) -> list[dict]:
    """Hydra entry (conf/import_data.yaml): `format` (a FORMATS key), `src` -> manifest `out`."""
    missing = [k for k in ("format", "src", "out") if OmegaConf.is_missing(cfg, k)]
    if missing:
        raise ManifestError(f"set {' '.join(k + '=...' for k in missing)} (see conf/import_data.yaml)")
    if not isinstance(cfg.format, str) or cfg.format not in FORMATS:
        raise ManifestError(f"format={cfg.format!r} is not one of: {', '.join(FORMATS)}")
    importer, options = FORMATS[cfg.format]
    rows = importer(cfg.src, lowercase=cfg.lowercase, **{k: cfg.get(k) for k in options})
    write_manifest(cfg.out, rows)
    hours = sum(r["duration"] for r in rows) / 3600
    speakers = len({r["speaker"] for r in rows})
    print(f"wrote {cfg.out}: {len(rows)} utterances, {hours:.2f} h, {speakers} speakers")
    return rows
