"""Transcribe audio files with a checkpoint: text plus word/char timestamps; text, JSON or SRT out.

    asr-transcribe exp/synth-small/blstm_small/best.pt a.wav b.flac --format srt --device cuda

Long files are read in chunks (`chunk_seconds`, sharing `overlap_seconds`) straight from disk,
so memory does not grow with the file. Chunk i keeps the tokens that start before the middle
of its overlap with chunk i+1, and chunk i+1 those from there on. Token times come from a CTC
forced alignment of the decoded text on the chunk's frames: frame index x hop x subsampling.

The model, tokenizer, features and CMVN come from `asr.bundle.load_bundle`; the decoder is
`asr.decoders.build_decoder` over the same `conf/decode/<name>.yaml` as `recipes/decode.py`. The LM
decoder takes the weights `recipes/decode.py decode=lm` tuned on dev for this checkpoint and LM
(`<checkpoint dir>/decode/lm/tune.json`) when there are some, else conf/decode/lm.yaml's.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch
import torchaudio
from tqdm import tqdm

from asr.audio import AudioError, iter_audio_chunks
from asr.bundle import ENGINES, load_bundle
from asr.checkpoint import CheckpointError
from asr.decode import decode_conf, lm_arpa_path, read_tuned
from asr.decoders import DecodeError, build_decoder
from asr.export import ExportError
from asr.features import FeatureError
from asr.lm import LMError
from asr.progress import progress as progress_bar  # `progress` is an argument of transcribe()

FORMATS = ("text", "json", "srt")
DECODERS = {"greedy": "default", "beam": "beam", "lm": "lm"}  # --decoder -> conf/decode/<name>.yaml
log = logging.getLogger(__name__)


class Transcriber:
    """A loaded model + decoder; `transcriber(path)` -> result dict (see `transcribe`).

    engine="torch": `checkpoint` is a .pt checkpoint; engine="onnx": an `asr-export`ed .onnx file,
    run by onnxruntime on CPU. `threads` sets torch's or onnxruntime's intra-op threads."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", decoder: str = "greedy",
                 lm: str | Path | None = None, beam_size: int | None = None, lm_weight: float | None = None,
                 word_score: float | None = None, engine: str = "torch", threads: int | None = None):
        if decoder not in DECODERS:
            raise DecodeError(f"decoder={decoder!r} is not one of: {', '.join(DECODERS)}")
        self.bundle = load_bundle(checkpoint, device, engine, threads)
        self.model, self.tokenizer, self.features = self.bundle.model, self.bundle.tokenizer, self.bundle.features
        self.device, self.cmvn = self.bundle.device, self.bundle.cmvn
        self.frame_shift = self.bundle.frame_shift  # seconds per output frame
        dc = decode_conf(DECODERS[decoder], Path(checkpoint).parent)  # ${exp_dir}: the checkpoint's folder
        if beam_size is not None:
            dc.beam_size = beam_size
        arpa, self.settings = None, f"decoder {decoder}"
        if decoder == "lm":
            arpa = Path(lm) if lm is not None else lm_arpa_path(dc.lm)
            if not arpa.is_file():
                raise DecodeError(f"decoder=lm needs an ARPA LM: {arpa} does not exist "
                                  "(recipes/decode.py decode=lm builds it, or pass --lm)")
            self.settings = _lm_weights(dc, checkpoint, arpa, lm_weight=lm_weight, word_score=word_score)
        self.decoder = build_decoder(dc, self.tokenizer, arpa)
        log.info("%s", self.settings)

    @property
    def mean(self) -> torch.Tensor:
        return self.cmvn.mean

    @property
    def std(self) -> torch.Tensor:
        return self.cmvn.std

    @torch.inference_mode()
    def _chunk_tokens(self, wave: torch.Tensor) -> list[tuple[int, float, float]]:
        """(token id, start s, end s) relative to the chunk start."""
        feats = self.features(wave).to(self.device)  # [T, F]
        log_probs, out_lengths = self.bundle.log_probs(feats.unsqueeze(0), torch.tensor([feats.shape[0]],
                                                                                         device=self.device))
        log_probs = log_probs.float().cpu()  # [1, T', V]
        ids = self.decoder(log_probs, out_lengths.cpu())[0][0].ids
        if not ids:
            return []
        return [(tok, s * self.frame_shift, e * self.frame_shift) for tok, s, e in _align(log_probs[0], ids)]

    def __call__(self, path: str | Path, chunk_seconds: float = 30.0, overlap_seconds: float = 2.0,
                 timestamps: bool = True) -> dict:
        if not 0 <= overlap_seconds < chunk_seconds:
            raise DecodeError(f"need 0 <= overlap_seconds < chunk_seconds, got {overlap_seconds} and {chunk_seconds}")
        min_samples = self.features.win_length
        chunks = iter_audio_chunks(path, chunk_seconds, overlap_seconds, self.features.sample_rate)
        tokens: list[tuple[int, float, float]] = []
        duration = 0.0
        current = next(chunks, None)  # iter_audio_chunks raises AudioError for an empty file
        if current is None:
            raise AudioError(f"{path}: no audio samples")
        while current is not None:
            start, wave = current
            following = next(chunks, None)  # one chunk of look-ahead tells where this one's share ends
            duration = start + wave.numel() / self.features.sample_rate
            if wave.numel() < min_samples:  # a sliver at the end is skipped; a whole file that short is an error
                if start == 0 and following is None:
                    raise AudioError(f"{path}: too short ({wave.numel()} samples, need {min_samples} for one frame)")
            else:
                cut_from = round(start + overlap_seconds / 2, 6) if start > 0 else -1.0
                cut_to = round(following[0] + overlap_seconds / 2, 6) if following is not None else float("inf")
                for tok, s, e in self._chunk_tokens(wave):
                    # rounded, so that a token at the cut lands on the same side from either chunk
                    s, e = round(start + s, 6), round(start + e, 6)
                    if cut_from <= s < cut_to:
                        tokens.append((tok, s, e))
            current = following
        result = {"path": str(path), "duration": round(duration, 3), **self._words(tokens)}
        if not timestamps:
            result = {k: v for k, v in result.items() if k not in ("words", "chars")}
        return result

    def _words(self, tokens: list[tuple[int, float, float]]) -> dict:
        """Text, words [{word, start, end}] and chars [{char, start, end}] from timed tokens."""
        char = self.tokenizer.kind == "char"
        words, current = [], []
        for tok, s, e in tokens:
            piece = self.tokenizer.token(tok)
            boundary = piece == " " if char else piece.startswith("\u2581")
            if boundary and current:
                words.append(current)
                current = []
            if not (char and boundary):
                current.append((tok, s, e))
        if current:
            words.append(current)
        word_list = [{"word": self.tokenizer.decode([t for t, _, _ in w]).strip(), "start": round(w[0][1], 3),
                      "end": round(w[-1][2], 3)} for w in words]
        chars = [{"char": self.tokenizer.token(t), "start": round(s, 3), "end": round(e, 3)} for t, s, e in tokens]
        return {"text": " ".join(w["word"] for w in word_list), "words": word_list, "chars": chars}


