"""The seam between runs and reports: typed results of a contract run and a load sweep.

Suites and load runs produce these; the report writers and the gate read them. Nothing
here does I/O beyond (de)serialising JSON, so a saved `results.json` rebuilds a report.
"""
