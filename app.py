"""MNIST playground: draw a digit, train classic PyTorch models live, evaluate and explore them.

    python app.py [--share] [--public | --private] [--host H] [--port P] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

# gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for a monitoring page
# this app does not enable: 6 ms of CPU per prediction at first, 14 ms once the record is full, all of it
# holding the GIL that every visitor's request needs. Refresh it every 1,000 events and keep 2,000.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "2000")

import gradio as gr

from mnist_demo.config import pick_device
from mnist_demo.experiments.sincos_live import warm_up_sincos  # ui/sincos_tab imports it anyway
from mnist_demo.registry import ModelRegistry
from mnist_demo.service import Service
from mnist_demo.session import PUBLIC_LIMITS, Limits
from ui.components import MAX_PIXELS
from ui.dataset_tab import build_dataset_tab
from ui.draw import build_draw_tab
from ui.evaluate_tab import build_evaluate_tab
from ui.experiments_tab import build_lenet_tab, build_shuffle_tab
from ui.explain_tab import build_explain_tab
from ui.eye_tab import build_eye_tab
from ui.i18n import I18N, t
from ui.lstm_tab import build_lstm_tab
from ui.patches import Budget, apply_all, queue_budgets
from ui.sincos_tab import build_sincos_tab
from ui.teach_tab import build_teach_tab
from ui.train_tab import build_train_tab
from ui.trust_tab import build_trust_tab
from ui.tsne_tab import build_tsne_tab
from ui.warm_up import WarmUps

TITLE = "MNIST playground"
CSS = """
#seen img { image-rendering: pixelated; }
#pad { max-width: 420px; margin: 0 auto; }
.gradio-container:has(#draw-message .not-a-digit) #label { opacity: 0.45; filter: grayscale(1); }  /* #21 */
/* gradio's Gallery uses min(columns, images) columns: one saved digit filled the whole width, cropped. */
#teach-gallery .grid-container, #teach-fixed .grid-container, #teach-broken .grid-container {
  grid-template-columns: repeat(6, minmax(0, 1fr)) !important; }
"""

# The top-level sections, Draw first: (name, key of its one-line purpose in ui/i18n.py); their tabs are laid
# out in build_demo.
SECTIONS = [("Draw & look inside", "look_purpose"), ("Train & evaluate", "learn_purpose"),
            ("The seeds' experiments", "seeds_purpose")]

# Public mode: each concurrency group's own queue budget (events waiting, all visitors) and the events one client
# may have waiting or running, so a flood of trainings or maps never fills the queue /predict waits in.
QUEUE_BUDGETS = {
    "predict": Budget(waiting=64, per_client=8),
    "train": Budget(waiting=6, per_client=1),  # up to 90 s each, one at a time
    "tsne": Budget(waiting=8, per_client=1),  # a new 10k map: ~13 s of CPU
    "evaluate": Budget(waiting=8, per_client=1),
    "explain": Budget(waiting=16, per_client=2),
    "attack": Budget(waiting=8, per_client=1),  # "Fool it": two PGD searches + every model, up to ~1 s of CPU
    "experiment": Budget(waiting=4, per_client=1),
    "sincos": Budget(waiting=8, per_client=1),
}
DEFAULT_BUDGET = Budget(waiting=16, per_client=4)


def visitor_files_root() -> Path:
    """Where visitors' checkpoints and GIFs go: inside gradio's cache, so gradio serves them without a copy."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()) / "mnist_demo"


