"""The ranking learner: ranked lists ⋈ per-item feedback (impressions, clicks) → ranking metrics, shadow
rankers, drift and bias alerts. Domain-free: any pipeline whose outputs are ranked item lists and whose
feedback says which shown items were clicked can use it through :class:`RankingLearning`.
"""
