"""Job state snapshots -> what the UI shows: Plotly figures, tables, progress bars.

Plain functions of `JobState` copies (from `registry.snapshot()`), no Gradio, no server: the
Train tab's live plots, the YOLO tab's loss/mAP curves and the tests all use them.

    states = registry.snapshot(kind="classify")
    fig = history_figure(states, CLASSIFY_LOSS, "Loss", "cross-entropy")
    rows = comparison_rows(states)
"""
from __future__ import annotations

import html
import re
import time
from collections import Counter
from typing import Any, Iterable

import plotly.graph_objects as go

from vision_demo.jobs import JobState

# One colour per job, the same in every chart (train and val of a job share it; the dash tells them apart).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")

# (history key, legend suffix, line dash): what each live chart draws per job.
CLASSIFY_LOSS = (("train_loss", "train", "dash"), ("val_loss", "val", "solid"))
CLASSIFY_ACC = (("train_acc", "train", "dash"), ("val_acc", "val", "solid"))
YOLO_LOSS = (("box_loss", "box", "solid"), ("cls_loss", "cls", "dash"), ("dfl_loss", "dfl", "dot"))
YOLO_METRICS = (("map50", "mAP50", "solid"), ("map50_95", "mAP50-95", "dash"))

# What a person reads for each status, with a glyph every font has (an emoji such as ⏳ renders as an
# empty box on machines without an emoji font: the class projector's, headless chromium's).
STATUS_TEXT = {"queued": "○ waiting", "running": "▶ running", "finished": "✔ done", "failed": "✖ failed",
               "cancelled": "■ cancelled"}

# Axes with a natural range stay fixed while a job runs, so a curve's height means the same all along
# (an autoscaled mAP axis of 0.16–0.22 makes a flat curve look like a climb).
# In the history's own units (accuracy is a fraction: 0–100 % once shown as percent).
AXIS_RANGES = {"train_acc": (0, 1), "val_acc": (0, 1), "map50": (0, 1), "map50_95": (0, 1)}

FONT_SIZE = 14  # chart text readable on a projector


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def display_names(states: Iterable[JobState]) -> dict[str, str]:
    """{job id: what a person reads}: the job's name ("SimpleCNN · scratch"), numbered when it repeats.

    Job ids are for scripts and the API; on the page they appear only in tooltips.
    """
    states = list(states)
    counts, seen, names = Counter(s.name for s in states), Counter(), {}
    for s in states:
        seen[s.name] += 1
        names[s.id] = f"{s.name} #{seen[s.name]}" if counts[s.name] > 1 else s.name
    return names


def history_figure(states: Iterable[JobState], series=CLASSIFY_LOSS, title: str = "", yaxis: str = "",
                   percent: bool = False) -> go.Figure:
    """One line per job and series over epochs (e.g. train dashed, val solid), from each job's history.

    Each job keeps its colour (its place in `states`), as in progress_html's table, which serves as the legend.

    `uirevision` stays constant so a user's zoom survives the refreshes.
    """
    states = list(states)
    names = display_names(states)
    fig = go.Figure()
    for i, state in enumerate(states):
        epochs = [h for h in state.history if "epoch" in h]
        for key, suffix, dash in series:
            points = [(h["epoch"], h[key]) for h in epochs if isinstance(h.get(key), (int, float))]
            if not points:
                continue
            x, y = zip(*points)
            fig.add_trace(go.Scatter(
                x=list(x), y=[v * 100 if percent else v for v in y], mode="lines+markers",
                name=f"{names[state.id]} {suffix}", legendgroup=state.id,
                hovertemplate=f"{html.escape(names[state.id])} {suffix}<br>epoch %{{x}}: %{{y:.3g}}"
                              f"<br><i>job {state.id}</i><extra></extra>",
                line=dict(color=_color(i), dash=dash, width=3), marker=dict(size=6),
            ))
    # No legend box (eight long names would cover the axis titles or push the plot off a 1280×720 screen):
    # each job's name is written at the end of its line instead, in its colour (end_labels). Hovering a line
    # names it too, with the job id.
    labels = end_labels(states, names, series, percent)
    fig.update_layout(
        title=dict(text=title, font=dict(size=FONT_SIZE + 2)), xaxis_title="epoch", yaxis_title=yaxis,
        uirevision="keep", font=dict(size=FONT_SIZE), height=300, showlegend=False,
        margin=dict(l=60, r=10, t=40, b=50), template="plotly_white",
    )
    if labels:
        fig.update_layout(annotations=labels)   # one call: add_annotation validates the whole layout each time
    fig.update_xaxes(dtick=1, rangemode="tozero")
    fixed = [AXIS_RANGES[key] for key, _, _ in series if key in AXIS_RANGES]
    if fixed:
        scale = 100 if percent else 1
        fig.update_yaxes(range=[min(r[0] for r in fixed) * scale, max(r[1] for r in fixed) * scale * 1.02])
    elif percent:
        fig.update_yaxes(range=[0, 100])
    if not fig.data:
        fig.add_annotation(text="no finished epoch yet:<br>the curves appear after each job's first epoch",
                           showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(color="#555"))
    return fig


