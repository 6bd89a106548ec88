"""Checking the two contract documents: the engine of `stagecheck validate-specs`.

`validation` is the entry point; `source` locates problems in the YAML, `meta` applies
the vendored official meta-schemas, `refs` resolves `$ref`s across the files, and
`agreement` checks what no meta-schema can (the two documents saying the same thing).
"""
