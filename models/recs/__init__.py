"""Recommendation ranking: a synthetic world of users and items, a hashed-id ranker and its export."""
