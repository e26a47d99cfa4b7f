"""Reporting: capability vs efficiency leaderboards, Pareto frontiers, plots, HELM 2022 CSV import."""
