"""Documents from templates: official notices and forms rendered to PDF (see :mod:`.render`), stored as
an attachment of the step that produced them (see :mod:`.service`)."""
