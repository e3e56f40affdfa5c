"""Draw the component's brand icon: a meter dial with a lightning bolt on a blue tile.

    python tools/make_brand_icon.py

writes custom_components/leviton_meters/brand/icon.png (256x256) and icon@2x.png (512x512),
the integration's own brand images (Home Assistant 2026.3 and later show them), and the same
two files in brands/custom_integrations/leviton_meters/, the submission to the
home-assistant/brands repository that earlier releases take icons from. Standard library only: every shape is a signed distance in
a unit square, so both sizes are the same picture, anti-aliased, on a transparent background;
the PNG is written with zlib and struct.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

BRAND = Path(__file__).parents[1] / "custom_components" / "leviton_meters" / "brand"
SUBMISSION = Path(__file__).parents[1] / "brands" / "custom_integrations" / "leviton_meters"
SIZES = {"icon.png": 256, "icon@2x.png": 512}

Color = tuple[float, float, float]
Point = tuple[float, float]

TILE_TOP: Color = (0.20, 0.53, 0.90)  # the tile's blue, lighter at the top
TILE_BOTTOM: Color = (0.09, 0.31, 0.63)
DIAL: Color = (1.0, 1.0, 1.0)
INK: Color = (0.09, 0.31, 0.63)  # ticks and the bolt's outline
BOLT: Color = (1.0, 0.76, 0.10)

CENTER: Point = (0.5, 0.53)
BOLT_POINTS: Sequence[Point] = (
    (0.570, 0.285),
    (0.390, 0.575),
    (0.490, 0.575),
    (0.435, 0.790),
    (0.625, 0.480),
    (0.520, 0.480),
)


def rounded_square(x: float, y: float, half: float = 0.47, radius: float = 0.2) -> float:
    """Distance to a square of side 2*half around the centre, corners rounded."""
    qx = abs(x - 0.5) - (half - radius)
    qy = abs(y - 0.5) - (half - radius)
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - radius


def circle(x: float, y: float, radius: float) -> float:
    return math.hypot(x - CENTER[0], y - CENTER[1]) - radius


def capsule(x: float, y: float, a: Point, b: Point, radius: float) -> float:
    """Distance to a segment from a to b with round ends."""
    abx, aby = b[0] - a[0], b[1] - a[1]
    t = ((x - a[0]) * abx + (y - a[1]) * aby) / (abx * abx + aby * aby)
    t = min(max(t, 0.0), 1.0)
    return math.hypot(x - a[0] - t * abx, y - a[1] - t * aby) - radius


def polygon(x: float, y: float, points: Sequence[Point]) -> float:
    """Signed distance to a simple polygon (negative inside)."""
    distance = math.inf
    inside = False
    for i, (ax, ay) in enumerate(points):
        bx, by = points[i - 1]
        distance = min(distance, capsule(x, y, (ax, ay), (bx, by), 0.0))
        if (ay > y) != (by > y) and x < (bx - ax) * (y - ay) / (by - ay) + ax:
            inside = not inside
    return -distance if inside else distance


def ticks() -> list[tuple[Point, Point]]:
    """Nine scale marks on the dial's upper 240 degrees."""
    marks = []
    for i in range(9):
        angle = math.radians(-30 + 240 * i / 8)
        dx, dy = math.cos(angle), -math.sin(angle)
        inner = 0.255 if i % 2 == 0 else 0.275
        marks.append(
            (
                (CENTER[0] + inner * dx, CENTER[1] + inner * dy),
                (CENTER[0] + 0.305 * dx, CENTER[1] + 0.305 * dy),
            )
        )
    return marks


TICKS = ticks()


def layers(x: float, y: float) -> list[tuple[float, Color]]:
    """(signed distance, colour) of each shape at a point, bottom first."""
    tile = (rounded_square(x, y), mix(TILE_TOP, TILE_BOTTOM, y))
    dial = (circle(x, y, 0.355), DIAL)
    scale = (min(capsule(x, y, a, b, 0.014) for a, b in TICKS), INK)
    bolt_distance = polygon(x, y, BOLT_POINTS)
    outline = (bolt_distance - 0.018, INK)
    bolt = (bolt_distance, BOLT)
    return [tile, dial, scale, outline, bolt]


def mix(top: Color, bottom: Color, t: float) -> Color:
    t = min(max(t, 0.0), 1.0)
    return (
        top[0] + (bottom[0] - top[0]) * t,
        top[1] + (bottom[1] - top[1]) * t,
        top[2] + (bottom[2] - top[2]) * t,
    )


def render(size: int, shapes: Callable[[float, float], list[tuple[float, Color]]]) -> bytes:
    """RGBA rows, each shape's coverage from its distance over one pixel's width."""
    pixel = 1.0 / size
    rows = bytearray()
    for row in range(size):
        rows.append(0)  # PNG filter: none
        y = (row + 0.5) * pixel
        for column in range(size):
            x = (column + 0.5) * pixel
            red = green = blue = alpha = 0.0
            for distance, color in shapes(x, y):
                cover = min(max(0.5 - distance / pixel, 0.0), 1.0)
                if cover == 0.0:
                    continue
                # "over" with premultiplied colour
                red = color[0] * cover + red * (1 - cover)
                green = color[1] * cover + green * (1 - cover)
                blue = color[2] * cover + blue * (1 - cover)
                alpha = cover + alpha * (1 - cover)
            if alpha > 0:
                red, green, blue = red / alpha, green / alpha, blue / alpha
            rows += bytes(round(255 * c) for c in (red, green, blue, alpha))
    return bytes(rows)


def png(size: int, rgba_rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rgba_rows, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    for folder in (BRAND, SUBMISSION):
        folder.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        image = png(size, render(size, layers))
        for folder in (BRAND, SUBMISSION):
            (folder / name).write_bytes(image)
            print(f"wrote {folder / name} ({size}x{size})")


if __name__ == "__main__":
    main()
