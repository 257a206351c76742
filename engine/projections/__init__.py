"""Read models fed from the log, each with a tracking position committed with its rows."""

from engine.projections.runner import PROJECTIONS, rebuild, update

__all__ = ["PROJECTIONS", "rebuild", "update"]
