"""stagecheck: contract and load testing for streaming stage-execution APIs."""

__version__ = "0.1.0"
