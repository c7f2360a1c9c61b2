"""Persistent Triton recurrences and their plain-PyTorch twins (see ARCHITECTURE.md, the kernel seam)."""
from kernels.lstm import LaunchConfig, lstm_recurrence
from kernels.reference import lstm_recurrence_reference

__all__ = ["LaunchConfig", "lstm_recurrence", "lstm_recurrence_reference"]
