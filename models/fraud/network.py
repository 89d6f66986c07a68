"""FraudNet: a small tabular MLP with embeddings, exportable as TorchScript."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def embedding_dim(vocabulary_size: int) -> int:
    """Embedding width for a vocabulary: small vocabularies need only a few dimensions."""
    return int(min(8, max(2, round(1.6 * vocabulary_size**0.56))))


class FraudNet(nn.Module):
    """Scores a float32 feature matrix [N, F] with a fraud probability [N, 1].

    Numeric columns are standardised with mean/std buffers fitted on training data
    (stored in the module, so the exported file is self-contained). Categorical code
    columns are cast to integers, clamped into their vocabulary (out-of-range -> 0, the
    unknown code) and embedded. Everything is concatenated into an MLP.

    Args:
        n_features: Number of input columns F.
        categorical_columns: Column index -> vocabulary size (including code 0).
        hidden: Widths of the hidden layers.
        dropout: Dropout after each hidden layer (training only).
    """

    def __init__(self, n_features: int, categorical_columns: dict[int, int], hidden: tuple[int, ...] = (128, 64),
                 dropout: float = 0.1) -> None:
        super().__init__()
        categorical = sorted(categorical_columns)
        numeric = [i for i in range(n_features) if i not in categorical_columns]
        self.register_buffer("numeric_index", torch.tensor(numeric, dtype=torch.long))
        self.register_buffer("categorical_index", torch.tensor(categorical, dtype=torch.long))
        self.register_buffer("categorical_max", torch.tensor([categorical_columns[i] - 1 for i in categorical]))
        self.register_buffer("mean", torch.zeros(len(numeric)))
        self.register_buffer("std", torch.ones(len(numeric)))
        self.embeddings = nn.ModuleList(
            nn.Embedding(categorical_columns[i], embedding_dim(categorical_columns[i])) for i in categorical
        )
        width = len(numeric) + sum(e.embedding_dim for e in self.embeddings)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def fit_normalizer(self, features: np.ndarray) -> None:
        """Set the numeric mean/std buffers from training features [N, F]."""
        numeric = torch.from_numpy(np.ascontiguousarray(features[:, self.numeric_index.numpy()], dtype=np.float32))
        self.mean.copy_(numeric.mean(dim=0))
        # Constant columns (std 0) would divide by zero; leave them centred but unscaled.
        std = numeric.std(dim=0)
        self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid scores [N, 1] (train on these with a logits loss)."""
        numeric = (features.index_select(1, self.numeric_index) - self.mean) / self.std
        # NaN would poison every score in the row; treat it as "average".
        numeric = torch.nan_to_num(numeric, nan=0.0, posinf=0.0, neginf=0.0)
        codes = torch.nan_to_num(features.index_select(1, self.categorical_index), nan=0.0).long()
        codes = torch.where((codes < 0) | (codes > self.categorical_max), torch.zeros_like(codes), codes)
        parts = [numeric]
        for column, embedding in enumerate(self.embeddings):
            parts.append(embedding(codes[:, column]))
        return self.mlp(torch.cat(parts, dim=1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Fraud probability [N, 1], float32."""
        return torch.sigmoid(self.logits(features))
