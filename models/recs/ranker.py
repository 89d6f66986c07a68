"""RecsRanker: a small two-tower ranker over hashed ids and request context, TorchScript-able."""

from __future__ import annotations

import torch
from torch import nn

from models.recs.constants import CONTEXT_NAMES, N_ITEM_BUCKETS, N_USER_BUCKETS


class RecsRanker(nn.Module):
    """Scores (request, candidate) rows with P(relevant), float32 [R, 1].

    logit = item_bias[item] * popularity_scale(context)
            + <user[user] * taste_scale(context) + context_tower(context), item[item]>
            + context_bias(context)

    * ``item_bias`` is a learned popularity per item bucket; it is all a cold user gets.
      User rows start at exactly zero and are trained only through real users'
      gradients, so a cold user hashed into a bucket no known user touched scores items by
      popularity (and context), not by a random vector.
    * A cold item in a bucket no training row touched gets, after :meth:`settle_unseen_items`,
      the bias of a typical seen item and no taste vector: neither a random one nor the
      zero bias that would put it above most of the long tail.
    * The context tower lets time of day and device shift which items win, and the two
      scales let the surface decide how much taste and popularity matter (search is
      intent-driven, email is not).
    * Bucket inputs are reduced modulo the table size, so a bad id never crashes serving.

    Args:
        n_user_buckets: User hash buckets.
        n_item_buckets: Item hash buckets.
        n_context: Context columns.
        dim: Embedding width.
    """

    def __init__(self, n_user_buckets: int = N_USER_BUCKETS, n_item_buckets: int = N_ITEM_BUCKETS,
                 n_context: int = len(CONTEXT_NAMES), dim: int = 16) -> None:
        super().__init__()
        self.n_user_buckets = n_user_buckets
        self.n_item_buckets = n_item_buckets
        # Sparse gradients: a step touches a few thousand of ~200k rows, and the
        # optimiser then updates only those (see train.fit).
        self.user_embedding = nn.Embedding(n_user_buckets, dim, sparse=True)
        self.item_embedding = nn.Embedding(n_item_buckets, dim, sparse=True)
        self.item_bias = nn.Embedding(n_item_buckets, 1, sparse=True)
        self.context_tower = nn.Sequential(nn.Linear(n_context, 32), nn.ReLU(), nn.Linear(32, dim))
        self.scales = nn.Linear(n_context, 2)  # log taste scale, log popularity scale
        self.context_bias = nn.Linear(n_context, 1)
        nn.init.zeros_(self.user_embedding.weight)
        nn.init.normal_(self.item_embedding.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.zeros_(self.scales.weight)
        nn.init.zeros_(self.scales.bias)

    @torch.jit.unused
    def settle_unseen_items(self, seen: torch.Tensor) -> None:
        """Give item buckets that no training row touched a neutral representation.

        Args:
            seen: bool [n_item_buckets], True where training used the bucket.
        """
        with torch.no_grad():
            unseen = ~seen
            self.item_embedding.weight[unseen] = 0.0
            if seen.any():
                self.item_bias.weight[unseen] = self.item_bias.weight[seen].mean()

    def logits(self, user_bucket: torch.Tensor, item_bucket: torch.Tensor, context: torch.Tensor,
               user_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-sigmoid scores [R, 1] (train on these with a logits loss).

        Args:
            user_bucket: int64 [R, 1].
            item_bucket: int64 [R, 1].
            context: float32 [R, C].
            user_mask: Optional float [R, 1] multiplying the user embedding; training sets
                some rows to 0 to teach the model to rank for users it knows nothing about.
        """
        users = torch.remainder(user_bucket.reshape(-1), self.n_user_buckets)
        items = torch.remainder(item_bucket.reshape(-1), self.n_item_buckets)
        context = torch.nan_to_num(context.to(torch.float32), nan=0.0, posinf=0.0, neginf=0.0)
        scales = torch.exp(self.scales(context))
        user = self.user_embedding(users)
        if user_mask is not None:
            user = user * user_mask
        query = user * scales[:, 0:1] + self.context_tower(context)
        affinity = (query * self.item_embedding(items)).sum(dim=1, keepdim=True)
        return self.item_bias(items) * scales[:, 1:2] + affinity + self.context_bias(context)

    def forward(self, user_bucket: torch.Tensor, item_bucket: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """P(relevant) [R, 1], float32: int64 [R, 1] user and item buckets, float32 [R, C] context."""
        return torch.sigmoid(self.logits(user_bucket, item_bucket, context))
