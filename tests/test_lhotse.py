"""Lhotse interop (asr/corpus/lhotse.py): CutSets built by Lhotse itself over real wav files, read into
manifest rows (multi-supervision cuts, offsets, trimmed cuts, RecordingSet + SupervisionSet), written
back as a CutSet that Lhotse loads, and one-line errors naming the cut."""
import gzip
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import compose

lhotse = pytest.importorskip("lhotse")

from asr.audio import load_audio  # noqa: E402
from asr.corpus.importers import import_data  # noqa: E402
from asr.corpus.lhotse import export_data, export_lhotse, import_lhotse  # noqa: E402
from asr.manifest import ManifestError, read_manifest, write_manifest  # noqa: E402

SR = 16000


def tone(seconds: float, freq: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = (0.3 * np.sin(2 * np.pi * freq * t) * (1 + t)).astype(np.float32)  # rising: every offset differs
    return x if channels == 1 else np.stack([x, -x], axis=1)


@pytest.fixture
def corpus(tmp_path):
    """Two recordings: `long` (4 s) with two supervisions, `short` (1.2 s) with one over all of it."""
    sf.write(tmp_path / "long.wav", tone(4.0, 220), SR)
    sf.write(tmp_path / "short.wav", tone(1.2, 440), SR)
    recs = lhotse.RecordingSet.from_recordings([lhotse.Recording.from_file(tmp_path / f"{n}.wav") for n in ("long", "short")])
    sups = lhotse.SupervisionSet.from_segments([
        lhotse.SupervisionSegment("long-1", "long", 0.5, 1.0, channel=0, text="Hello There", speaker="ann"),
        lhotse.SupervisionSegment("long-2", "long", 2.0, 1.25, channel=0, text="good bye", speaker="bob"),
        lhotse.SupervisionSegment("short-1", "short", 0.0, 1.2, channel=0, text="one more"),
    ])
    return tmp_path, recs, sups


EXPECTED = [("long-1", "long.wav", 0.5, 1.0, "hello there", "ann"),
            ("long-2", "long.wav", 2.0, 1.25, "good bye", "bob"),
            ("short-1", "short.wav", None, 1.2, "one more", "short-1")]  # no speaker: its own (Kaldi's convention)


def check_rows(rows, root):
    got = [(r["id"], r["audio"], r.get("offset"), r["duration"], r["text"], r["speaker"]) for r in rows]
    assert got == [(i, str(root / a), o, d, t, s) for i, a, o, d, t, s in EXPECTED]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_multi_supervision_cuts_become_rows_with_offsets(corpus, suffix):
    root, recs, sups = corpus
    cuts = lhotse.CutSet.from_manifests(recs, sups)
    assert len(cuts["long-0"].supervisions) == 2
    cuts.to_file(root / f"cuts{suffix}")
    check_rows(import_lhotse(root / f"cuts{suffix}"), root)


def test_trimmed_cuts_give_the_same_rows(corpus):
    """A cut starting 2.0 s into the recording with a supervision at 0 s of the cut: offset 2.0."""
    root, recs, sups = corpus
    trimmed = lhotse.CutSet.from_manifests(recs, sups).trim_to_supervisions(keep_overlapping=False).to_eager()
    (cut,) = [c for c in trimmed if c.supervisions[0].id == "long-2"]
    assert cut.start == 2.0 and cut.supervisions[0].start == 0.0
    trimmed.to_file(root / "trimmed.jsonl.gz")
    check_rows(import_lhotse(root / "trimmed.jsonl.gz"), root)


def test_windowed_cuts_repeat_a_supervision_once(corpus):
    root, recs, sups = corpus
    cuts = lhotse.CutSet.from_manifests(recs, sups)
    (cut,) = [c for c in cuts if c.id.startswith("long")]
    twice = lhotse.CutSet.from_cuts([cut, cut.with_id("long-copy"), *[c for c in cuts if c.id != cut.id]])
    twice.to_file(root / "twice.jsonl")
    check_rows(import_lhotse(root / "twice.jsonl"), root)


def test_recording_and_supervision_sets(corpus):
    root, recs, sups = corpus
    recs.to_file(root / "recordings.jsonl.gz")
    sups.to_file(root / "supervisions.jsonl.gz")
    check_rows(import_lhotse(root / "recordings.jsonl.gz", supervisions=root / "supervisions.jsonl.gz"), root)
    with pytest.raises(ManifestError, match="is a RecordingSet: also set supervisions="):
        import_lhotse(root / "recordings.jsonl.gz")


def test_round_trip_through_a_cutset_lhotse_loads(corpus):
    """rows -> CutSet (export) -> Lhotse loads the same audio the toolkit reads -> rows again."""
    root, recs, sups = corpus
    lhotse.CutSet.from_manifests(recs, sups).to_file(root / "cuts.jsonl.gz")
    rows = import_lhotse(root / "cuts.jsonl.gz")
    assert export_lhotse(rows, root / "out" / "cuts.jsonl.gz") == 3
    cuts = lhotse.load_manifest(root / "out" / "cuts.jsonl.gz")
    assert isinstance(cuts, lhotse.CutSet) and len({c.recording.id for c in cuts}) == 2
    for row in rows:
        cut = cuts[row["id"]]
        assert (cut.supervisions[0].text, cut.supervisions[0].speaker) == (row["text"], row["speaker"])
        ours = load_audio(row["audio"], SR, offset=row.get("offset", 0.0), duration=row["duration"])
        theirs = torch.from_numpy(cut.load_audio()[0])
        assert ours.shape == theirs.shape and torch.allclose(ours, theirs, atol=1e-4), row["id"]
    check_rows(import_lhotse(root / "out" / "cuts.jsonl.gz"), root)


def test_recipes_import_and_export(corpus):
    """recipes/import_data.py format=lhotse and recipes/export_data.py format=lhotse, as composed by Hydra."""
    root, recs, sups = corpus
    lhotse.CutSet.from_manifests(recs, sups).to_file(root / "cuts.jsonl")
    import_data(compose("import_data", ["format=lhotse", f"src={root / 'cuts.jsonl'}", f"out={root / 'm' / 'train.jsonl'}"]))
    check_rows(read_manifest(root / "m" / "train.jsonl"), root)
    export_data(compose("export_data", [f"src={root / 'm' / 'train.jsonl'}", f"out={root / 'back.jsonl'}"]))
    check_rows(import_lhotse(root / "back.jsonl"), root)
    with pytest.raises(ManifestError, match=r"out='x.txt': a Lhotse CutSet is written as \.jsonl or \.jsonl\.gz"):
        export_data(compose("export_data", [f"src={root / 'm' / 'train.jsonl'}", "out=x.txt"]))


def write_cut_lines(path, mutate):
    """The cuts of `long` and `short` as JSON lines, the second one changed by `mutate`."""
    lines = [c.to_dict() for c in lhotse.load_manifest(path.parent / "cuts.jsonl")]
    mutate(lines[1])
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(d) + "\n" for d in lines)
    return path