END_LABEL_CHARS = 22   # a line-end name: ~170 px at FONT_SIZE, inside plots ~370 px wide (two side by side)


def short_name(name: str, limit: int = END_LABEL_CHARS) -> str:
    """A job's name short enough for the end of its line: "Lite0 · fine-tuned" for "EfficientNet-Lite0 ·
    fine-tuned (from frozen)"; what is still too long is cut with an ellipsis (the hover has the whole name)."""
    short = name.replace("EfficientNet-Lite0", "Lite0").replace(" (from frozen)", "")
    short = re.sub(r" \((\d+%) of the data\)", r" \1", short)
    # detectors: "YOLO fine-tuned from person detector · shapes #2" -> "pretrained #2" (the plot is of one data set)
    short = re.sub(r"^YOLO fine-tuned from person detector · \S+", "pretrained", short)
    short = re.sub(r"^YOLO fine-tuned from (\S+) · \S+", r"from \1", short)
    short = re.sub(r"^YOLOv8n from scratch · \S+", "scratch", short)
    return short if len(short) <= limit else short[:limit - 1].rstrip() + "…"


def end_labels(states: list[JobState], names: dict[str, str], series, percent: bool = False) -> list[dict]:
    """Each job's short name inside the plot's right edge, level with the end of its first series' line (the
    solid one where there is one), in the job's colour on a pale backing; labels that would touch are pushed
    apart. Inside, not in a margin: the two plots share half a 1280 px screen, a margin would halve them."""
    scale = 100 if percent else 1
    ends = []   # (y at the last epoch, job index, job id)
    keys = sorted(series, key=lambda s: s[2] != "solid")
    for i, state in enumerate(states):
        for key, _, _ in keys:
            values = [h[key] for h in state.history if "epoch" in h and isinstance(h.get(key), (int, float))]
            if values:
                ends.append((values[-1] * scale, i, state.id))
                break
    if not ends:
        return []
    fixed = [AXIS_RANGES[key] for key, _, _ in series if key in AXIS_RANGES]
    if fixed:
        low, high = min(r[0] for r in fixed) * scale, max(r[1] for r in fixed) * scale * 1.02
    else:
        every = [h[k] * scale for s in states for h in s.history for k, _, _ in series
                 if "epoch" in h and isinstance(h.get(k), (int, float))]
        low, high = min(every), max(every)
    span = (high - low) or 1.0
    gap = (FONT_SIZE + 3) / 210          # one line of text, as a share of the plot's height (300 - margins)
    placed = []
    for y, i, job_id in sorted(ends):
        at = min(max((y - low) / span, 0.0), 1.0)
        if placed and at < placed[-1][0] + gap:
            at = placed[-1][0] + gap
        placed.append((at, i, job_id))
    if placed[-1][0] > 1.0:              # the stack ran off the top: shift it down as a whole
        shift = placed[-1][0] - 1.0
        placed = [(at - shift, i, job_id) for at, i, job_id in placed]
    return [dict(text=html.escape(short_name(names[job_id])), x=1.0, xref="paper", xanchor="right", xshift=-2,
                 y=at, yref="paper", yanchor="middle", showarrow=False, font=dict(color=_color(i), size=FONT_SIZE),
                 bgcolor="rgba(255,255,255,0.75)", hovertext=html.escape(names[job_id])) for at, i, job_id in placed]


# The speed is measured over at least this much progress and time since a mark (JobState.speed_marks): after
# the end of the set-up, 10 s (the first batches of an epoch can still pay once: Ultralytics plots three, a
# classifier's first batch allocates its buffers); after the end of the first epoch, 2 s.
MEASURE_MIN_PROGRESS = 0.02
MEASURE_MIN_SECONDS = (10.0, 2.0)


