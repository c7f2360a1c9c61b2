"""Persistent Triton recurrences and their plain-PyTorch twins (see ARCHITECTURE.md, the kernel seam).
The cells are registered in `kernels.cells`; their shared pieces are in `kernels.common`, their
launch tables in `kernels.configs`."""
from kernels.configs import LaunchConfig
from kernels.lstm import lstm_recurrence
from kernels.reference import lstm_recurrence_reference
from kernels.gru import gru_recurrence
from kernels.lstmp import lstmp_recurrence
from kernels.peephole import peephole_lstm_recurrence
from kernels.reference import gru_recurrence_reference, lstmp_recurrence_reference, peephole_lstm_recurrence_reference

__all__ = ["LaunchConfig", "lstm_recurrence", "lstm_recurrence_reference", "gru_recurrence", "gru_recurrence_reference",
           "peephole_lstm_recurrence", "peephole_lstm_recurrence_reference",
           "lstmp_recurrence", "lstmp_recurrence_reference"]