def set_key(*keys, value):
    def mutate(d):
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return mutate


@pytest.mark.parametrize("mutate, message", [
    (set_key("color", value="red"), r"unknown field 'color' in a MonoCut"),
    (set_key("supervisions", 0, "mood", value="ok"), r"unknown field 'mood' in a SupervisionSegment"),
    (set_key("recording", "sources", 0, "source", value="nowhere/missing.wav"),
     r"audio file nowhere/missing.wav of recording 'short' not found"),
    (set_key("recording", "sources", 0, "type", value="url"), r"has a 'url' audio source"),
    (set_key("recording", "channel_ids", value=[0, 1]), r"recording 'short' has 2 channels"),
    (set_key("recording", "sources", value=5), r"not a valid Lhotse manifest entry \(TypeError: "),
    (set_key("supervisions", 0, "text", value=None), r"supervision 'short-1' has no text"),
    (set_key("supervisions", 0, "duration", value=9.0), r"supervision 'short-1' spans 0-9s, outside recording"),
], ids=["unknown-cut-field", "unknown-supervision-field", "missing-audio", "url-source", "two-channels",
        "sources-not-a-list", "no-text", "past-the-end"])
def test_bad_cut_gets_one_line_naming_it(corpus, mutate, message):
    root, recs, sups = corpus
    lhotse.CutSet.from_manifests(recs, sups).to_file(root / "cuts.jsonl")
    bad = write_cut_lines(root / "bad.jsonl.gz", mutate)
    with pytest.raises(ManifestError, match=message) as e:
        import_lhotse(bad)
    assert str(e.value).startswith(f"{bad}:2: 'short-1': ") and "\n" not in str(e.value)


def test_mixed_cut_and_stereo_file_are_refused(corpus):
    root, recs, sups = corpus
    cuts = lhotse.CutSet.from_manifests(recs, sups)
    long, short = cuts
    mixed = long.mix(short).with_id("mix")
    lhotse.CutSet.from_cuts([mixed]).to_file(root / "mixed.jsonl")
    with pytest.raises(ManifestError, match=r"mixed.jsonl:1: 'mix': a MixedCut is not supported"):
        import_lhotse(root / "mixed.jsonl")
    sf.write(root / "stereo.wav", tone(1.0, 300, channels=2), SR)
    write_manifest(root / "st.jsonl", [{"id": "st", "audio": str(root / "stereo.wav"), "duration": 1.0,
                                       "text": "x", "speaker": "s"}])
    with pytest.raises(ManifestError, match=r"utterance 'st': .*stereo.wav has 2 channels"):
        export_lhotse(read_manifest(root / "st.jsonl"), root / "st-cuts.jsonl")


def test_damaged_manifest(tmp_path):
    (tmp_path / "cuts.jsonl").write_text('{"id": "a", "type": "MonoCut"\n')
    with pytest.raises(ManifestError, match=r"cuts.jsonl:1: not a readable Lhotse jsonl line"):
        import_lhotse(tmp_path / "cuts.jsonl")
    with pytest.raises(ManifestError, match=r"no such Lhotse manifest"):
        import_lhotse(tmp_path / "none.jsonl")