def projected(state: JobState, now: float) -> tuple[float, float] | None:
    """A running job's (whole length, seconds left), from its speed since its latest speed mark; None while it is
    still setting up (loading the data, building the model, Ultralytics' dataset scan, the first batch) or has not
    run long enough since to tell its speed.

    The set-up is paid once, not per batch: extrapolating elapsed / progress from the job's start spread it over
    the whole run (a 134 s detector pair first read "about 7 min"). So the rest is progress left / the speed
    measured after the set-up (after the first epoch, once it has ended), and the set-up counts once, in the length.
    """
    if not state.started:
        return None
    for i in reversed(range(len(state.speed_marks[:2]))):
        since, progress = state.speed_marks[i]
        seconds, done = now - since, state.progress - progress
        if seconds >= MEASURE_MIN_SECONDS[i] and done >= MEASURE_MIN_PROGRESS:
            left = (1.0 - state.progress) * seconds / done
            return max(0.0, now - state.started) + left, left
    return None


def time_left(states: Iterable[JobState], now: float | None = None) -> float | None:
    """Seconds until every job shown has ended, estimated from the speed measured so far; None: too early.

    A running job: its progress left at the speed measured since its set-up ended (`projected`). A waiting
    job, or one still setting up: the length of the latest finished job of the same name shown (the same
    model, strategy and data ran before), else the mean length of the jobs measured so far (ended ones, and
    the running one's projection). Rough by design: the four strategies differ in speed, and so do a fine-tuned
    and a scratch detector (here the scratch one takes a third of the time), so the estimate sharpens as each
    one starts.
    """
    parts = time_left_parts(states, now)
    return None if parts is None else parts[0] + parts[1]


def time_left_parts(states: Iterable[JobState], now: float | None = None) -> tuple[float, float, int] | None:
    """time_left in its two kinds: (seconds measured — running jobs at their own speed, waiting ones that ran
    before under the same name —, seconds guessed — waiting jobs at the mean length of the others —, how many
    jobs were guessed); None: too early."""
    now = time.time() if now is None else now
    states = list(states)
    lengths, left, waiting = [], 0.0, []
    earlier = {s.name: s.ended - s.started for s in states if s.status == "finished" and s.started and s.ended}
    for s in states:
        if s.status == "finished" and s.started and s.ended:
            lengths.append(s.ended - s.started)
        elif s.status == "running":
            projection = projected(s, now)
            if projection is None:
                waiting.append(s)  # still setting up: count it as a whole job still to run
            else:
                lengths.append(projection[0])
                left += projection[1]
        elif s.status == "queued":
            waiting.append(s)
    if waiting and not lengths:
        return None
    mean = sum(lengths) / len(lengths) if lengths else 0.0
    guessed = [s for s in waiting if s.name not in earlier]
    return (left + sum(earlier[s.name] for s in waiting if s.name in earlier), mean * len(guessed), len(guessed))


def duration_text(seconds: float) -> str:
    """'1 min 05 s', '42 s': a duration as a person reads it."""
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress_summary(states: Iterable[JobState], now: float | None = None) -> str:
    """'2 done · 1 running · 1 waiting — about 1 min 05 s left': one line over the whole queue."""
    states = list(states)
    counts = Counter(s.status for s in states)
    order = ("finished", "running", "queued", "failed", "cancelled")  # done, running, waiting: the queue's order
    parts = [f"{counts[k]} {STATUS_TEXT[k].split(' ', 1)[1]}" for k in order if counts.get(k)]
    line = " · ".join(parts)
    if not all_done(states):
        parts = time_left_parts(states, now)
        if parts is None:
            line += " — estimating the time left…"
        elif not parts[2]:
            line += f" — about {duration_text(parts[0] + parts[1])} left (from the speed measured so far)"
        else:   # a job not run before may be much faster or slower (a scratch detector: a third of the time)
            line += f" — about {duration_text(parts[0])} left, + {duration_text(parts[1])} for {parts[2]} not run yet (a guess)"
    return line


PROGRESS_ROWS = 5   # jobs listed in the progress table (the newest); the summary line counts them all. Five, not
                    # six: with six, a summary line that wrapped (a guess said apart) pushed the live curves
                    # below a 720 px window; a compare's four and the run before it still show


