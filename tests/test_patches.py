"""ui.patches: a session's page-config copy is built on demand, and reads the same as gradio's own."""

from __future__ import annotations

import gradio as gr
from gradio.blocks import BlocksConfig
from gradio.state_holder import SessionState

from ui.patches import _PENDING, LazyConfigs, lazy_session_configs


def _demo() -> gr.Blocks:
    with gr.Blocks() as demo:
        box = gr.Textbox("hello", label="Text")
        num = gr.Number(3, label="n")
        gr.State([1, 2])
        gr.Button("go").click(lambda s: s, box, box)
    del num
    return demo


def test_applies_to_the_installed_gradio() -> None:
    assert lazy_session_configs(), "gradio's SessionState changed shape: check ui/patches/ against it"
    assert lazy_session_configs()  # idempotent


def test_a_new_session_builds_nothing_until_read_and_then_what_gradio_would() -> None:
    lazy_session_configs()
    demo = _demo()
    session = SessionState(demo)
    configs = session.config_values
    assert isinstance(configs, LazyConfigs)
    assert all(v is _PENDING for v in dict.values(configs)), "configs were built up front"
    expected = {k: BlocksConfig.config_for_block(k, [], b) for k, b in session.blocks_config.blocks.items()
                if k in demo.blocks}
    got = dict(configs.items())  # what gradio's deep links read (SessionState.components)
    assert got == expected
    assert list(session.components) == [c for c in expected.values() if c]


def test_value_updates_land_in_the_lazy_entry() -> None:
    lazy_session_configs()
    demo = _demo()
    session = SessionState(demo)
    box_id = next(k for k, b in demo.blocks.items() if isinstance(b, gr.Textbox))
    session._update_value_in_config(box_id, "changed")
    assert session.config_values[box_id]["props"]["value"] == "changed"
    assert sum(v is not _PENDING for v in dict.values(session.config_values)) == 1, "only that entry was built"


def test_no_way_of_reading_the_dict_leaks_the_pending_marker() -> None:
    def fresh() -> LazyConfigs:
        return LazyConfigs([1, 2], lambda k: {"id": k})

    expected = {1: {"id": 1}, 2: {"id": 2}}
    assert dict(fresh()) == expected
    assert {**fresh()} == expected
    assert fresh() | {} == expected
    assert fresh() == expected
    assert fresh().pop(1) == {"id": 1}
    assert fresh().setdefault(2, None) == {"id": 2}
    assert fresh().popitem()[1] is not _PENDING
    assert "object at" not in repr(fresh())
    import copy
    import json

    assert json.loads(json.dumps(fresh())) == {"1": {"id": 1}, "2": {"id": 2}}
    assert dict(copy.copy(fresh())) == expected


def test_patches_refuse_on_another_gradio(monkeypatch) -> None:
    import gradio

    from ui import patches

    monkeypatch.setattr(gradio, "__version__", "6.99.0")
    assert not patches.gradio_checked("test patch")
    with gr.Blocks() as demo:
        gr.Textbox()
    assert not patches.queue_budgets(demo, {}, patches.Budget(1, 1))
