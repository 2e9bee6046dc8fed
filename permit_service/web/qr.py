"""The printed permit's QR code: the permit's reference as an SVG document (segno, pure Python)."""

from __future__ import annotations

import io

import segno

# Pixels per module: a reference fits a version-1 code (21 modules + 2 x 4 quiet zone), so the
# image is 174 px, about 4.6 cm on paper: large enough for a phone or a warden's scanner.
SCALE = 6
QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks for scanners


def reference_svg(reference: str, title: str) -> bytes:
    """An SVG image of a QR code holding exactly `reference`, titled `title` for screen readers."""
    code = segno.make_qr(reference, error="m")
    out = io.BytesIO()
    # No XML declaration and no stylesheet: the SVG stands alone or in an <img>, under the
    # service's `default-src 'self'` Content-Security-Policy. A white background, so the code
    # scans on a dark page and prints the same.
    code.save(
        out,
        kind="svg",
        scale=SCALE,
        border=QUIET_ZONE,
        dark="#000",
        light="#fff",
        xmldecl=False,
        svgns=True,
        title=title,
        nl=False,
    )
    return out.getvalue()
