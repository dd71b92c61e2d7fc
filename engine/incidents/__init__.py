"""Incidents: an automatic step of a case failed; admins see it, fix the cause and retry it."""
