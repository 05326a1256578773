#!/usr/bin/env python
"""`make messages`: collect the translatable strings into locale/*/django.po, then compile the .mo files.

Collecting needs GNU gettext's xgettext/msgmerge (`apt-get install gettext`); compiling uses
msgfmt when present, else polib, so a machine without gettext can still build the .mo files
from committed catalogues (`scripts/messages.py --compile`).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Catalogue directory names (Django's locale names) of every language but the source language.
LOCALES = ["zh_Hans", "th"]
# What makemessages must not read: virtualenv, runtime data, tests and benchmarks.
IGNORE = [".venv", "var", "staticfiles", "test-artifacts", "tmp", "bench", "testsupport", "node_modules", "*/tests/*"]
MAKEMESSAGES_OPTIONS = ["--no-obsolete", "--add-location", "file", "--no-wrap"]


def makemessages(root: Path = ROOT) -> None:
    """Update root/locale/*/django.po from the sources under root (the test runs it on a copy)."""
    if shutil.which("xgettext") is None:
        sys.exit("xgettext is missing: install GNU gettext (apt-get install gettext).")
    command = [sys.executable, str(root / "manage.py"), "makemessages", *MAKEMESSAGES_OPTIONS]
    for locale in LOCALES:
        command += ["-l", locale]
    for pattern in IGNORE:
        command += ["-i", pattern]
    environment = {**os.environ, "PYTHONPATH": str(root), "DJANGO_SETTINGS_MODULE": "gih.settings"}
    # Our own manage.py with fixed arguments.
    subprocess.run(command, cwd=root, check=True, env=environment, stdout=subprocess.DEVNULL)  # noqa: S603


def compile_catalogues(root: Path = ROOT, *, use_msgfmt: bool | None = None) -> None:
    """Write each django.mo next to its django.po: msgfmt (which also checks formats), else polib."""
    if use_msgfmt is None:
        use_msgfmt = shutil.which("msgfmt") is not None
    for locale in LOCALES:
        po = root / "locale" / locale / "LC_MESSAGES" / "django.po"
        mo = po.with_suffix(".mo")
        if use_msgfmt:
            msgfmt = shutil.which("msgfmt")
            subprocess.run([msgfmt, "--check-format", "-o", str(mo), str(po)], check=True)  # noqa: S603
        else:
            import polib

            polib.pofile(str(po)).save_as_mofile(str(mo))
        print(f"compiled {mo.relative_to(root)}")


if __name__ == "__main__":
    if "--compile" not in sys.argv:
        makemessages()
    compile_catalogues()