def progress_html(states: Iterable[JobState], now: float | None = None, narrow: bool = False) -> str:
    """A small HTML table: one row per job with its status, epoch and a % bar, under a one-line summary.

    Jobs are named for people; the id (what scripts and the API use) is the row's tooltip.
    narrow: for a panel a third of the screen wide (Your classes): three columns, short names, and a finished
    job's test accuracy where its bar was (every model trained, side by side).
    """
    states = list(states)
    names = display_names(states)
    if narrow:
        return _narrow_progress_html(states, names, now)
    rows = []
    remote = any(s.where for s in states)   # a cluster executor: one more column, the node (and GPU) of each job
    # The newest PROGRESS_ROWS jobs only: a class runs many, and a longer table would push the live curves
    # below a projector's 720 px. The summary line above still counts every job; colours stay per job.
    hidden = max(0, len(states) - PROGRESS_ROWS)
    if hidden:
        done = sum(s.done for s in states[:hidden])
        rows.append(f"<tr class='vd-earlier'><td colspan='{5 + remote}'>… {hidden} earlier job{'s' * (hidden != 1)} "
                    f"({done} ended) not listed</td></tr>")
    for i, s in enumerate(states):
        if i < hidden:
            continue
        pct = round(100 * (1.0 if s.status == "finished" else s.progress))
        text = s.error if s.status == "failed" and s.error else s.message
        rows.append(
            f"<tr title='job {html.escape(s.id)}' data-job='{html.escape(s.id)}'>"
            f"<td class='vd-name'><span style='color:{_color(i)}'>●</span> {html.escape(names[s.id])}</td>"
            f"<td class='vd-status vd-{html.escape(s.status)}'>{html.escape(STATUS_TEXT.get(s.status, s.status))}</td>"
            f"<td class='vd-epoch'>{s.epoch}/{s.epochs or '?'}</td>"
            f"<td style='min-width:90px'><div style='background:#ddd;border-radius:4px'>"
            f"<div style='width:{pct}%;background:{_color(i)};height:10px;border-radius:4px'></div></div>"
            f"{pct}%</td>"
            + (f"<td class='vd-where'>{html.escape(s.where or '—')}</td>" if remote else "")
            + f"<td class='vd-message'>{html.escape(text or '')}</td></tr>"
        )
    if not rows:
        return "<p class='vd-empty'>No jobs yet: start one with a button on this tab, its progress shows here.</p>"
    head = ("<tr><th>job</th><th>status</th><th class='vd-epoch'>epoch</th><th>progress</th>"
            + ("<th>where</th>" if remote else "") + "<th>now</th></tr>")
    summary = f"<p class='vd-summary'><b>{html.escape(progress_summary(states, now))}</b></p>"
    return f"{summary}<table class='vd-jobs'>{head}{''.join(rows)}</table>"


def _narrow_progress_html(states: list[JobState], names: dict[str, str], now: float | None) -> str:
    rows = []
    for i, s in enumerate(states[-PROGRESS_ROWS:]):
        acc = (s.result or {}).get("test_acc") if s.status == "finished" else None
        if isinstance(acc, (int, float)):
            where = f"<b>test acc {100 * acc:.0f} %</b>"
        elif s.status in ("failed", "cancelled", "interrupted"):
            where = html.escape((s.error or s.message or "")[:80])
        else:
            pct = round(100 * s.progress)
            where = (f"<div style='background:#ddd;border-radius:4px'><div style='width:{pct}%;"
                     f"background:{_color(i)};height:10px;border-radius:4px'></div></div>{pct}%")
        rows.append(f"<tr title='job {html.escape(s.id)}' data-job='{html.escape(s.id)}'>"
                    f"<td class='vd-name'><span style='color:{_color(i)}'>●</span> {html.escape(short_name(names[s.id]))}</td>"
                    f"<td class='vd-status vd-{html.escape(s.status)}'>{html.escape(STATUS_TEXT.get(s.status, s.status))}</td>"
                    f"<td class='vd-message'>{where}</td></tr>")
    if not rows:
        return "<p class='vd-empty'>No jobs yet: start one with a button on this tab, its progress shows here.</p>"
    head = "<tr><th>model</th><th>status</th><th>result</th></tr>"
    summary = f"<p class='vd-summary'><b>{html.escape(progress_summary(states, now))}</b></p>"
    return f"{summary}<table class='vd-jobs'>{head}{''.join(rows)}</table>"


def all_done(states: Iterable[JobState]) -> bool:
    return all(s.done for s in states)


def running_choices(states: Iterable[JobState]) -> list[tuple[str, str]]:
    """(label, id) of the jobs that can still be cancelled, for a dropdown."""
    states = list(states)
    names = display_names(states)
    return [(f"{names[s.id]} ({STATUS_TEXT.get(s.status, s.status).split(' ', 1)[-1]})", s.id)
            for s in states if not s.done]


