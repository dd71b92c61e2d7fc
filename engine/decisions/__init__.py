"""DMN decision tables: deployed and versioned like process definitions, kept per case."""
