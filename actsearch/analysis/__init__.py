"""Reading a run: Pareto front and statistics, tables, export, seed-paper comparisons, proxy fidelity, plots."""
