"""Service ledger: every service item and payment counted by a civil-affairs project, across procedures."""
