"""Attachments: the materials a step takes (scans, photos, signed agreements), stored encrypted.

``storage`` (one small interface: a local directory or S3-compatible object storage), ``cipher``
(streaming AEAD under a per-file key wrapped by the personal-data keys), ``checks`` (kind by content,
filenames, archives), ``images`` (verification, location stripping, thumbnails), ``models``, ``service``
(upload, list, download, removal, the orphan sweep) and ``materials`` (the per-step checklist enforced on
completion).
"""
