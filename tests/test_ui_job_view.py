"""job_view turns JobState snapshots into figures and tables: pure functions, no server."""
import pytest

from vision_demo.jobs import JobState
from vision_demo.ui import job_view


def _state(job_id, name, status="running", epochs=3, history=(), result=None, progress=0.5, error=None):
    return JobState(id=job_id, kind="classify", name=name, config={}, out_dir="/tmp/x", status=status,
                    progress=progress, message="epoch 2/3", epoch=len(history), epochs=epochs,
                    history=list(history), result=result, error=error)


HIST = [{"epoch": 1, "train_loss": 1.7, "val_loss": 1.5, "train_acc": 0.3, "val_acc": 0.4, "seconds": 2.0},
        {"epoch": 2, "train_loss": 1.2, "val_loss": 1.1, "train_acc": 0.6, "val_acc": 0.55, "seconds": 2.1}]
RESULT = {"test_acc": 0.75, "wall_seconds": 12.34, "images_per_second": 210.4, "trainable_params": 7686,
          "total_params": 3_378_000, "weights_source": "bundled", "device": "cpu", "epochs": HIST,
          "classes": ["forest", "glacier", "mountain"],
          "confusion_matrix": [[5, 0, 0], [0, 3, 2], [0, 1, 4]],
          # what classify.loop.classification_report counts from that matrix, saved with every result
          "most_confused": [{"true": "glacier", "pred": "mountain", "count": 2},
                            {"true": "mountain", "pred": "glacier", "count": 1}],
          "predictions": [{"path": "/a.png", "true": "forest", "pred": "forest", "confidence": 0.9},
                          {"path": "/b.png", "true": "glacier", "pred": "mountain", "confidence": 0.61}]}


def test_history_figure_draws_train_dashed_and_val_solid_per_job():
    states = [_state("j1", "CNN", history=HIST), _state("j2", "Lite0", history=HIST[:1])]
    fig = job_view.history_figure(states, job_view.CLASSIFY_LOSS, "Loss")
    assert len(fig.data) == 4  # two jobs x (train, val)
    by_name = {t.name: t for t in fig.data}
    train, val = by_name["CNN train"], by_name["CNN val"]   # named for people; the id is in the tooltip
    assert train.line.dash == "dash" and val.line.dash == "solid"
    assert train.line.color == val.line.color != by_name["Lite0 val"].line.color
    assert "j1" in val.hovertemplate and "j1" not in val.name
    assert fig.layout.showlegend is False    # the job table beside the chart is the legend (same colours)
    assert list(val.y) == [1.5, 1.1] and list(val.x) == [1, 2]
    assert fig.layout.uirevision == "keep"  # zoom survives the timer's refreshes


def test_history_figure_percent_and_empty_message():
    fig = job_view.history_figure([_state("j1", "CNN", history=HIST)], job_view.CLASSIFY_ACC, percent=True)
    assert [round(v, 6) for v in fig.data[1].y] == [40.0, 55.0]
    empty = job_view.history_figure([_state("j1", "CNN")])
    assert not empty.data and "first epoch" in empty.layout.annotations[0].text


def test_progress_html_escapes_and_shows_percent():
    html = job_view.progress_html([_state("j1", "<b>x</b>", progress=0.42),
                                   _state("j2", "Done", status="finished", progress=0.9)])
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "42%" in html and "100%" in html
    assert "No jobs yet" in job_view.progress_html([])


def test_comparison_rows_only_finished_jobs():
    states = [_state("j1", "CNN", status="finished", result=RESULT), _state("j2", "R18")]
    rows = job_view.comparison_rows(states)
    assert len(rows) == 1 and len(rows[0]) == len(job_view.COMPARISON_HEADERS)
    assert rows[0][1] == "75.0 %" and rows[0][4] == "7,686" and rows[0][6] == "bundled"
    assert job_view.running_choices(states) == [("R18 (running)", "j2")]
    assert job_view.finished_choices(states)[0][1] == "j1"


def test_confusion_figure_and_most_confused_pair():
    fig = job_view.confusion_figure(RESULT)
    assert list(fig.data[0].x) == RESULT["classes"] and fig.data[0].z[1][2] == 2
    text = job_view.most_confused_text(RESULT)
    assert text.startswith("Most confused") and "glacier → mountain** (2)" in text
    assert "No mistakes" in job_view.most_confused_text({"confusion_matrix": [[2, 0], [0, 3]], "classes": ["a", "b"],
                                                         "most_confused": []})


