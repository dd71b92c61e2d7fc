"""BPMN messages and signals between cases: waiting subscriptions, correlation, the buffer of early
messages, message start events and signal broadcasts (issue 19)."""
