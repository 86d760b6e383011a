"""core.translate.translation_table: the translations asking and showing both use."""

from __future__ import annotations

from pathlib import Path

from core.store import Store, Translation
from core.translate import bundled_translations, translation_table


def test_bundled_only_without_a_store() -> None:
    table = translation_table("ru", None)
    assert table == bundled_translations("ru") and table
    table.clear()  # a copy: the cached bundle is untouched
    assert bundled_translations("ru")


def test_stored_translations_override_bundled_ones(tmp_path: Path) -> None:
    bundled = bundled_translations("ru")
    key, (question, options) = next(iter(bundled.items()))
    with Store(tmp_path / "store.sqlite3") as store:
        store.put_translations(
            [
                Translation(key, "ru", "Мой перевод?", tuple(f"#{o}" for o in options), "human"),
                Translation("not-bundled", "ru", "Новый?", ("да", "нет"), "model"),
                Translation(key, "tr", "Başka dil?", options, "human"),
            ]
        )
        table = translation_table("ru", store)
    assert table[key] == ("Мой перевод?", tuple(f"#{o}" for o in options))
    assert table["not-bundled"] == ("Новый?", ("да", "нет"))
    others = {k: v for k, v in table.items() if k not in (key, "not-bundled")}
    assert others == {k: v for k, v in bundled.items() if k != key}
    assert question != "Мой перевод?"


def test_no_translations_at_all(tmp_path: Path) -> None:
    with Store(tmp_path / "store.sqlite3") as store:
        assert translation_table("qq", store) == {}
