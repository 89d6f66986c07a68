"""Model code for streaminfer: training, export to a Triton model repository, and references.

Sub-packages hold one pipeline each (``models.fraud``); the modules at this level are
generic (Triton repository layout, TorchScript helpers, offline metrics).
"""