def _lm_weights(dc, checkpoint: str | Path, arpa: Path, **given) -> str:
    """Set `dc.lm`'s weights: those tuned on dev for this checkpoint and LM (read_tuned), else the
    config's; a `given` one (not None) wins. Returns a line saying which were used and from where."""
    tune_json = Path(dc.dir) / "tune.json"
    tuned = read_tuned(tune_json, checkpoint, arpa)
    weights = dict(tuned["weights"]) if tuned else {}
    weights.update({k: v for k, v in given.items() if v is not None})
    for k, v in weights.items():
        dc.lm[k] = v
    source = (f"tuned on {tuned['split']} (WER there {100 * tuned['wer']:.2f} %, {tune_json})" if tuned
              else f"conf/decode/{dc.name}.yaml defaults (no tune.json for this checkpoint and LM)")
    named = [k for k, v in given.items() if v is not None]
    if named:
        source += "; given: " + " ".join(named)
    shown = " ".join(f"{k}={dc.lm[k]}" for k in dict.fromkeys(["lm_weight", "word_score", *weights]))
    return f"decoder lm ({arpa}): {shown}, {source}"


def _align(log_probs: torch.Tensor, ids: list[int]) -> list[tuple[int, int, int]]:
    """(token, start frame, end frame) per token of `ids` by CTC forced alignment of log_probs [T, V].

    Decoded text is always alignable for greedy/beam output; an LM hypothesis can need more
    frames than there are (a word boundary the model did not emit): then the tokens are spread
    evenly over the frames.
    """
    T = log_probs.shape[0]
    try:
        ali, scores = torchaudio.functional.forced_align(log_probs.unsqueeze(0), torch.tensor([ids]), blank=0)
    except RuntimeError:
        step = T / len(ids)
        return [(tok, int(i * step), max(int(i * step) + 1, int((i + 1) * step))) for i, tok in enumerate(ids)]
    spans = torchaudio.functional.merge_tokens(ali[0], scores[0].exp())
    return [(sp.token, sp.start, sp.end) for sp in spans]


def transcribe(paths: str | Path | list[str | Path], checkpoint: str | Path, device: str = "cpu",
               chunk_seconds: float = 30.0, overlap_seconds: float = 2.0, decoder: str = "greedy",
               timestamps: bool = True, lm: str | Path | None = None, progress: bool = True,
               on_error: str = "raise", engine: str = "torch") -> list[dict]:
    """Transcribe audio files (any format/rate/channels `asr.audio` reads) with a checkpoint.

    Returns per file {"path", "duration", "text", "words": [{"word", "start", "end"}],
    "chars": [{"char", "start", "end"}]} (times in seconds; no words/chars when
    timestamps=False). A missing, empty or non-audio file raises `AudioError` naming the file
    (on_error="raise"), or (on_error="record") gives {"path", "error"} in its place and the
    other files are still transcribed. engine="onnx" runs an `asr-export`ed .onnx file
    (`checkpoint`) with onnxruntime on CPU.
    """
    if on_error not in ("raise", "record"):
        raise DecodeError(f"on_error={on_error!r} is not one of: raise, record")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    t = Transcriber(checkpoint, device=device, decoder=decoder, lm=lm, engine=engine)
    results = []
    for p in progress_bar(paths, desc="transcribe", unit="file", disable=not progress or len(paths) < 2):
        try:
            results.append(t(p, chunk_seconds, overlap_seconds, timestamps))
        except (AudioError, FeatureError) as e:
            if on_error == "raise":
                raise
            results.append({"path": str(p), "error": str(e)})
    return results


