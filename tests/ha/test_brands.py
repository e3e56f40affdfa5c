"""The integration's brand images, by the rules of the home-assistant/brands repository.

Home Assistant 2026.3 and later show the images the component carries (brand/). Earlier
releases take integration icons only from brands.home-assistant.io, that is from the
home-assistant/brands repository, where a custom integration's images go in
custom_integrations/<domain>/: brands/custom_integrations/leviton_meters/ here is that
submission. Its checks are those of the repository's validate.sh (what each file may be
called, PNG, the sizes, a high-DPI image only beside its normal one, no two images the same)
and of its README (sRGB, 1:1 icons, trimmed, transparency preferred), on Pillow, which Home
Assistant itself requires.
"""

from __future__ import annotations

import io
from pathlib import Path

import homeassistant
import pytest
from PIL import Image

from .conftest import COMPONENT

REPOSITORY = COMPONENT.parents[1]
DOMAIN = COMPONENT.name
SUBMISSION = REPOSITORY / "brands" / "custom_integrations" / DOMAIN
BRAND = COMPONENT / "brand"
CORE_COMPONENTS = Path(homeassistant.__file__).parent / "components"

ICONS = {"icon.png": 256, "dark_icon.png": 256, "icon@2x.png": 512, "dark_icon@2x.png": 512}
LOGOS = {"logo.png": (128, 256), "dark_logo.png": (128, 256)}
LOGOS |= {"logo@2x.png": (256, 512), "dark_logo@2x.png": (256, 512)}


def brand_errors(folder: Path) -> list[str]:
    """validate.sh's checks of one folder, and the README's hard requirements."""
    errors: list[str] = []
    files = {path.name: path.read_bytes() for path in folder.iterdir()}
    for name, data in sorted(files.items()):
        if name not in ICONS and name not in LOGOS:
            errors.append(f"{name}: Unknown and invalid filename")
            continue
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, SyntaxError) as err:
            errors.append(f"{name}: Could not read image file ({err})")
            continue
        if image.format != "PNG":
            errors.append(f"{name}: Invalid file type '{image.format}' for file")
        if image.mode not in ("RGB", "RGBA"):
            errors.append(f"{name}: colour mode {image.mode}, not sRGB")
        if "icc_profile" in image.info:
            errors.append(f"{name}: carries an ICC profile; the images must be sRGB")
        width, height = image.size
        if "@2x" in name and name.replace("@2x", "") not in files:
            errors.append(f"{name}: hDPI image was provided, but the normal version is missing")
        if name in ICONS and (width, height) != (ICONS[name], ICONS[name]):
            errors.append(
                f"{name}: Invalid icon size! Size is {width}x{height}px, "
                f"must be {ICONS[name]}x{ICONS[name]}px"
            )
        if name in LOGOS:
            low, high = LOGOS[name]
            if not low <= min(width, height) <= high:
                errors.append(f"{name}: shortest side {min(width, height)}px, not {low}-{high}px")
    pairs = [("icon.png", "logo.png"), ("icon@2x.png", "logo@2x.png"), ("icon.png", "icon@2x.png")]
    pairs += [("logo.png", "logo@2x.png"), ("icon.png", "dark_icon.png")]
    for first, second in pairs:
        if first in files and second in files and files[first] == files[second]:
            errors.append(f"{second} is identical to {first}")
    return errors


def test_images_follow_the_brands_rules() -> None:
    assert SUBMISSION.is_dir()
    assert brand_errors(SUBMISSION) == []
    assert brand_errors(BRAND) == []
    # No logo: the brand's logo is Leviton's trademark, not ours to submit; without one the
    # brands site serves the icon in its place.
    assert sorted(path.name for path in SUBMISSION.iterdir()) == ["icon.png", "icon@2x.png"]
    # A custom integration's folder may not share its name with a core integration.
    assert not (CORE_COMPONENTS / DOMAIN).exists()


def test_every_release_shows_the_same_icon() -> None:
    """What the component carries (2026.3+) is byte for byte what the submission holds."""
    for path in SUBMISSION.iterdir():
        assert (BRAND / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("name", ["icon.png", "icon@2x.png"])
def test_icons_are_trimmed_on_a_transparent_background(name: str) -> None:
    """Preferred by the repository's README: transparency, and little empty space around."""
    image = Image.open(SUBMISSION / name)
    alpha = image.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0  # a transparent corner
    left, top, right, bottom = alpha.getbbox() or (0, 0, 0, 0)
    width, height = image.size
    assert right - left >= 0.9 * width
    assert bottom - top >= 0.9 * height


def _resized(source: Path, tmp_path: Path, name: str, size: tuple[int, int]) -> None:
    Image.open(source).resize(size).save(tmp_path / name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "icon.png").write_bytes(b"not a png"), "Could not read image file"),
        (lambda d: _resized(SUBMISSION / "icon.png", d, "icon.png", (255, 256)), "255x256px"),
        (lambda d: (d / "icon.png").unlink(), "the normal version is missing"),
        (lambda d: (d / "readme.txt").write_text("hi"), "Unknown and invalid filename"),
        (
            lambda d: Image.open(SUBMISSION / "icon.png").save(d / "icon.png", icc_profile=b"x"),
            "ICC profile",
        ),
        (
            lambda d: Image.open(SUBMISSION / "icon.png").convert("P").save(d / "icon.png"),
            "colour mode P",
        ),
        (
            lambda d: (
                Image.open(SUBMISSION / "icon.png").convert("RGB").save(d / "icon.png", "JPEG")
            ),
            "Invalid file type 'JPEG'",
        ),
        (lambda d: _resized(SUBMISSION / "icon.png", d, "logo.png", (300, 100)), "shortest side"),
        (
            lambda d: (d / "logo.png").write_bytes((d / "icon.png").read_bytes()),
            "logo.png is identical to icon.png",
        ),
    ],
)
def test_the_rules_fail_a_bad_folder(change: object, message: str, tmp_path: Path) -> None:
    for path in SUBMISSION.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert callable(change)
    change(tmp_path)
    errors = brand_errors(tmp_path)
    assert any(message in error for error in errors), errors


def test_the_readme_says_which_releases_need_the_submission() -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    install = readme.split("\n### Install\n", 1)[1].split("\n### ", 1)[0]
    assert "Releases before 2026.3" in install
    assert "`brands/custom_integrations/leviton_meters/`" in install
    assert "merged" in install
