"""kernels.reference against torch.nn.LSTM (float64), the ground truth of the kernel tests."""
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from kernels.reference import lstm_recurrence_reference


def _layer_inputs(lstm: torch.nn.LSTM, x: torch.Tensor):
    """xproj [B,T,D,4H] and w_hh [D,4H,H] of a one-layer nn.LSTM."""
    sfx = ["", "_reverse"][: 2 if lstm.bidirectional else 1]
    xproj = torch.stack([x @ getattr(lstm, f"weight_ih_l0{s}").t() + getattr(lstm, f"bias_ih_l0{s}")
                         + getattr(lstm, f"bias_hh_l0{s}") for s in sfx], dim=2)
    w_hh = torch.stack([getattr(lstm, f"weight_hh_l0{s}") for s in sfx])
    return xproj, w_hh


@pytest.mark.parametrize("bidirectional", [True, False], ids=["D2", "D1"])
@pytest.mark.parametrize("B,T,lengths", [(3, 6, None), (4, 9, [9, 1, 4, 7]), (1, 1, None)],
                         ids=["B3-T6", "B4-T9-ragged", "B1-T1"])
def test_reference_matches_nn_lstm(bidirectional, B, T, lengths):
    torch.manual_seed(0)
    I, H = 5, 7
    D = 2 if bidirectional else 1
    lstm = torch.nn.LSTM(I, H, batch_first=True, bidirectional=bidirectional).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(D, B, H, dtype=torch.float64)
    c0 = torch.randn(D, B, H, dtype=torch.float64)
    lens = torch.tensor(lengths) if lengths is not None else torch.full((B,), T)
    packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    out, (hn, cn) = lstm(packed, (h0, c0))
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)

    xproj, w_hh = _layer_inputs(lstm, x)
    y, h, c = lstm_recurrence_reference(xproj, w_hh, torch.tensor(lengths) if lengths else None, h0, c0)
    torch.testing.assert_close(y.reshape(B, T, D * H), out)
    torch.testing.assert_close(h, hn)
    torch.testing.assert_close(c, cn)


def test_reference_reverse_is_flipped_forward():
    torch.manual_seed(1)
    xproj = torch.randn(2, 5, 1, 12, dtype=torch.float64)
    w_hh = torch.randn(1, 12, 3, dtype=torch.float64)
    y, h, c = lstm_recurrence_reference(xproj, w_hh, reverse=True)
    y_f, h_f, c_f = lstm_recurrence_reference(xproj.flip(1), w_hh)
    torch.testing.assert_close(y, y_f.flip(1))
    torch.testing.assert_close(h, h_f)
    torch.testing.assert_close(c, c_f)


@pytest.mark.parametrize("kwargs,match", [
    (dict(xproj=torch.zeros(2, 3, 8)), "xproj must be"),
    (dict(w_hh=torch.zeros(2, 8, 3)), "w_hh must be"),
    (dict(lengths=torch.tensor([4, 1])), "lengths must lie"),
    (dict(lengths=torch.tensor([0, 1])), "lengths must lie"),
    (dict(h0=torch.zeros(2, 3, 2)), "h0 must be"),
    (dict(reverse=True), "reverse=True is for D = 1"),
], ids=["xproj-3d", "w-shape", "len-gt-T", "len-0", "h0-shape", "reverse-D2"])
def test_reference_rejects_bad_input(kwargs, match):
    args = dict(xproj=torch.zeros(2, 3, 2, 8), w_hh=torch.zeros(2, 8, 2))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lstm_recurrence_reference(**args)
