"""Executing the plan: the transactional outbox, the channels (e-mail, task, ledger reminder, handover) and the
write-back into the ledger."""
