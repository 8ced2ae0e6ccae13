"""English and Simplified Chinese (#18): one table (ui/i18n.py), complete in both languages, covering the app."""

from __future__ import annotations

import json

from ui.i18n import TRANSLATIONS


def test_every_key_exists_in_both_languages() -> None:
    """The same keys in English and Chinese, none empty; the Chinese is not a copy of the English throughout."""
    en, zh = TRANSLATIONS["en"], TRANSLATIONS["zh-CN"]
    assert set(en) == set(zh), {"only English": sorted(set(en) - set(zh)), "only Chinese": sorted(set(zh) - set(en))}
    assert all(v.strip() for v in [*en.values(), *zh.values()])
    same = [k for k in en if en[k] == zh[k]]
    assert set(same) <= {"t-SNE", "LeNet-5"}, f"untranslated: {same}"


def test_the_built_app_uses_only_keys_of_the_table() -> None:
    """Every translatable text in the built app's config has its key in the table, and the app uses every
    tab and section name of it (so a renamed tab cannot silently fall back to its key)."""
    from gradio.i18n import I18nData

    import app
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service

    demo = app.build_demo(Service(ModelRegistry("cpu")))
    used: set[str] = set()

    def walk(x: object) -> None:  # translatable texts are serialised as '__i18n__{"__type__": ..., "key": ...}'
        if isinstance(x, I18nData):
            used.add(x.key)
        elif isinstance(x, str) and x.startswith("__i18n__"):
            used.add(json.loads(x[len("__i18n__"):])["key"])
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(demo.get_config_file())
    assert used, "no translatable text found in the app's config"
    assert used <= set(TRANSLATIONS["en"]), sorted(used - set(TRANSLATIONS["en"]))
    assert {"Draw", "Train & evaluate", "intro", "Dataset"} <= used