def test_prediction_captions_put_mistakes_first():
    caps = job_view.prediction_captions(RESULT)
    assert caps[0] == ("/b.png", "✖ glacier → mountain (0.61)")
    assert caps[1][1] == "✔ forest → forest (0.90)"


def test_yolo_rows_and_status_dict():
    result = {"map50": 0.9, "map50_95": 0.7, "precision": 0.8, "recall": 0.85,
              "per_class": [{"class": "circle", "images": 16, "instances": 20, "precision": 0.9, "recall": 0.8,
                             "map50": 0.95, "map50_95": 0.75}], "val_images": ["/v.jpg"]}
    rows = job_view.yolo_per_class_rows(result)
    assert rows[0][:3] == ["circle", "16", "20"] and rows[-1][0] == "all" and rows[-1][5] == "0.900"
    d = job_view.status_dict(_state("j1", "Y", status="finished", result=result))
    assert "val_images" not in d["result"] and d["result"]["map50"] == 0.9 and d["status"] == "finished"
    fig = job_view.history_figure([_state("j1", "Y", history=[{"epoch": 1, "map50": 0.5, "map50_95": 0.3}])],
                                  job_view.YOLO_METRICS)
    assert [t.name for t in fig.data] == ["Y mAP50", "Y mAP50-95"]
    assert list(fig.layout.yaxis.range) == [0, 1.02]   # mAP's own scale, not autoscaled to the curve


def test_bar_figure_groups_series_and_log_axis():
    fig = job_view.bar_figure(["sea", "forest"], {"train": [40, 38], "test": [10, 9]}, log_y=True)
    assert [t.name for t in fig.data] == ["train", "test"] and list(fig.data[1].y) == [10, 9]
    assert fig.layout.yaxis.type == "log"


def test_changed_and_keep_choice_let_ticks_send_only_news():
    shown = {}
    assert job_view.changed(shown, "running", [("a", "j1")])
    assert not job_view.changed(shown, "running", [["a", "j1"]])      # what came back from the browser's State
    assert job_view.changed(shown, "running", [])
    assert job_view.keep_choice("j2", [("x", "j1"), ("y", "j2")]) == "j2"
    assert job_view.keep_choice("gone", [("x", "j1")]) == "j1" and job_view.keep_choice("j1", []) is None


def test_live_refresh_sends_only_what_changed_and_stops_the_timer_when_all_are_done(tmp_path):
    import gradio as gr

    from vision_demo.jobs import JobRegistry
    from vision_demo.ui import job_view

    registry = JobRegistry(tmp_path)

    def one_epoch(ctx):
        ctx.emit("epoch_end", epoch=1, train_loss=1.0, val_loss=1.2, train_acc=0.5, val_acc=0.4, seconds=0.1)
        return {"test_acc": 0.4, "model": "simple_cnn", "strategy": "scratch"}

    job_id = registry.submit("classify", "tiny", {}, one_epoch, epochs=1)
    registry.wait(job_id, 5)
    refresh = job_view.live_refresh(registry, "classify",
                                    charts=[(job_view.CLASSIFY_LOSS, "Loss", "loss", False)],
                                    finished_fn=job_view.finished_choices, table_fn=job_view.comparison_rows)
    progress, loss, table, running, finished, timer, shown = refresh([job_id], False, None, None, {})
    assert "tiny" in progress and len(loss.data) == 2  # train and val lines of the one job
    assert table and finished.value == job_id and running.choices == []
    assert timer.active is False  # every job shown is done
    again = refresh([job_id], False, None, job_id, shown)
    skip = type(gr.skip())
    assert all(isinstance(x, skip) for x in again[:6])   # nothing changed: progress, plot, table, pickers, timer

    # A running job: its progress is sent when it moves, its figure only when an epoch ended.
    import threading
    step, go_on = threading.Event(), threading.Event()

    def two_epochs(ctx):
        for epoch in (1, 2):
            ctx.emit("progress", fraction=epoch / 2 - 0.25, message=f"epoch {epoch} batch 1")
            step.set()
            go_on.wait(5)
            go_on.clear()
            ctx.emit("epoch_end", epoch=epoch, train_loss=1.0, val_loss=1.2, train_acc=0.5, val_acc=0.4, seconds=0.1)
        return {"test_acc": 0.5}

    running_id = registry.submit("classify", "longer", {}, two_epochs, epochs=2)
    assert step.wait(5)
    step.clear()
    ids = [job_id, running_id]
    first = refresh(ids, False, None, None, {})
    assert first[5].active is True and "longer" in first[0]
    tick = refresh(ids, False, None, None, first[6])
    assert all(isinstance(x, skip) for x in tick[:6])   # same progress, same epochs, timer already running
    go_on.set()
    assert step.wait(5)                                  # epoch 1 ended, epoch 2 started
    tick = refresh(ids, False, None, None, tick[6])
    assert not isinstance(tick[0], skip) and len(tick[1].data) == 4 and isinstance(tick[5], skip)
    go_on.set()
    registry.wait(running_id, 5)
    last = refresh(ids, False, None, None, tick[6])
    assert last[5].active is False
    registry.shutdown()


