"""Tests of engine.reporting (a package so that `factories` is imported relatively, without name clashes)."""
