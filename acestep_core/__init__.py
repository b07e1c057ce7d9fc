"""ACE-Step v1 in plain PyTorch: models, samplers, tasks and a pipeline faithful to the original."""
