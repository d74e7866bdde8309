"""Search backends over one contract: the space, the evaluator, the run (base.py), Optuna (tune.py), DEAP (evolve.py)."""
