"""The ledger port (`port`), the kit ledger plugins are built with (`http`, `oauth`, `simulation`) and the
registry of ledgers (`registry`)."""