def test_progress_shows_done_running_waiting_and_time_left_from_the_measured_speed():
    done = _state("j1", "SimpleCNN · scratch", status="finished", progress=1.0)
    done.started, done.ended = 100.0, 130.0                       # took 30 s
    running = _state("j2", "ResNet-18 · scratch", progress=0.5)
    running.started = 140.0                                       # set up for 2 s, then 0.4 in 16 s: 20 s to go
    running.speed_marks = [[144.0, 0.1]]
    waiting = _state("j3", "EfficientNet-Lite0 · frozen", status="queued", progress=0.0)
    now = 160.0
    # waiting job: the mean measured length of (30 s, 40 s projected) = 35 s
    assert job_view.time_left([done, running, waiting], now) == 20 + 35
    assert job_view.time_left([waiting], now) is None              # nothing measured yet
    html = job_view.progress_html([done, running, waiting], now)
    # the waiting job never ran: its share is said apart, as a guess, not folded into a measured figure
    assert "1 done · 1 running · 1 waiting — about 20 s left, + 35 s for 1 not run yet (a guess)" in html
    assert "title='job j2'" in html and "○ waiting" in html and "⏳" not in html   # glyphs every font has
    assert ">j2<" not in html                                     # the id only in the tooltip
    assert "No jobs yet" in job_view.progress_html([]) and "Pick a preset" not in job_view.progress_html([])


def test_names_for_people_number_repeats_and_the_inspect_picker_follows_the_newest_job():
    a, b = _state("j1", "CNN", status="finished", result=RESULT), _state("j2", "CNN", status="finished", result=RESULT)
    a.ended, b.ended = 10.0, 20.0
    assert job_view.display_names([a, b]) == {"j1": "CNN #1", "j2": "CNN #2"}
    choices = job_view.finished_choices([a, b])
    assert [c[1] for c in choices] == ["j2", "j1"] and choices[0][0] == "CNN #2 — test acc 75.0 %"
    assert job_view.comparison_rows([a, b])[0][0] == "CNN #1"
    before = [["CNN — test acc 75.0 %", "j1"]]
    assert job_view.keep_choice("j1", choices, before) == "j2"     # the default follows the newest
    assert job_view.keep_choice("j1", choices, [["x", "j0"], ["y", "j1"]]) == "j1"   # a deliberate pick stays


def test_charts_have_fixed_axes_readable_log_ticks_and_no_legend_over_the_titles():
    acc = job_view.history_figure([_state("j1", "CNN", history=HIST)], job_view.CLASSIFY_ACC, percent=True)
    assert acc.layout.yaxis.range[0] == 0 and 100 <= acc.layout.yaxis.range[1] <= 103
    assert acc.layout.showlegend is False and acc.layout.xaxis.title.text == "epoch"
    bars = job_view.bar_figure(["window", "YOLO"], {"s": [12.8, 0.2]}, log_y=True)
    assert bars.layout.yaxis.dtick == 1          # 0.1, 1, 10: one label per power of ten


def test_progress_lists_the_newest_jobs_and_counts_all_of_them():
    """A class runs many jobs: the table keeps the newest five (the live curves stay on a 720 px screen), the
    summary counts all, and the newest job keeps the colour it had."""
    states = [_state(f"j{i}", f"run {i}", status="finished", progress=1.0) for i in range(8)]
    states.append(_state("j8", "run 8", progress=0.3))
    html = job_view.progress_html(states)
    assert html.count("<tr title='job ") == job_view.PROGRESS_ROWS
    assert "title='job j8'" in html and "title='job j4'" in html and "title='job j3'" not in html
    assert "… 4 earlier jobs (4 ended) not listed" in html
    assert "8 done · 1 running" in html
    assert f"color:{job_view._color(8)}" in html
    assert "earlier" not in job_view.progress_html(states[-job_view.PROGRESS_ROWS:])


