"""Fraud scoring pipeline: event contract, synthetic data, features, model, export."""
