"""Proxy training: tasks and their data, the seed papers' models, one job's settings, the seeded trainer."""