def test_the_progress_table_names_where_cluster_jobs_run_and_local_tables_are_unchanged():
    local = job_view.progress_html([_state("j1", "CNN", progress=0.5)])
    assert "<th>where</th>" not in local and "vd-where" not in local
    remote = _state("j2", "R18", progress=0.5)
    remote.where = "gpu-node-3 · GPU 0"
    html = job_view.progress_html([_state("j1", "CNN", status="finished"), remote])
    assert "<th>where</th>" in html and html.count("class='vd-where'") == 2
    assert "gpu-node-3 · GPU 0" in html and "<td class='vd-where'>—</td>" in html   # a job not sent anywhere


# ---- issue 20: names at the line ends, the board, detectors side by side ----------------------------------

def test_each_line_ends_with_its_jobs_name_in_its_colour_and_the_names_never_touch():
    # four jobs whose curves end at nearly the same accuracy: their names are stacked, not on top of each other
    states = [_state(f"j{i}", name, history=[{**HIST[1], "val_acc": 0.55 + i / 1000}])
              for i, name in enumerate(["SimpleCNN · scratch", "SimpleCNN · scratch", "ResNet-18 · scratch",
                                        "EfficientNet-Lite0 · fine-tuned (from frozen)"])]
    fig = job_view.history_figure(states, job_view.CLASSIFY_ACC, "Accuracy", percent=True)
    labels = {a.text: a for a in fig.layout.annotations}
    assert set(labels) == {"SimpleCNN · scratch #1", "SimpleCNN · scratch #2", "ResNet-18 · scratch",
                           "Lite0 · fine-tuned"}
    colours = {t.name.rsplit(" ", 1)[0]: t.line.color for t in fig.data}
    assert labels["ResNet-18 · scratch"].font.color == colours["ResNet-18 · scratch"]
    ys = sorted(a.y for a in fig.layout.annotations)
    assert all(b - a >= (job_view.FONT_SIZE + 3) / 210 - 1e-9 for a, b in zip(ys, ys[1:]))
    assert all(0 <= y <= 1 for y in ys) and abs(ys[0] - 0.55 / 1.02) < 0.05   # level with the line ends


def test_clearing_the_board_hides_ended_jobs_until_shown_again():
    done, running = _state("j1", "CNN", status="finished", result=RESULT), _state("j2", "Lite0")
    shown = {"hidden": ["j1"]}
    assert [s.id for s in job_view.on_the_board([done, running], shown)] == ["j2"]
    assert "1 ended run cleared" in job_view.cleared_note(shown)
    assert job_view.on_the_board([done, running], {}) == [done, running] and job_view.cleared_note({}) == ""


def test_pretrained_vs_scratch_shows_the_pretrained_detector_first_and_the_scratch_one_next_to_it():
    def yolo(job_id, scratch, created, ended, map50):
        return JobState(id=job_id, kind="detect", name="YOLOv8n from scratch · shapes" if scratch else
                        "YOLO fine-tuned from person detector · shapes", config={"data": "shapes", "scratch": scratch},
                        out_dir="/tmp/x", status="finished", created=created, ended=ended,
                        result={"map50": map50, "map50_95": map50 / 2, "precision": 0.5, "recall": 0.5})
    older = yolo("old", False, 100.0, 150.0, 0.5)
    pre, scratch = yolo("pre", False, 1000.0, 1050.0, 0.91), yolo("scr", True, 1000.2, 1101.0, 0.0)
    choices = job_view.detect_finished_choices([older, pre, scratch])
    assert [job_id for _, job_id in choices] == ["pre", "scr", "old"]   # the scratch one ended last
    assert choices[0][0].endswith("mAP50 0.91")
    assert job_view.counterpart("pre", [older, pre, scratch]) == "scr"
    assert job_view.counterpart("scr", [older, pre, scratch]) == "pre"
    assert "mAP50 **0.91**" in job_view.yolo_summary(pre)
    assert job_view.SIDE_BY_SIDE_HEADERS == ["class", "boxes", "precision", "recall", "mAP50", "mAP50-95"]


def _set_up_then_running(setup=30.0, progress=0.55):
    """A detector that spent `setup` s before its first batch (started at 100), then ran 0.5 of the job in 10 s."""
    s = _state("j1", "YOLO fine-tuned from person detector · shapes", progress=progress)
    s.started = 100.0
    s.speed_marks = [[100.0 + setup, progress - 0.5]]
    return s, 100.0 + setup + 10.0


