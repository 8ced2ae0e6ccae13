"""What the app does once the server answers: tab contents and imports the first visitor will want next.

Nothing here runs before `launch()` returns. The tasks run one at a time on one thread at the training nice
value (Linux: per thread), two seconds after the first prediction has been answered or after 15 s with no
visitor, so a visitor's first drawing is read before any of it starts and competes with it only at low priority
after that (imports hold the GIL, which a nice value does not share out: hence the wait).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mnist_demo.background import TRAIN_NICE, lower_priority

log = logging.getLogger("ui.warm_up")


class WarmUps:
    """An ordered list of (name, task) run once on a low-priority thread by start()."""

    def __init__(self, first_answer: threading.Event | None = None) -> None:
        self.tasks: list[tuple[str, Callable[[], object]]] = []
        self.first_answer = first_answer or threading.Event()  # set once a drawing has been read (Service.predict)
        self.done: dict[str, float] = {}  # name -> seconds it took ("failed" tasks are logged, not recorded)
        self.finished = threading.Event()

    def add(self, name: str, task: Callable[[], object]) -> None:
        """Queue `task` (exceptions are logged: a warm-up never stops the app)."""
        self.tasks.append((name, task))

    def run(self, wait_s: float = 15.0, after_answer_s: float = 2.0) -> None:
        """Run every task here, `after_answer_s` after the first answer (the visitor's Predict click usually
        follows the stroke's answer) or after `wait_s` seconds with no visitor."""
        if self.first_answer.wait(wait_s):
            time.sleep(after_answer_s)  # imports hold the GIL, which no nice value yields: let Predict go first
        for name, task in self.tasks:
            t0 = time.perf_counter()
            try:
                task()
            except Exception as exc:  # e.g. no MNIST offline: the tab says so when it is opened
                log.info("warm-up %s skipped: %s", name, exc)
                continue
            self.done[name] = round(time.perf_counter() - t0, 2)
        self.finished.set()

    def start(self, wait_s: float = 15.0) -> threading.Thread:
        """run() on a daemon thread at the training nice value."""

        def work() -> None:
            lower_priority(TRAIN_NICE)
            self.run(wait_s)

        thread = threading.Thread(target=work, name="warm-ups", daemon=True)
        thread.start()
        return thread
