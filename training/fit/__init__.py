"""The fit: the architectures, losses, the loop and its extension point, counterfactual removals, recipes and
checkpoints."""