def test_time_left_counts_the_set_up_once_not_per_batch():
    running, now = _set_up_then_running()
    # 0.45 left at the measured 0.5 per 10 s: 9 s. From the job's start (40 s for 0.55) it would read 33 s.
    assert job_view.time_left([running], now) == 9.0
    old = (now - running.started) * (1 - running.progress) / running.progress
    assert old > 3 * job_view.time_left([running], now)
    # the scratch detector waiting behind it: one whole length, set-up included once (40 s so far + 9 s)
    waiting = _state("j2", "YOLOv8n from scratch · shapes", status="queued", progress=0.0)
    assert job_view.time_left([running, waiting], now) == 9.0 + 49.0
    assert "about 9 s left, + 49 s for 1 not run yet (a guess)" in job_view.progress_summary([running, waiting], now)
    # once its first epoch has ended (and run 2 s since), the speed after it counts: 0.05 in 2 s, 0.45 left: 18 s
    running.speed_marks.append([now - 2.0, running.progress - 0.05])
    assert job_view.time_left([running], now) == pytest.approx(18.0)


def test_a_job_still_setting_up_reads_estimating_not_a_figure():
    setting_up = _state("j1", "YOLOv8n from scratch · shapes", progress=0.0)
    setting_up.started = 100.0                          # 20 s of dataset scan, no batch yet
    assert job_view.time_left([setting_up], 120.0) is None
    assert "estimating the time left…" in job_view.progress_summary([setting_up], 120.0)
    just_began, now = _set_up_then_running()
    just_began.speed_marks = [[now - 5.0, 0.3]]         # 5 s of batches: the first ones may still pay once
    assert job_view.time_left([just_began], now) is None
    just_began.speed_marks.append([now - 1.0, 0.5])     # its first epoch ended 1 s ago: still too little
    assert job_view.time_left([just_began], now) is None
    done = _state("j0", "SimpleCNN · scratch", status="finished", progress=1.0)
    done.started, done.ended = 50.0, 80.0
    assert job_view.time_left([done, setting_up], 120.0) == 30.0   # a job measured before: its length


def test_a_waiting_job_that_ran_before_counts_its_own_length():
    """The second 'Pretrained vs scratch' of a lesson: the scratch detector took 32 s last time, not the 99 s of
    the fine-tuned one the mean would give."""
    fine, scratch = "YOLO fine-tuned from person detector · shapes", "YOLOv8n from scratch · shapes"
    before = [_state("a", fine, status="finished", progress=1.0), _state("b", scratch, status="finished", progress=1.0)]
    (before[0].started, before[0].ended), (before[1].started, before[1].ended) = (1.0, 100.0), (100.0, 132.0)
    running, now = _set_up_then_running()
    running.name = fine
    waiting = _state("d", scratch, status="queued", progress=0.0)
    assert job_view.time_left(before + [running, waiting], now) == 9.0 + 32.0
    assert "about 41 s left (from the speed measured so far)" in job_view.progress_summary(before + [running, waiting], now)
    other = _state("e", "YOLO fine-tuned from person detector · coins", status="queued", progress=0.0)
    assert job_view.time_left(before + [running, other], now) == 9.0 + (99.0 + 32.0 + 49.0) / 3   # the mean


def test_the_registry_marks_where_the_set_up_ended(tmp_path):
    """The first progress past 0 (not the set-up's 'loading…' at 0) is where the speed is measured from."""
    import threading

    from vision_demo.jobs import JobRegistry

    registry = JobRegistry(tmp_path)
    set_up, go_on, batches, finish = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    def job(ctx):
        ctx.emit("progress", fraction=0.0, message="checking the data set")
        set_up.set()
        go_on.wait(5)
        ctx.emit("progress", fraction=0.1, message="batch 1")
        ctx.emit("progress", fraction=0.3, message="batch 3")
        ctx.emit("epoch_end", epoch=1)                 # of 2: progress 0.5
        ctx.emit("progress", fraction=0.6, message="batch 6")
        ctx.emit("epoch_end", epoch=2)                 # the second epoch's end is no mark
        batches.set()
        finish.wait(5)
        return {}

    job_id = registry.submit("classify", "tiny", {}, job, epochs=2)
    assert set_up.wait(5)
    state = registry.get(job_id)
    assert state.status == "running" and state.speed_marks == []
    go_on.set()
    assert batches.wait(5)
    state = registry.get(job_id)
    assert [progress for _, progress in state.speed_marks] == [0.1, 0.5]
    assert state.started <= state.speed_marks[0][0] <= state.speed_marks[1][0]
    finish.set()
    registry.wait(job_id, 5)
    registry.shutdown()
