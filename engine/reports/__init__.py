"""Reports in the notices' layout (monthly fund report, Bridge Plan monthly / mid-term / final reports,
Twinning yearly evaluation), built from the step records; rendered to Excel and PDF by ``api.reports``."""
