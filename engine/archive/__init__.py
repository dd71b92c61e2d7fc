"""The electronic case file (电子档案): the archive package of an ended case, its offline check, and the
retention period per procedure."""