def finished_choices(states: Iterable[JobState]) -> list[tuple[str, str]]:
    """(label, id) of finished jobs with a result, newest first, for a dropdown."""
    states = list(states)
    names = display_names(states)
    done = [s for s in states if s.status == "finished" and s.result]
    return [(f"{names[s.id]} — test acc {_pct(s.result.get('test_acc'))}", s.id) for s in _newest_first(done)]


def _newest_first(states: list[JobState]) -> list[JobState]:
    return sorted(states, key=lambda s: (s.ended or 0, s.created), reverse=True)


def keep_choice(value, choices: list[tuple[str, str]], previous=None):
    """The dropdown keeps the user's pick while it is still a choice, else takes the first (or None).

    `previous`: the choices the page had before. A value that was their first (the default, newest
    finished job) follows to the new first, so the inspect picker shows the newest job, not the first
    one that happened to finish; a job the user picked further down stays picked.
    """
    ids = [c[1] for c in choices]
    first_before = previous[0][1] if previous else None
    if value in ids and not (value == first_before and ids and ids[0] != value):
        return value
    return ids[0] if ids else None


def changed(shown: dict, key: str, value) -> bool:
    """True (and remembered in `shown`) when `value` differs from what this page was last sent under `key`.

    Timer ticks send a plot, table or dropdown only when it changed: a dropdown someone is opening is
    not reset every second, and the browser redraws less.
    """
    value = [list(v) if isinstance(v, tuple) else v for v in value]  # gr.State round-trips tuples as lists
    if shown.get(key) == value:
        return False
    shown[key] = value
    return True


def fingerprint(states: Iterable[JobState]) -> list[list[str]]:
    """[id, status] per job: what a page must redraw for when it changes."""
    return [[s.id, s.status] for s in states]


def detect_finished_choices(states: Iterable[JobState]) -> list[tuple[str, str]]:
    """(label, id) of finished detection jobs, newest first, labelled with their mAP50; of a pair started
    together ("Pretrained vs scratch"), the pretrained one first: the result worth showing the class first."""
    states = list(states)
    names = display_names(states)
    done = _newest_first([s for s in states if s.status == "finished" and s.result])
    for i in range(len(done) - 1):
        a, b = done[i], done[i + 1]
        if a.config.get("scratch") and not b.config.get("scratch") and a.config.get("data") == b.config.get("data") \
                and abs((a.created or 0) - (b.created or 0)) < 10:
            done[i], done[i + 1] = b, a
    return [(f"{names[s.id]} — mAP50 {(s.result or {}).get('map50', 0):.2f}", s.id) for s in done]


def counterpart(job_id: str | None, states: Iterable[JobState]) -> str | None:
    """The finished detection job to show next to `job_id`: the newest one that started the other way
    (scratch for a pretrained one and back) on the same data; else the newest other finished one."""
    done = _newest_first([s for s in states if s.status == "finished" and s.result])
    this = next((s for s in done if s.id == job_id), None)
    if this is None:
        return None
    other = [s for s in done if s.id != job_id]
    same = [s for s in other if bool(s.config.get("scratch")) != bool(this.config.get("scratch"))
            and s.config.get("data") == this.config.get("data")]
    pick = same or other
    return pick[0].id if pick else None


