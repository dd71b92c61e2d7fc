"""Reports as Excel and PDF (``engine.reports`` builds them from the step records)."""
