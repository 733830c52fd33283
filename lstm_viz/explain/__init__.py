"""Explaining what units do: gradients, ablation, unit statistics and orders, predictions."""
