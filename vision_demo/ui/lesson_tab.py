"""The first tab, Lesson plan: the seed's seven exercises in order, each with one button that opens its
tab and starts its experiment, and a question to ask the class while it runs.

    buttons = lesson_tab.build()                      # inside `with gr.Tab(...)`
    lesson_tab.wire(buttons, tabs, starters)          # after every tab exists: starters[key](button)

Exercises 1–4 are classify.train.PRESETS (run with the Train tab's current data, epochs and size);
5 is the Inside-the-model tab, 6 detection (plus training a detector), 7 the sliding window.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Callable

import gradio as gr

from vision_demo.ui.common import intro
from vision_demo.ui.train_tab import EXERCISES as PRESET_NAMES

Exercise = namedtuple("Exercise", "number title tab key question")

EXERCISES = (
    Exercise("1", "Small CNN from scratch", "train", PRESET_NAMES[0],
             "240 training pictures and random weights: how far can a small network get on its own?"),
    Exercise("2", "ResNet-18 from scratch", "train", PRESET_NAMES[1],
             "ResNet-18 has 460× more weights than the small CNN: will it do better on the same pictures? Why not?"),
    Exercise("3", "Pretrained backbone, frozen (feature extraction)", "train", PRESET_NAMES[2],
             "Only the new head's few thousand weights train: how can it beat networks that train all of theirs?"),
    Exercise("4", "Pretrained backbone, fine-tuned from the frozen run", "train", PRESET_NAMES[3],
             "Why fine-tune only after the head is trained, and with a 10× smaller learning rate?"),
    Exercise("5", "Inside the model", "inside", "inside",
             "Which layers drop out of the autograd graph when the backbone is frozen?"),
    Exercise("6", "One-pass detection with YOLO", "detect", "detect",
             "One pass gives every box: what do the confidence and IoU sliders throw away?"),
    Exercise("6b", "Train a detector: pretrained vs scratch", "yolo", "yolo",
             "Same data, same epochs: why does the person detector learn circles and squares and scratch not?"),
    Exercise("7", "Sliding window vs YOLO", "sliding", "sliding",
             "How many classifier passes does one photo need with a sliding window, and how long is that here?"),
)


class LessonButtons(list):
    """One button per exercise, in EXERCISES' order, with each row's title (wire adds the tab it opens)."""
    titles: list


def question_banner() -> gr.Markdown:
    """Above the tabs: the question of the exercise last started, so it is on screen on the tab it opens."""
    return gr.Markdown("", visible=False, elem_id="lesson-question", elem_classes=["vd-question-banner"])


def tab_labels(tabs: gr.Tabs) -> dict[str, str]:
    """{tab id: its label} read from the tabs themselves ("yolo": "7 · Train a detector"): a tab added or moved
    renumbers the lesson plan with it."""
    return {child.id: child.label for child in tabs.children if getattr(child, "id", None) is not None}


def build() -> LessonButtons:
    """Lay out the list; returns one button per exercise, in EXERCISES' order (wired later by `wire`)."""
    intro("**Lesson plan.** The exercises in order: each button opens its tab and starts the experiment; ask the "
          "question while it runs. Everything runs on this server, offline; jobs run in the background, so you can "
          "switch tabs and come back. Presenter mode (top right) is for the projector.")
    buttons = LessonButtons()
    buttons.titles = []
    for ex in EXERCISES:
        with gr.Row(elem_classes=["vd-lesson-row"], equal_height=True):
            buttons.titles.append(gr.Markdown(f"**{ex.number} · {ex.title}**", scale=3, min_width=200))
            gr.Markdown(f"<span class='vd-question'>Ask: {ex.question}</span>", scale=7, min_width=300)
            buttons.append(gr.Button(f"Start {ex.number}", variant="primary", size="md", scale=0,
                                     min_width=110, elem_id=f"lesson-{ex.number}"))
    return buttons


def wire(buttons: LessonButtons, tabs: gr.Tabs, starters: dict[str, Callable[[gr.Button], None]],
         question: gr.Markdown | None = None) -> None:
    """Each button opens its exercise's tab and starts it (starters[key](button) adds the tab's own event), and
    puts its question in the banner above the tabs. Each row says which tab it opens, by the tab's own label:
    exercise numbers are the seed notebook's (1-4 all run on one tab), tab numbers are the page's."""
    labels = tab_labels(tabs)
    for ex, button, title in zip(EXERCISES, buttons, getattr(buttons, "titles", [None] * len(buttons))):
        if title is not None and ex.tab in labels:   # set before the page is built: no event needed
            number = labels[ex.tab].split(" · ")[0]
            title.value = f"**{ex.number} · {ex.title}** <span class='vd-tab-ref'>→ tab {number}</span>"
        outputs = [tabs] + ([question] if question is not None else [])
        text = f"**Ask the class** (exercise {ex.number}, {ex.title}): *{ex.question}*"

        def open_tab(tab=ex.tab, text=text):
            if question is None:
                return gr.Tabs(selected=tab)
            return gr.Tabs(selected=tab), gr.Markdown(text, visible=True)

        button.click(open_tab, None, outputs, api_visibility="private", queue=False)
        starters[ex.key](button)
