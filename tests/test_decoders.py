"""The decoder library's registry: `build_decoder` makes every `DECODERS` entry from its composed
conf/decode config, a new entry is all a new decoder needs, and an unknown name is one clear error."""
import pytest
import torch
from omegaconf import OmegaConf

from asr import decoders
from asr.decode import decode_conf
from asr.decoders import DECODERS, BeamDecoder, DecodeError, GreedyDecoder, LexiconLMDecoder, TokenLMDecoder, \
    build_decoder, greedy_decode
from asr.lm import build_lm
from asr.tokenizer import CharTokenizer
from conftest import compose
from test_decode import LM_TEXTS, _decode1, peaky, token_lm

TOK = CharTokenizer()


def test_registry_names_the_recipe_decoders_in_order():
    assert list(DECODERS) == ["greedy", "beam", "lm"]


@pytest.mark.parametrize("name,cls", [("default", GreedyDecoder), ("beam", BeamDecoder), ("lm", LexiconLMDecoder),
                                      ("lm_token", TokenLMDecoder)])
def test_each_conf_decode_file_builds_its_decoder(tmp_path, name, cls):
    dc = decode_conf(name, tmp_path)
    arpa = token_lm(tmp_path) if name == "lm_token" else build_lm(LM_TEXTS, tmp_path / "lm")
    decoder = build_decoder(dc, TOK, arpa if dc.decoder == "lm" else None)
    assert type(decoder) is cls
    lp = peaky(TOK.encode("the cat sat"), TOK.vocab_size)
    assert _decode1(decoder, lp) == "the cat sat"


def test_beam_settings_come_from_the_config(tmp_path):
    dc = decode_conf("beam", tmp_path)
    dc.beam_size, dc.nbest = 3, 2
    assert build_decoder(dc, TOK).kw == {"beam_size": 3, "nbest": 2, "token_threshold": 10.0, "beam_size_token": None}


def test_a_new_decoder_is_one_registry_entry(monkeypatch, tmp_path):
    class Reversed(GreedyDecoder):  # a toy decoder: greedy, words in reverse order
        def __call__(self, log_probs, lengths):
            return [[h._replace(text=" ".join(reversed(h.text.split()))) for h in nbest]
                    for nbest in super().__call__(log_probs, lengths)]

    monkeypatch.setitem(decoders.DECODERS, "reversed", lambda dc, tokenizer, arpa: Reversed(tokenizer))
    dc = OmegaConf.merge(decode_conf("default", tmp_path), {"decoder": "reversed"})
    lp = peaky(TOK.encode("the cat sat"), TOK.vocab_size)
    assert _decode1(build_decoder(dc, TOK), lp) == "sat cat the"
    with pytest.raises(DecodeError, match=r"^decode.decoder='viterbi' is not one of: greedy, beam, lm, reversed$"):
        build_decoder(OmegaConf.merge(dc, {"decoder": "viterbi"}), TOK)


def test_bad_lm_unit_names_the_key(tmp_path):
    dc = OmegaConf.merge(decode_conf("lm", tmp_path), {"lm": {"unit": "phone"}})
    with pytest.raises(DecodeError, match=r"^decode.lm.unit='phone' is not one of: word, token$"):
        build_decoder(dc, TOK, build_lm(LM_TEXTS, tmp_path / "lm"))


@pytest.mark.parametrize("name", ["default", "beam", "lm", "lm_token"])
def test_decode_conf_is_what_hydra_composes(tmp_path, name):
    """Outside Hydra (asr.transcription), the same decode group with every default from the YAML."""
    hydra = compose("decode", [f"decode={name}", f"exp_dir={tmp_path}"])
    ours = decode_conf(name, tmp_path)
    assert OmegaConf.to_container(ours, resolve=True) == OmegaConf.to_container(hydra.decode, resolve=True)
    assert ours.dir == f"{tmp_path}/decode/{hydra.decode.name}" and ours.lm.dir == f"{tmp_path}/lm"


def test_decode_conf_unknown_name(tmp_path):
    with pytest.raises(DecodeError, match=r"decode config .*conf/decode/nope.yaml does not exist"):
        decode_conf("nope", tmp_path)


def test_greedy_library_function_is_the_recipes():
    from asr import decode

    assert decode.greedy_decode is greedy_decode and decode.build_decoder is build_decoder
    assert greedy_decode(torch.zeros(0, 3)) == [[]]
