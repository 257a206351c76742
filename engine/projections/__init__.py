"""Read models fed from the log, each with a tracking position committed with its rows."""

from engine.projections.runner import PROJECTIONS, projections_for, rebuild, update

__all__ = ["PROJECTIONS", "projections_for", "rebuild", "update"]
