"""Documents printed from a case: notices and forms as PDF (engine.documents)."""
