"""kernels.params.layer_params: torch.nn.LSTM / GRU / LSTMP / peephole parameters -> the kernels' inputs."""
import pytest
import torch

from asr.rnn import PeepholeLSTM
from kernels import cells
from kernels.params import layer_params


def _module(cell: str, D: int):
    torch.manual_seed(0)
    I, H, bi = 3, 4, D == 2
    if cell == "gru":
        return torch.nn.GRU(I, H, num_layers=2, bidirectional=bi)
    if cell == "peephole":
        return PeepholeLSTM(I, H, bidirectional=bi)
    return torch.nn.LSTM(I, H, num_layers=2, bidirectional=bi, proj_size=2 if cell == "lstmp" else 0)


@pytest.mark.parametrize("D", [1, 2], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["lstm", "lstmp", "peephole", "gru"])
def test_stacks_each_direction_and_folds_the_gru_bias(cell, D):
    m = _module(cell, D)
    layer = 0 if cell == "peephole" else 1
    p = layer_params(m, cells.get(cell), layer=layer, directions=D)
    sfx = ["", "_reverse"][:D]
    get = lambda n: torch.stack([getattr(m, f"{n}_l{layer}{s}") for s in sfx])  # noqa: E731
    G, H = get("weight_ih").shape[1], 4
    assert p.gates == G == (3 if cell == "gru" else 4) * H
    assert torch.equal(p.w_ih, get("weight_ih")) and torch.equal(p.w_hh, get("weight_hh"))
    assert torch.equal(p.b_ih, get("bias_ih")) and p.b_hh.shape == (D, G)
    stems = {"lstm": [], "lstmp": ["weight_hr"], "peephole": ["weight_peep"], "gru": []}[cell]
    extras = ([get("bias_hh")[:, 2 * H:]] if cell == "gru" else []) + [get(n) for n in stems]  # GRU: b_hn [D, H]
    assert len(p.extras) == len(extras) and all(torch.equal(a, b) for a, b in zip(p.extras, extras))
    want_b_hh = get("bias_hh").clone()
    if cell == "gru":
        want_b_hh[:, 2 * H:] = 0
    assert torch.equal(p.b_hh, want_b_hh)


def test_a_mapping_works_and_gradients_reach_the_module():
    m = _module("gru", 2)
    p = layer_params(dict(m.named_parameters()), cells.get("gru"), layer=0, directions=2)
    (p.w_ih.sum() + p.b_ih.sum() + p.b_hh.sum() + p.w_hh.sum() + p.extras[0].sum()).backward()
    assert torch.equal(m.bias_hh_l0.grad, torch.ones_like(m.bias_hh_l0))  # b_hr, b_hz via b_hh; b_hn via extras
    assert m.weight_ih_l0_reverse.grad is not None and m.weight_ih_l1.grad is None
