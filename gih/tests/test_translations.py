"""The zh_Hans and th catalogues are complete: every translatable string of the code and templates has a
reviewed translation, so no page falls back to English in the middle of a Chinese or Thai screen.

The second test runs `makemessages` on a copy of the project, so a string added to a template or form
without updating the catalogues fails here with the file it comes from and the way to fix it.
"""

import gettext
import shutil
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import messages as catalogue_tool  # noqa: E402 (scripts/messages.py, the `make messages` implementation)

HOW_TO_FIX = (
    "Fix: run `make messages` (it updates locale/*/LC_MESSAGES/django.po), write the missing msgstr "
    "for each entry listed above (remove any `#, fuzzy` flag after checking its text), then run "
    "`make messages` again to compile the .mo files and commit both."
)


def _catalogue(locale: str, root: Path = ROOT) -> polib.POFile:
    return polib.pofile(str(root / "locale" / locale / "LC_MESSAGES" / "django.po"))


def _unfinished(catalogue: polib.POFile, locale: str) -> list[str]:
    """One line per entry that is untranslated or fuzzy: where it comes from and its text."""
    problems = []
    for entry in catalogue:
        if entry.obsolete:
            continue
        translated = any(entry.msgstr_plural.values()) if entry.msgid_plural else bool(entry.msgstr)
        if translated and "fuzzy" not in entry.flags:
            continue
        where = ", ".join(sorted({path for path, _ in entry.occurrences})) or "?"
        state = "fuzzy (needs review)" if translated else "untranslated"
        problems.append(f"  [{locale}] {where}: {entry.msgid!r} is {state}")
    return problems


def test_it_ships_one_catalogue_per_language_besides_english():
    codes = [code for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
    assert sorted(codes) == ["th", "zh-hans"]
    for locale in catalogue_tool.LOCALES:
        po = ROOT / "locale" / locale / "LC_MESSAGES" / "django.po"
        assert po.exists(), f"{po} is missing. {HOW_TO_FIX}"
        assert po.with_suffix(".mo").exists(), f"{po.with_suffix('.mo')} is missing: run `make messages`."


@pytest.mark.parametrize("locale", catalogue_tool.LOCALES)
def test_it_has_no_untranslated_or_fuzzy_entry_in_the_committed_catalogue(locale):
    catalogue = _catalogue(locale)
    assert not catalogue.metadata_is_fuzzy, f"The header of the {locale} catalogue is fuzzy: msgfmt would skip it."
    problems = _unfinished(catalogue, locale)
    assert not problems, "Unfinished translations:\n" + "\n".join(problems) + "\n" + HOW_TO_FIX


@pytest.mark.parametrize("locale", catalogue_tool.LOCALES)
def test_it_compiled_the_committed_catalogue(locale):
    """The .mo Django reads holds the same translations as the .po a person edits."""
    catalogue = _catalogue(locale)
    compiled = polib.mofile(str(ROOT / "locale" / locale / "LC_MESSAGES" / "django.mo"))
    compiled_strings = {(entry.msgid, entry.msgstr) for entry in compiled if not entry.msgid_plural}
    stale = [
        f"  [{locale}] {entry.msgid!r}"
        for entry in catalogue
        if not entry.obsolete and not entry.msgid_plural and (entry.msgid, entry.msgstr) not in compiled_strings
    ]
    assert not stale, "The .mo file is older than the .po file:\n" + "\n".join(stale) + "\nRun `make messages`."


def test_it_has_every_string_of_the_templates_and_code_in_the_catalogues(tmp_path):
    """makemessages over a copy of the project, merged into copies of the catalogues, leaves nothing untranslated."""
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext is missing (xgettext): `apt-get install gettext` (scripts/test-services.sh does).")
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", "var", "staticfiles", "test-artifacts", "tmp", "node_modules",
                                      "bench", "__pycache__", "*.pyc", "*.mo", ".pytest_cache", ".ruff_cache"),
    )
    catalogue_tool.makemessages(root=copy)
    problems = []
    for locale in catalogue_tool.LOCALES:
        problems += _unfinished(_catalogue(locale, root=copy), locale)
    assert not problems, (
        "These strings of the templates/code have no reviewed translation in the catalogues:\n"
        + "\n".join(problems)
        + "\n"
        + HOW_TO_FIX
    )


def test_it_compiles_the_catalogues_without_gettext_too(tmp_path):
    """Where msgfmt is not installed, `scripts/messages.py` compiles with polib: Django reads the same text."""
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    catalogue_tool.compile_catalogues(tmp_path, use_msgfmt=False)
    for locale, language in (("zh_Hans", "zh-hans"), ("th", "th")):
        with (tmp_path / "locale" / locale / "LC_MESSAGES" / "django.mo").open("rb") as mo:
            compiled = gettext.GNUTranslations(mo)
        with translation.override(language):
            assert compiled.gettext("Credit balance") == translation.gettext("Credit balance") != "Credit balance"
