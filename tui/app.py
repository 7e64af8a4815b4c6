"""The Textual app: watch a replay and the stream live.

Constructor (used by `elasticc-stream tui`, `elasticc-stream demo` and the tests)::

    ElasticcStreamApp(
        replay_config: ReplayConfig | None,   # None: no replay from here, only watch the topic
        bootstrap: str | None = None,         # broker to consume from; None: replay_config.bootstrap
        topic: str | None = None,             # topic to consume; None: replay_config.topic
        kafka: dict[str, str] | None = None,  # librdkafka properties for the consumer; None: replay_config.kafka
        start: bool = False,                  # start the replay as soon as the app opens (else key `s`)
        *,
        workers: bool = True,                 # False: run no replay and no consumer; feed events with
                                              # `apply_events` (snapshot tests, no broker, no timing)
        consume_from: str = "earliest",       # where a new consumer group starts: "earliest" | "latest"
        clock: Callable[[], float] = time.monotonic,   # for rates and ETA (tests pass a fixed one)
        refresh_interval: float = 0.25,       # seconds between UI batches
        color: bool = True,                   # coloured light curves
    )

The replay (engine Replayer) and the consumer (engine AlertStream) run in Textual thread workers through
`EngineBridge`; their events are folded into `TuiState` and the visible screen redraws once per batch.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches

from .bridge import EngineBridge
from .screens.groups import GroupsScreen
from .screens.help import HelpScreen
from .screens.replay import ReplayScreen
from .screens.stream import StreamScreen
from .screens.topics import TopicsScreen
from .state import LATENCY_WINDOW, TuiState
from .tick_stats import TickStats

if TYPE_CHECKING:
    from ..engine.replay.config import ReplayConfig

# How long `start=True` waits for the consumer to join its group before replaying anyway.
START_WAIT_S = 15.0
# Alerts decoded per second at most (the newest of each batch; the rest are only counted): a decode costs
# 0.4-2 ms of CPU on this machine, so a 10,000 alerts/s stream cannot all be decoded, and a table scrolling
# faster than ten new rows a batch cannot be read anyway. Under AlertTable's PATCH_LIMIT per table redraw, so
# the table is patched, never rebuilt, and the UI thread keeps its time for painting.
DECODE_RATE = 40.0
# Seconds between redraws of the alert table at most, while following a stream. A DataTable repaints every
# visible row when any row changes (40-60 ms of the UI thread at 120x40, against ~10 ms for the rest of the
# screen), and a fast stream changes them every batch; on a busy 2-core machine that repaint, every batch, is
# what made screen updates late. The counts, rates and latency still follow every batch, a slow stream's rows
# still show at once, and a fast stream's rows a second at a time are easier to read.
ROWS_EVERY_S = 1.0


class ElasticcStreamApp(App[int]):
    # Absolute, so that a subclass defined elsewhere (a demo, a test) still finds the stylesheet.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "elasticc-stream"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('replay')", "Replay"),
        Binding("2", "switch_mode('stream')", "Stream"),
        Binding("3", "switch_mode('topics')", "Topics"),
        Binding("4", "switch_mode('groups')", "Groups"),
        Binding("question_mark", "help", "Keys", key_display="?"),
        Binding("q", "quit", "Quit"),
        # Ctrl-C ends the app as it ends every command: cleanly (workers stopped), with exit status 130.
        Binding("ctrl+c", "interrupt", "Interrupt", show=False, priority=True),
    ]
    MODES: ClassVar = {"replay": ReplayScreen, "stream": StreamScreen, "topics": TopicsScreen,
                       "groups": GroupsScreen}

    def __init__(
        self,
        replay_config: ReplayConfig | None,
        bootstrap: str | None = None,
        topic: str | None = None,
        kafka: dict[str, str] | None = None,
        start: bool = False,
        *,
        workers: bool = True,
        consume_from: str = "earliest",
        clock: Callable[[], float] = time.monotonic,
        refresh_interval: float = 0.25,
        color: bool = True,
        registry: Any = None,
    ) -> None:
        super().__init__()
        self.replay_config = replay_config
        self.bootstrap = bootstrap or (replay_config.bootstrap if replay_config else None)
        self.topic = topic or (replay_config.topic if replay_config else None)
        self.kafka = dict(kafka if kafka is not None else (replay_config.kafka if replay_config else {}))
        self.start_at_once = start
        self.use_workers = workers
        self.consume_from = consume_from
        self.refresh_interval = refresh_interval
        self.color = color
        self.registry = registry  # engine.wire.registry.Registry for framed messages of unknown schema id
        self.state = TuiState(clock)
        self.bridge = EngineBridge(self, scrub=self._scrub)
        self._quitting = False
        self._tick_stats = TickStats.from_env()
        # `start=True` waits for the consumer's group join (bounded), so that the join is not shown as latency.
        self._start_deadline: float | None = None

    @property
    def topic_label(self) -> str:
        return f"{self.topic or '?'} @ {self.bootstrap or '?'}"

    def _scrub(self, text: str) -> str:
        from ..engine.kafka_config import scrub

        props = {**(self.replay_config.kafka if self.replay_config else {}), **self.kafka}
        return scrub(text, props)

    # Lifecycle ----------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = self.topic_label
        self.switch_mode("replay" if self.replay_config is not None else "stream")
        self.set_interval(self.refresh_interval, self._tick, name="ui-batch")
        if not self.use_workers:
            return
        # What exists now (modules, the screens, the engine) lives as long as the app; each full collection
        # would walk it again, with the UI thread stopped. Following 10,000 alerts/s there is one every few
        # seconds, and on a busy machine they took up to 0.46 s: most of a late screen update. Collected
        # first, so that no garbage is kept for good.
        gc.collect()
        gc.freeze()
        self.bridge.attach_logs()
        self._start_stream()
        if self.start_at_once:
            self._start_deadline = time.monotonic() + START_WAIT_S

    def _start_stream(self) -> None:
        if not self.bootstrap or not self.topic:
            self.state.log.add("error", "no broker address or topic to consume: the Stream screen stays empty")
            return
        from ..engine.consume.stream import ConsumeOptions

        options = ConsumeOptions(bootstrap=self.bootstrap, topic=self.topic, start=self.consume_from,
                                 latency_window=LATENCY_WINDOW, decode_rate=DECODE_RATE,
                                 kafka=self.kafka, registry=self.registry)
        config = self.replay_config
        prepare = None
        if config is not None and config.topic == self.topic and config.bootstrap == self.bootstrap:
            # Subscribing first could let the broker auto-create the topic with its own partition count;
            # create it as the replay would.
            def prepare() -> str | None:
                from ..engine.topics import ensure_topic

                return ensure_topic(config.bootstrap, config.topic, config.partitions, config.kafka)

        self.bridge.start_stream(options, prepare)

        def positions() -> dict[int, int]:
            return {p: s.last_offset for p, s in list(self.state.stream.partitions.items())
                    if s.last_offset is not None}

        self.bridge.start_lag_sampler(options, positions)
        self.state.log.add("info", f"consuming {self.topic} at {self.bootstrap} from the {self.consume_from} offset")

    def _tick(self) -> None:
        started = time.time()
        if self._start_deadline is not None and (
                self.bridge.stream_assigned or not self.bridge.stream_running
                or time.monotonic() > self._start_deadline):
            self._start_deadline = None
            self.action_start_replay()
        # Half a batch of slack: the timer's beat jitters, and a redraw due now must not wait a batch more.
        self.apply_events(self.bridge.drain(), rows_every=ROWS_EVERY_S - self.refresh_interval / 2)
        if self._tick_stats is not None:
            self.call_after_refresh(self._tick_stats.painted, self._tick_stats.ticked(started, self.state.stream))

    def apply_events(self, events: Iterable[object], rows_every: float = 0.0) -> None:
        """Fold a batch of engine events into the view and redraw the visible screen once; the alert table
        only if it was last redrawn `rows_every` seconds ago or more (see ROWS_EVERY_S)."""
        for notice in self.state.apply(events):
            self.notify(notice.text, severity=notice.severity, timeout=6 if notice.severity == "error" else 4)
        self.state.tick()
        self.refresh_view(rows_every)

    def refresh_view(self, rows_every: float = 0.0) -> None:
        # The batch timer can fire while Textual tears the screens down at exit (children go before their
        # screen, then the stack empties): there is nothing left to draw, and a redraw must not crash the app.
        try:
            screen = self.screen
            if isinstance(screen, StreamScreen):
                screen.refresh_view(self.state, rows_every=rows_every)
            elif (refresh := getattr(screen, "refresh_view", None)) is not None:
                refresh(self.state)
        except (NoMatches, ScreenStackError):
            if self.is_running:
                raise

    # Actions ------------------------------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen())

    def action_start_replay(self) -> None:
        if self.replay_config is None:
            self.notify("No replay configured: run `elasticc-stream tui -c FILE.conf`.", severity="warning")
            return
        if self.bridge.replay_running:
            self.notify("The replay is already running (p pauses, x stops).")
            return
        replay = self.state.replay
        if replay.runs and replay.delivered_total:
            from .screens.confirm import ConfirmScreen

            question = (f"This app already sent {replay.delivered_total:,} alerts to {self.replay_config.topic}. "
                        "Replaying again sends them again: the topic will hold duplicates, and consumers "
                        "will see every alert twice.\n\nReplay again?")

            def answered(yes: bool | None) -> None:
                if yes:
                    self._start_replay_now()

            self.push_screen(ConfirmScreen("replay again?", question), answered)
            return
        self._start_replay_now()

    def _start_replay_now(self) -> None:
        assert self.replay_config is not None
        if not self.use_workers:
            return
        self.state.replay.reset()
        self.bridge.start_replay(self.replay_config)
        self.state.log.add("info", f"starting the replay into {self.replay_config.topic}")
        self.refresh_view()

    def action_pause_replay(self) -> None:
        paused = self.bridge.pause_replay()
        if paused is None:
            self.notify("No replay is running (s starts one).", severity="warning")
            return
        self.state.log.add("info", "replay paused" if paused else "replay resumed")

    def action_stop_replay(self) -> None:
        if not self.bridge.stop_replay():
            self.notify("No replay is running.", severity="warning")
            return
        self.state.log.add("info", "stopping the replay")

    async def action_interrupt(self) -> None:
        await self.action_quit(130)

    async def action_quit(self, code: int = 0) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self.bridge.replay_running or self.bridge.stream_running:
            self.notify("Stopping the replay and the consumer…", timeout=3)
        stuck = await self.bridge.shutdown()
        if stuck:
            self.log.warning(f"workers still running at exit: {', '.join(stuck)}")
        self.exit(code, return_code=code)

    def on_unmount(self) -> None:
        # Any other way out (an exception, ctrl+c in a test) still stops the engine threads.
        self.bridge.stop_all()
        self.bridge.detach_logs()
        if self.use_workers:
            gc.unfreeze()  # a process that goes on (the tests, a demo) collects what the app left behind
        if self._tick_stats is not None:
            self._tick_stats.close()
