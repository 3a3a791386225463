"""watcher: literature monitoring for CAR-T cell therapy in B-cell ALL."""

__version__ = "0.1.0"