def live_refresh(registry, kind: str, charts, finished_fn, table_fn=None):
    """The 1 s timer's handler for a tab of live jobs (Train & compare, Train a detector).

    charts: [(series, title, y-axis title, percent)] drawn with history_figure. The handler takes
    (job_ids, show_all, cancel_choice, inspect_choice, shown) and returns (progress html, *figures,
    [table rows], running-jobs dropdown, finished-jobs dropdown, timer, shown). Every output is sent
    only when it changed (`shown` remembers what this page has; the rest is gr.skip()): a dropdown
    someone is opening is not reset every second, and the browser redraws less. The timer stops
    when every job shown is done.
    """
    import gradio as gr  # only the UI calls this; keeps job_view itself importable without gradio

    def dropdown(shown, key, choices, current):
        previous = shown.get(key)
        if not changed(shown, key, choices):
            return gr.skip()
        return gr.Dropdown(choices=choices, value=keep_choice(current, choices, previous))

    def refresh(job_ids, show_all, cancel_choice, inspect_choice, shown):
        shown = dict(shown or {})
        states = on_the_board(registry.snapshot(None if show_all else (job_ids or []), kind=kind), shown)
        # The page and the training share the same cores: every output sent is JSON encoded, streamed,
        # diffed and redrawn. So a tick sends only news: the figures when some job finished an epoch (not
        # on every batch), the progress table when a percentage or message moved, the timer when it stops.
        curves = changed(shown, "curves", [(s.id, len(s.history)) for s in states])
        progress = progress_html(states) + cleared_note(shown)
        out = [progress if changed(shown, "progress", [progress]) else gr.skip()]
        out += [history_figure(states, series, title, yaxis, percent=percent) if curves else gr.skip()
                for series, title, yaxis, percent in charts]
        if table_fn is not None:
            rows = table_fn(states)
            out.append((rows or None) if changed(shown, "table", rows) else gr.skip())
        out.append(dropdown(shown, "running", running_choices(states), cancel_choice))
        out.append(dropdown(shown, "finished", finished_fn(states), inspect_choice))
        shown["jobs"] = fingerprint(states)
        active = not all_done(states)
        timer = gr.Timer(active=active) if changed(shown, "timer", [active]) else gr.skip()
        return (*out, timer, shown)

    return refresh


# ---- clear the board: finished runs hidden from this page (kept on disk), listed again on demand -----------

def on_the_board(states: Iterable[JobState], shown: dict | None) -> list[JobState]:
    """The jobs this page shows: all but the finished ones its "Clear the board" hid (`shown["hidden"]`)."""
    hidden = set((shown or {}).get("hidden") or [])
    return [s for s in states if s.id not in hidden]


def cleared_note(shown: dict | None) -> str:
    hidden = (shown or {}).get("hidden") or []
    if not hidden:
        return ""
    return (f'<p class="vd-empty">{len(hidden)} ended run{"s" * (len(hidden) != 1)} cleared from the board '
            f"(still on disk: <i>Show cleared runs</i> lists them again).</p>")


def board_buttons(prefix: str):
    """'Clear the board' and 'Show cleared runs' under a tab's progress table: (clear, show) buttons."""
    import gradio as gr

    with gr.Row(equal_height=True):
        clear = gr.Button("Clear the board (hide ended runs)", size="sm", elem_id=f"{prefix}-clear-board")
        show = gr.Button("Show cleared runs", size="sm", elem_id=f"{prefix}-show-cleared")
    return clear, show


def wire_board(registry, kind: str, buttons, refresh, inputs, outputs) -> None:
    """Clear hides every ended job now shown (finished, failed, cancelled) from this page; Show lists them again.
    Nothing is deleted: the jobs stay in the registry and on disk, for the API, the CLI and other pages.
    inputs/outputs: the tab's refresh wiring, [job_ids, show_all, cancel, inspect, shown] -> [..., shown]."""
    clear, show = buttons
    job_ids, show_all, shown = inputs[0], inputs[1], inputs[-1]

    def clear_board(job_ids, show_all, shown):
        states = registry.snapshot(None if show_all else (job_ids or []), kind=kind)
        hidden = set((shown or {}).get("hidden") or []) | {s.id for s in states if s.done}
        return {"hidden": sorted(hidden)}      # a fresh `shown`: the next refresh redraws everything

    def show_cleared(shown):
        return {}

    clear.click(clear_board, [job_ids, show_all, shown], shown, api_visibility="private", concurrency_limit=None
                ).then(refresh, inputs, outputs, api_visibility="private", concurrency_limit=None)
    show.click(show_cleared, shown, shown, api_visibility="private", concurrency_limit=None
               ).then(refresh, inputs, outputs, api_visibility="private", concurrency_limit=None)


def job_controls(show_all_label: str, cancel_id: str | None = None):
    """The folded 'cancel a job, show only yours' controls of both training tabs:
    (show_all checkbox, running-job picker, cancel button, its message)."""
    import gradio as gr

    with gr.Accordion("Cancel a job, or show only yours", open=False):
        show_all = gr.Checkbox(value=True, label=show_all_label)
        with gr.Row(equal_height=True):
            cancel_choice = gr.Dropdown([], label="Running job", allow_custom_value=True, scale=3)
            cancel_btn = gr.Button("Cancel job", variant="stop", scale=1, min_width=100, elem_id=cancel_id)
        cancel_msg = gr.Markdown()
    return show_all, cancel_choice, cancel_btn, cancel_msg


