"""The window takes its file filters and model names from seemore_core.names."""

from __future__ import annotations

from seemore_core.names import BUNDLED_NAMES, CHECKPOINT_SUFFIXES, READ_SUFFIXES


def test_dialog_filters_offer_every_format_the_core_reads() -> None:
    from seemore_app.mainwindow import CHECKPOINT_FILTER, OPEN_FILTER

    for suffix in (*READ_SUFFIXES, *CHECKPOINT_SUFFIXES):
        assert f"*{suffix}" in OPEN_FILTER
    for suffix in (".heic", ".avif", ".jxl", ".bin"):
        assert f"*{suffix}" in OPEN_FILTER
    assert "*.bin" in CHECKPOINT_FILTER and "*.heic" not in CHECKPOINT_FILTER


def test_bundled_names_keep_their_spelling_in_any_case(window) -> None:  # type: ignore[no-untyped-def]
    from seemore_app.mainwindow import _canonical

    assert _canonical("t-photo") == "T-photo" and _canonical("T-PHOTO") == "T-photo"
    assert _canonical("t") == "T"
    window.select_bundled("t")
    assert window.settings.model == "T"


def test_gui_model_help_lists_every_bundled_name() -> None:
    from seemore_app.main import build_parser

    (action,) = [a for a in build_parser()._actions if a.dest == "model"]
    assert len(BUNDLED_NAMES) > 1
    assert f"({', '.join(BUNDLED_NAMES)}; any case)" in (action.help or "")


def test_size_pickers_offer_every_target_side_the_core_takes(qtbot) -> None:  # type: ignore[no-untyped-def]
    from seemore_app.batch_panel import BatchPanel

    from seemore_core.names import TARGET_SIDE_LABELS, TARGET_SIDES

    assert set(TARGET_SIDE_LABELS) == set(TARGET_SIDES)
    panel = BatchPanel()
    qtbot.addWidget(panel)
    offered = [panel.size_mode.itemData(i) for i in range(panel.size_mode.count())]
    assert offered == [None, *TARGET_SIDE_LABELS]
