"""Reading the image of a request: multipart field ``file``, or the raw body with its content type."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from service.analysis.decoding import media_type
from service.errors import ImageTooLarge, RequestError
from service.image import Upload


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """The image bytes of a request; 400 for a multipart body without a ``file`` part, 413 when too big."""
    declared = media_type(request.headers.get("content-type"))
    if declared == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        try:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise RequestError("the multipart body has no file part named 'file'")
            data = await part.read(max_bytes + 1)
            content_type = part.content_type
        finally:
            await form.close()
    else:
        data = await request.body()
        content_type = declared
    if len(data) > max_bytes:
        raise ImageTooLarge(f"the image is over the limit of {max_bytes:,} bytes")
    return Upload(data=data, content_type=content_type)