def live_panel(progress_id: str, plots: list[tuple[str, str]]):
    """The right-hand side of both training tabs: the job ids the API returns (hidden), the progress table and
    the two live plots [(label, elem_id)]; returns (started, progress, *plots)."""
    import gradio as gr

    started = gr.JSON(label="Started job ids", visible=False)  # what the API returns; not for people
    progress = gr.HTML(elem_id=progress_id)
    with gr.Row():
        figures = [gr.Plot(label=label, elem_id=elem_id, show_label=False) for label, elem_id in plots]
    return (started, progress, *figures)


def sweep_figure(rows: list[dict]) -> go.Figure:
    """Test accuracy (0-100 %) against the number of training images (log axis), one line per model · strategy."""
    from vision_demo.classify.catalog import model_label

    fig = go.Figure()
    for i, key in enumerate(sorted({(r["model"], r["strategy"]) for r in rows})):
        points = sorted((r["train_images"], r["test_acc"] * 100, r["fraction"]) for r in rows
                        if (r["model"], r["strategy"]) == key)
        fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                 name=model_label(*key), line=dict(color=_color(i)),
                                 text=[f"{p[2]:.0%} of the images" for p in points],
                                 hovertemplate="%{text}: %{x} images, %{y:.1f} %<extra>%{fullData.name}</extra>"))
    fig.update_layout(title="Test accuracy vs training images", xaxis=dict(title="training images", type="log"),
                      yaxis=dict(title="test accuracy (%)", range=[0, 100]), height=360,
                      margin=dict(l=60, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.25))
    return fig


def cancel_handler(registry):
    """The Cancel button of both training tabs (one registry, one way to stop a job)."""
    import gradio as gr

    from vision_demo.ui.common import at_the_server, user_errors

    @user_errors
    def cancel_job(job_id, job_ids=None, request: gr.Request = None):
        """Ask a job to stop (classification or detection); it ends within a batch.

        A student may stop the jobs this page started; any job only from the server's own browser (the teacher).
        """
        if not job_id:
            raise gr.Error("Pick a running job to cancel.")
        if job_id not in (job_ids or []) and not at_the_server(request):
            raise gr.Error(f"Job {job_id} was started on another page: only its page or the server's own "
                           "browser can cancel it.")
        if not registry.cancel(job_id):
            return f"Job {job_id} is not running (already finished, failed, cancelled, or unknown)."
        return f"Stop requested for {job_id}."
    return cancel_job


def watch(registry, kind: str):
    """A slow tick's handler: wake the page's 1 s timer when a job it shows is running, or when jobs came
    or ended since its last refresh (a short job may start and finish between two slow ticks)."""
    import gradio as gr  # only the UI calls this; keeps job_view itself importable without gradio

    def wake(job_ids, show_all, shown):
        states = on_the_board(registry.snapshot(None if show_all else (job_ids or []), kind=kind), shown)
        news = (shown or {}).get("jobs") != fingerprint(states)
        return gr.Timer(active=True) if news or not all_done(states) else gr.skip()

    return wake


