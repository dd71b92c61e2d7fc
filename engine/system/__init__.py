"""Operations: scheduler heartbeats, readiness checks, the system status and the metrics (issue 20)."""
