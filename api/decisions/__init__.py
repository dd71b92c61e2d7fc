"""DMN decision tables over HTTP."""