def build_demo(service: Service) -> gr.Blocks:
    """The whole app as a gr.Blocks (not launched)."""
    apply_all(MAX_PIXELS)  # third-party patches, each logged (ui/patches/)
    ttl = int(service.limits.cache_ttl_s)  # gradio's copies of outputs and uploads: deleted after ttl seconds
    # Run by main() once the server answers (tests and benchmarks that build the app may call demo.warm_ups.run()).
    warm_ups = WarmUps(service.answered)
    with gr.Blocks(title=TITLE, delete_cache=(max(30, min(300, ttl // 4)), ttl)) as demo:
        gr.Markdown(t("intro"))
        for line in service.status_lines():
            gr.Markdown(f"⚠️ {line}")
        # One VisitorSession per browser session, created by its first training run (None until then);
        # its models are freed and any run stopped when the session ends.
        state = gr.State(None, delete_callback=lambda s: s.close() if s else None)
        with gr.Tabs(elem_id="sections"):  # a few sections, each with its own row of tabs (SECTIONS)
            with gr.Tab(t(SECTIONS[0][0]), id="look") as look:
                gr.Markdown(t(SECTIONS[0][1]), elem_classes="section-purpose")
                with gr.Tabs() as look_tabs:
                    with gr.Tab(t("Draw"), id="draw"):
                        draw = build_draw_tab(service, state)
                    with gr.Tab(t("Model's eye"), id="eye") as tab:
                        build_eye_tab(service, state, draw["pad"], tab=tab)
                    with gr.Tab(t("Why this digit?"), id="explain") as tab:
                        build_explain_tab(service, state, draw["pad"], tab=tab)
                    with gr.Tab(t("Trust"), id="trust") as tab:
                        build_trust_tab(service, state, draw["pad"], tab=tab)
                    with gr.Tab(t("LSTM reader"), id="lstm") as tab:
                        build_lstm_tab(service, state, draw["pad"], tab=tab)
                    with gr.Tab(t("t-SNE"), id="tsne") as tab:
                        build_tsne_tab(service, state, draw["pad"], tab=tab, warm_ups=warm_ups)
            with gr.Tab(t(SECTIONS[1][0]), id="learn") as learn:
                gr.Markdown(t(SECTIONS[1][1]), elem_classes="section-purpose")
                with gr.Tabs() as learn_tabs:
                    with gr.Tab(t("Train"), id="train") as train_tab_:
                        train_tab = gr.Column()  # filled below, once the Evaluate dropdown exists
                    with gr.Tab(t("Teach it"), id="teach") as teach_tab:
                        teach_col = gr.Column()  # filled below, like Train
                    with gr.Tab(t("Evaluate"), id="evaluate") as tab:
                        eval_model = build_evaluate_tab(service, state, tab=tab)
            with gr.Tab(t(SECTIONS[2][0]), id="seeds") as seeds:
                gr.Markdown(t(SECTIONS[2][1]), elem_classes="section-purpose")
                with gr.Tabs() as seeds_tabs:
                    with gr.Tab(t("LeNet-5"), id="lenet") as tab:
                        build_lenet_tab(service, state, draw["pad"], tab=tab)
                    with gr.Tab(t("Pixel shuffle"), id="shuffle") as tab:
                        build_shuffle_tab(service, state, draw["pad"], tab=tab)
                    with gr.Tab(t("sin → cos RNN"), id="sincos"):
                        build_sincos_tab(service, state, draw["pad"])
                    with gr.Tab(t("Dataset"), id="dataset") as tab:
                        build_dataset_tab(service, tab=tab)
        # A section opens on its first tab: a tab shown again without being clicked would not refresh (Teach it
        # lists the drawings saved meanwhile when it is selected; the other tabs fill themselves when selected).
        for section, tabs, first in ((look, look_tabs, "draw"), (learn, learn_tabs, "train"),
                                     (seeds, seeds_tabs, "lenet")):
            section.select(lambda first=first: gr.Tabs(selected=first), None, tabs, api_name=False, queue=False,
                           show_progress="hidden")
        with train_tab:
            build_train_tab(service, state, draw["model"], [eval_model], pad=draw["pad"], tab=train_tab_)
        with teach_col:
            build_teach_tab(service, state, draw["model"], [eval_model], tab=teach_tab)
    warm_ups.add("sin → cos first run (imports torch._dynamo via Adam)", warm_up_sincos)
    warm_ups.add("MNIST", lambda: (service.dataset(train=False), service.dataset(train=True)))
    demo.warm_ups = warm_ups
    return demo


def serve_options(demo: gr.Blocks, public: bool, max_sessions: int | None = None) -> dict[str, Any]:
    """Set up the queue of `demo` for public or private serving; the matching launch() keyword arguments.

    Public: per-group queue budgets and per-client caps (QUEUE_BUDGETS; visitors see their place in the queue
    or a message instead of an endless wait), capped uploads (a drawing is a few kB; 10 MB still takes a phone
    photo). Errors other than gr.Error stay generic (show_error=False) so no traceback or server path reaches a
    stranger. gradio keeps every session's state and a copy of the page config until `state_session_capacity`
    newer sessions have come (measured 0.3-1 MB each): unbounded for a public link, so public mode keeps 300.
    Queue positions are refreshed once a second (and on joining): gradio's default ("auto") re-sends every
    waiting visitor's estimate each time any event starts, O(queue) stream writes per prediction.
    """
    budgeted = public and queue_budgets(demo, QUEUE_BUDGETS, DEFAULT_BUDGET)
    # Where the budgets cannot be applied (another gradio version), one bound for all events at least.
    demo.queue(max_size=64 if public and not budgeted else None, status_update_rate=1)
    return dict(css=CSS, theme=gr.themes.Soft(), i18n=I18N, max_file_size="10mb" if public else None, show_error=False,
                state_session_capacity=max_sessions or (300 if public else 10_000))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; host and port default to GRADIO_SERVER_NAME / GRADIO_SERVER_PORT."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (turns on public mode)")
    p.add_argument("--public", action="store_true",
                   help="public mode: per-visitor caps (on anyway with --share, a non-loopback --host or on a Space)")
    p.add_argument("--private", action="store_true",
                   help="no public-mode caps even when reachable by others (a trusted network only)")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME"))
    p.add_argument("--port", type=int, default=int(os.environ["GRADIO_SERVER_PORT"])
                   if os.environ.get("GRADIO_SERVER_PORT") else None)
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=int(os.environ["MNIST_TORCH_THREADS"])
                   if os.environ.get("MNIST_TORCH_THREADS") else None,
                   help="torch CPU threads per operation (default 1, see main(); env MNIST_TORCH_THREADS)")
    p.add_argument("--max-sessions", type=int, default=None,
                   help="visitor sessions kept in memory, oldest dropped first (default: 300 in public mode, "
                        "else gradio's 10,000); each costs about 0.3-1 MB plus the models trained in it")
    return p.parse_args(argv)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_public(args: argparse.Namespace) -> bool:
    """Public mode: whenever others can reach the app (--share, a non-loopback host, a Hugging Face Space) or
    --public; --private turns it off."""
    if getattr(args, "private", False) and not args.public:
        return False
    host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    reachable = host not in LOOPBACK and not host.startswith("127.")
    space = os.environ.get("SYSTEM") == "spaces" or bool(os.environ.get("SPACE_ID"))
    return bool(args.share or args.public or reachable or space)


def main(argv: list[str] | None = None) -> None:
    """Load the committed checkpoints, build the app and serve it."""
    import torch

    from mnist_demo.memory import limit_arenas, trim_every

    limit_arenas(2)  # before any thread starts: per-thread arenas made the soak grow ~240 MB a minute
    trim_every(30.0)  # hand memory freed after training runs and t-SNE maps back to the OS
    args = parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("ui").addHandler(handler)  # the patches of ui/patches/ say what they changed
    logging.getLogger("ui").setLevel(logging.INFO)
    # One intra-op thread by default: the server runs training, the live t-SNE worker and visitors'
    # predictions at the same time, and OpenMP threads competing for 2 cores were measured 10-40x slower.
    torch.set_num_threads(args.threads or 1)
    public = is_public(args)
    print(f"public mode {'on' if public else 'off'}" + ("" if public else " (only this machine should reach it)"))
    registry = ModelRegistry(pick_device(args.device))
    registry.load_all()
    service = Service(registry, PUBLIC_LIMITS if public else Limits(), temp_root=visitor_files_root())
    demo = build_demo(service)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True,
                **serve_options(demo, public, args.max_sessions))
    # Only now, with the server answering: t-SNE's default map, MNIST, the sin → cos imports (ui/warm_up.py).
    demo.warm_ups.start()
    demo.block_thread()


if __name__ == "__main__":
    main()