def _srt_time(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def to_srt(result: dict, max_chars: int = 42, max_seconds: float = 5.0) -> str:
    """Subtitles: words grouped into cues of at most `max_chars` characters and `max_seconds`."""
    cues, cur = [], []
    for w in result.get("words", []):
        text = " ".join(x["word"] for x in cur + [w])
        if cur and (len(text) > max_chars or w["end"] - cur[0]["start"] > max_seconds):
            cues.append(cur)
            cur = []
        cur.append(w)
    if cur:
        cues.append(cur)
    return "".join(f"{i}\n{_srt_time(c[0]['start'])} --> {_srt_time(c[-1]['end'])}\n"
                   f"{' '.join(x['word'] for x in c)}\n\n" for i, c in enumerate(cues, 1))


def render(result: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result, indent=1) + "\n"
    if fmt == "srt":
        return to_srt(result)
    return result["text"] + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="asr-transcribe", description="Transcribe audio files with a CTC checkpoint.")
    p.add_argument("checkpoint", help="model checkpoint (.pt) from recipes/train.py, or .onnx with --engine onnx")
    p.add_argument("audio", nargs="+", help="audio files (wav, flac, ogg, mp3; any rate or channel count)")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--output-dir", "-o", help="write <name>.<txt|json|srt> per file here instead of stdout")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--decoder", choices=DECODERS, default="greedy")
    p.add_argument("--engine", choices=ENGINES, default="torch",
                   help="torch (a .pt checkpoint) or onnx (an asr-export .onnx file, onnxruntime on CPU)")
    p.add_argument("--threads", type=int, help="intra-op CPU threads of torch / onnxruntime (default: theirs)")
    p.add_argument("--lm", help="ARPA LM for --decoder lm (default: <checkpoint dir>/lm/<order>gram.arpa, "
                                "the order of conf/decode/lm.yaml)")
    p.add_argument("--beam-size", type=int, help="beam size for beam / lm (default: conf/decode/beam.yaml, lm.yaml)")
    p.add_argument("--lm-weight", type=float, help="default: tuned on dev by recipes/decode.py decode=lm for this "
                   "checkpoint (<checkpoint dir>/decode/lm/tune.json), else conf/decode/lm.yaml's")
    p.add_argument("--word-score", type=float, help="default: as --lm-weight")
    p.add_argument("--chunk-seconds", type=float, default=30.0)
    p.add_argument("--overlap-seconds", type=float, default=2.0)
    p.add_argument("--no-timestamps", action="store_true", help="text only (JSON without words/chars)")
    args = p.parse_args(argv)
    if not 0 <= args.overlap_seconds < args.chunk_seconds:
        p.error("need 0 <= --overlap-seconds < --chunk-seconds")
    if args.format == "srt" and args.no_timestamps:
        p.error("--format srt needs timestamps")

    try:
        t = Transcriber(args.checkpoint, device=args.device, decoder=args.decoder, lm=args.lm,
                        beam_size=args.beam_size, lm_weight=args.lm_weight, word_score=args.word_score,
                        engine=args.engine, threads=args.threads)
    except (CheckpointError, DecodeError, LMError, FeatureError, ExportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.decoder == "lm":
        print(t.settings, file=sys.stderr)
    out_dir = Path(args.output_dir) if args.output_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    results, failed = [], 0
    for path in progress_bar(args.audio, desc="transcribe", unit="file", disable=len(args.audio) < 2,
                             file=sys.stderr):
        try:
            r = t(path, args.chunk_seconds, args.overlap_seconds, timestamps=not args.no_timestamps)
        except (AudioError, FeatureError) as e:
            tqdm.write(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        ext = {"text": "txt", "json": "json", "srt": "srt"}[args.format]
        if out_dir is not None:
            (out_dir / f"{Path(path).stem}.{ext}").write_text(render(r, args.format))
        elif args.format == "json":
            results.append(r)
        elif args.format == "srt":
            tqdm.write(f"# {path}\n{render(r, 'srt')}" if len(args.audio) > 1 else render(r, "srt"), end="")
        else:
            tqdm.write(f"{path}\t{r['text']}" if len(args.audio) > 1 else r["text"])
    if out_dir is None and args.format == "json":
        print(json.dumps(results if len(args.audio) > 1 else (results[0] if results else []), indent=1))
    if failed:
        print(f"{failed} of {len(args.audio)} files failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