def _pct(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "–"


def _num(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


COMPARISON_HEADERS = ["model · strategy", "test acc", "time (s)", "img/s", "trainable", "total params",
                      "weights", "device", "epochs"]
# Widths that fit each header on one line at 1280 px (the job names get the rest).
COMPARISON_WIDTHS = ["23%", "9%", "9%", "7%", "13%", "13%", "10%", "8%", "8%"]


def comparison_rows(states: Iterable[JobState]) -> list[list[str]]:
    """One row per finished classification job: the numbers the lesson compares."""
    states = list(states)
    names = display_names(states)
    rows = []
    for s in states:
        r = s.result or {}
        if s.status != "finished" or not r:
            continue
        rows.append([
            names[s.id], _pct(r.get("test_acc")), _num(r.get("wall_seconds")),
            _num(r.get("images_per_second"), 0), _num(r.get("trainable_params")), _num(r.get("total_params")),
            str(r.get("weights_source", "–")), str(r.get("device", "–")), str(len(r.get("epochs") or s.history)),
        ])
    return rows


def confusion_figure(result: dict) -> go.Figure:
    """The confusion matrix (rows = true class, columns = predicted) as an annotated heatmap."""
    matrix = result.get("confusion_matrix") or []
    classes = list(result.get("classes") or [str(i) for i in range(len(matrix))])
    fig = go.Figure(go.Heatmap(
        z=matrix, x=classes, y=classes, colorscale="Blues", showscale=False,
        text=[[str(v) for v in row] for row in matrix], texttemplate="%{text}",
        hovertemplate="true %{y} → predicted %{x}: %{z}<extra></extra>",
    ))
    fig.update_layout(
        xaxis_title="predicted", yaxis_title="true", height=420, margin=dict(l=80, r=10, t=40, b=60),
        font=dict(size=FONT_SIZE),
        yaxis=dict(autorange="reversed"), template="plotly_white",
        title=f"Confusion matrix (test acc {_pct(result.get('test_acc'))})",
    )
    return fig


def most_confused_text(result: dict, top: int = 3) -> str:
    """'Most confused: glacier → mountain (4), …' from the pairs the training job counted (loop.classification_report)."""
    pairs = [p for p in result.get("most_confused") or [] if p.get("count")][:top]
    if not pairs:
        return "No mistakes on the test set."
    named = ", ".join(f"**{p['true']} → {p['pred']}** ({p['count']})" for p in pairs)
    return f"Most confused (true → predicted): {named}."


def prediction_captions(result: dict, limit: int = 24) -> list[tuple[str, str]]:
    """(image path, 'true → pred (conf)') for the test predictions, mistakes first."""
    preds = list(result.get("predictions") or [])
    preds.sort(key=lambda p: p.get("true") == p.get("pred"))  # wrong ones first: they teach more
    out = []
    for p in preds[:limit]:
        mark = "✔" if p.get("true") == p.get("pred") else "✖"
        out.append((p["path"], f"{mark} {p.get('true')} → {p.get('pred')} ({p.get('confidence', 0):.2f})"))
    return out


PER_CLASS_HEADERS = ["class", "images", "instances", "precision", "recall", "mAP50", "mAP50-95"]


SIDE_BY_SIDE_HEADERS = ["class", "boxes", "precision", "recall", "mAP50", "mAP50-95"]   # half a screen wide


def yolo_side_rows(result: dict) -> list[list[str]]:
    """yolo_per_class_rows without the images column: two of these tables share a 1280 px screen."""
    return [row[:1] + row[2:] for row in yolo_per_class_rows(result)]


def yolo_summary(state: JobState) -> str:
    """One line over a detector's result: its name and its mAP (what the class compares)."""
    r = state.result or {}
    f = lambda key: f"{r[key]:.2f}" if isinstance(r.get(key), (int, float)) else "–"   # noqa: E731
    return (f"**{html.escape(state.name)}** — mAP50 **{f('map50')}** · mAP50-95 {f('map50_95')} · "
            f"precision {f('precision')} · recall {f('recall')}")


def yolo_per_class_rows(result: dict) -> list[list[str]]:
    """The detector's final metrics per class, plus an 'all' row."""
    def f(v):
        return f"{v:.3f}" if isinstance(v, (int, float)) else "–"
    rows = [[str(c.get("class")), _num(c.get("images")), _num(c.get("instances")), f(c.get("precision")),
             f(c.get("recall")), f(c.get("map50")), f(c.get("map50_95"))] for c in result.get("per_class") or []]
    if result:
        rows.append(["all", "", "", f(result.get("precision")), f(result.get("recall")),
                     f(result.get("map50")), f(result.get("map50_95"))])
    return rows


def status_dict(state: JobState) -> dict:
    """What the `job_status` API returns: the state without the bulky per-image lists."""
    d = state.to_dict()
    if d.get("result"):
        d["result"] = {k: v for k, v in d["result"].items()
                       if k not in ("predictions", "test_predictions", "val_images")}
    return d


def bar_figure(categories: list[str], series: dict[str, list[float]], title: str = "", yaxis: str = "",
               log_y: bool = False) -> go.Figure:
    """Grouped bars: class counts per split (Data tab), seconds per method (sliding window vs YOLO)."""
    fig = go.Figure([go.Bar(name=name, x=list(categories), y=list(values), marker_color=_color(i),
                            text=[_num(v, 2) for v in values], textposition="outside", cliponaxis=False)
                     for i, (name, values) in enumerate(series.items())])
    fig.update_layout(title=title, yaxis_title=yaxis, barmode="group", height=310, template="plotly_white",
                      margin=dict(l=60, r=10, t=60, b=40), font=dict(size=FONT_SIZE),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    if log_y:
        # One labelled tick per power of ten (0.1, 1, 10, 100): plotly's default labels the 2s and 5s between
        # them too, which reads as "2, 10, 5, 2, 1, 5" on a projector.
        fig.update_yaxes(type="log", dtick=1, tickformat="~g", minor=dict(ticks="inside", showgrid=False))
    return fig
