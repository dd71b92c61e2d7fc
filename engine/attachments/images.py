"""Photos and scans: decoded in full (a corrupt image is refused), EXIF location removed unless the step
keeps it (visit records), a small JPEG thumbnail for previews. HEIC from phones through pillow-heif."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from engine.attachments.checks import refuse

try:  # HEIC/HEIF support (phones); without it HEIC photos are kept as sent, without a thumbnail
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - pillow-heif is a dependency
    HEIF = False

MAX_PIXELS = 80_000_000  # 80 megapixels: larger is refused (decompression bombs)
THUMB = (320, 320)
GPS_IFD = 0x8825
_FORMATS = {"jpeg": "JPEG", "png": "PNG", "heic": "HEIF"}


@dataclass
class Processed:
    data: bytes  # what is stored: the upload, or the upload without its location
    thumbnail: bytes | None
    location_removed: bool
    width: int
    height: int


def process(data: bytes, kind: str, *, keep_location: bool) -> Processed:
    """Check an image by decoding it; strip EXIF GPS unless ``keep_location``; make a thumbnail."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise refuse("图片像素过多", "The image has too many pixels")
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as err:
        if isinstance(err, Image.DecompressionBombWarning | Image.DecompressionBombError):
            raise refuse("图片像素过多", "The image has too many pixels") from None
        raise refuse("图片已损坏，无法打开", "The image is damaged and cannot be opened") from None
    exif = image.getexif()
    removed = False
    stored = data
    if not keep_location and GPS_IFD in exif:
        del exif[GPS_IFD]
        out = io.BytesIO()
        options: dict[str, object] = {"exif": exif.tobytes()}
        if kind == "jpeg":
            options["quality"] = "keep"  # the same quantization: no visible loss
        elif kind == "heic":
            options["quality"] = 90
        image.save(out, format=_FORMATS[kind], **options)
        stored, removed = out.getvalue(), True
    thumb = ImageOps.exif_transpose(image.copy())
    thumb.thumbnail(THUMB)
    if thumb.mode not in ("RGB", "L"):
        thumb = thumb.convert("RGB")
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=80)
    return Processed(stored, out.getvalue(), removed, image.width, image.height)
