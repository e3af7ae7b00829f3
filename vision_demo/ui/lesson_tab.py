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


def build() -> list[gr.Button]:
    """Lay out the list; returns one button per exercise, in EXERCISES' order (wired later by `wire`)."""
    intro("**Lesson plan.** The exercises in order: each button opens its tab and starts the experiment; ask the "
          "question while it runs. Everything runs on this server, offline; jobs run in the background, so you can "
          "switch tabs and come back. Presenter mode (top right) is for the projector.")
    buttons = []
    for ex in EXERCISES:
        with gr.Row(elem_classes=["vd-lesson-row"], equal_height=True):
            gr.Markdown(f"**{ex.number} · {ex.title}**", scale=3, min_width=200)
            gr.Markdown(f"<span class='vd-question'>Ask: {ex.question}</span>", scale=7, min_width=300)
            buttons.append(gr.Button(f"Start {ex.number}", variant="primary", size="md", scale=0,
                                     min_width=110, elem_id=f"lesson-{ex.number}"))
    return buttons


def wire(buttons: list[gr.Button], tabs: gr.Tabs, starters: dict[str, Callable[[gr.Button], None]]) -> None:
    """Each button opens its exercise's tab and starts it (starters[key](button) adds the tab's own event)."""
    for ex, button in zip(EXERCISES, buttons):
        button.click(lambda tab=ex.tab: gr.Tabs(selected=tab), None, tabs, api_visibility="private", queue=False)
        starters[ex.key](button)
