"""Draw the integration's brand images (custom_components/nes_echelon/brand/*.png).

An original, simple drawing: an electricity meter with a lightning bolt in its display and the
red optical (IR) port below it. Run it inside the project's environment (Pillow comes with
Home Assistant):

    scripts/run python scripts/make_brand.py

Output: icon.png (256x256), icon@2x.png (512x512), logo.png (height 128), logo@2x.png
(height 256) and dark_logo(.png/@2x.png) with a light name for dark themes; all transparent
PNGs, as the Home Assistant brand guidelines ask.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND_DIR = Path(__file__).resolve().parent.parent / "custom_components" / "nes_echelon" / "brand"

SUPERSAMPLE = 4  # draw large, then scale down: cheap anti-aliasing

BODY = (38, 70, 112, 255)  # meter housing, dark blue
FACE = (236, 241, 247, 255)  # display window
BOLT = (255, 183, 3, 255)  # lightning bolt, amber
BOLT_EDGE = (214, 130, 0, 255)
IR_RING = (20, 30, 45, 255)
IR_EYE = (226, 45, 45, 255)  # the optical port's IR "eye"
TEXT = (38, 70, 112, 255)
TEXT_DARK = (226, 234, 244, 255)  # the name on dark backgrounds (dark_logo.png)


def _meter(size: int) -> Image.Image:
    """Return the meter drawing on a transparent square of ``size`` pixels."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def s(value: float) -> int:
        """Scale a coordinate given on a 256-unit canvas."""
        return round(value * big / 256)

    # Housing and display window.
    draw.rounded_rectangle((s(36), s(8), s(220), s(248)), radius=s(30), fill=BODY)
    draw.rounded_rectangle((s(58), s(30), s(198), s(160)), radius=s(14), fill=FACE)

    # Lightning bolt in the display.
    bolt = [
        (s(140), s(40)),
        (s(92), s(104)),
        (s(124), s(104)),
        (s(110), s(150)),
        (s(166), s(82)),
        (s(132), s(82)),
        (s(150), s(40)),
    ]
    draw.polygon(bolt, fill=BOLT, outline=BOLT_EDGE, width=s(3))

    # Optical port: a dark ring with the red IR eye, and two screw heads.
    draw.ellipse((s(100), s(178), s(156), s(234)), fill=IR_RING)
    draw.ellipse((s(114), s(192), s(142), s(220)), fill=IR_EYE)
    draw.ellipse((s(121), s(198), s(129), s(206)), fill=(255, 200, 200, 255))
    for x in (s(64), s(192)):
        draw.ellipse((x - s(8), s(198), x + s(8), s(214)), fill=FACE)

    return image.resize((size, size), Image.Resampling.LANCZOS)


def _logo(height: int, text_color: tuple[int, int, int, int] = TEXT) -> Image.Image:
    """Return the meter followed by the name, ``height`` pixels high."""
    icon = _meter(height)
    font = ImageFont.load_default(size=round(height * 0.42))
    text = "NES/Echelon"
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    gap = height // 8
    width = height + gap + round(right - left) + gap // 2
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.alpha_composite(icon, (0, 0))
    draw = ImageDraw.Draw(image)
    y = round((height - (bottom - top)) / 2 - top)
    draw.text((height + gap - left, y), text, font=font, fill=text_color)
    return image


def main() -> None:
    """Write every brand image."""
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    outputs = {
        "icon.png": _meter(256),
        "icon@2x.png": _meter(512),
        "logo.png": _logo(128),
        "logo@2x.png": _logo(256),
        "dark_logo.png": _logo(128, TEXT_DARK),
        "dark_logo@2x.png": _logo(256, TEXT_DARK),
    }
    for name, image in outputs.items():
        path = BRAND_DIR / name
        image.save(path, optimize=True)
        print(f"{path.relative_to(BRAND_DIR.parents[2])}: {image.width}x{image.height}")


if __name__ == "__main__":
    main()
