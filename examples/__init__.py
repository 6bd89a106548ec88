"""Example backends that implement the stage execution protocol (not part of the stagecheck package)."""
