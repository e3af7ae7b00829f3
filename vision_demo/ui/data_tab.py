"""Tab 1, Data: pick a classification data set and look at it before training on it.

Sources: the generated "scenes" (default, offline), a folder on the server, an uploaded zip,
or Kaggle's Intel Image Classification (online only). Shows samples per class, class counts
and the files that were skipped or converted.
"""
from __future__ import annotations

import html
import random

import gradio as gr

from vision_demo import settings
from vision_demo.ui import job_view
from vision_demo.datasets.names import dataset_name
from vision_demo.ui.common import (check_server_folder, disk_line, for_client, gallery_items, intro, user_errors,
                                   work_handle)
from vision_demo.ui.projector import reveal

SAMPLES_PER_CLASS = 4


@user_errors
def load_data(source, zip_file, request: gr.Request = None, progress=gr.Progress()):
    """Load the chosen data set; returns (gallery, counts figure, report markdown, resolved source)."""
    from vision_demo.datasets.imagefolder import load_dataset

    source = (source or "").strip() or "scenes"
    progress(0, desc="extracting and checking the zip" if zip_file else "listing and checking the images")
    data = load_dataset(zip_file or check_server_folder(source, request))
    # a zip is extracted once: the Train tab trains on the folder (a work: handle, never the server's path)
    return (*describe(data, request), work_handle(data.root, request) if zip_file else source)


@user_errors
def download_intel(progress=gr.Progress()):
    """Online only: fetch Intel Image Classification (the offline message says where to put it by hand)."""
    from vision_demo.datasets.intel import download_intel as fetch
    from vision_demo.datasets.imagefolder import load_dataset

    progress(0, desc="downloading Intel Image Classification (~350 MB) with kagglehub")
    folder = fetch()
    progress(0.9, desc="checking its 25,000 images")
    data = load_dataset(str(folder))
    return (*describe(data), work_handle(data.root))


def describe(data, request=None):
    """(gallery items, class-count figure, report markdown) of a ClassificationData."""
    rng = random.Random(0)
    by_class: dict[int, list[str]] = {}
    for path, label in data.train:
        by_class.setdefault(label, []).append(path)
    pairs = []
    for label, name in enumerate(data.classes):
        paths = by_class.get(label, [])
        pairs += [(p, name) for p in rng.sample(paths, min(SAMPLES_PER_CLASS, len(paths)))]
    counts = data.counts()
    fig = job_view.bar_figure(data.classes, {split: [counts.get(split, {}).get(c, 0) for c in data.classes]
                                             for split in ("train", "test")},
                              title="Images per class", yaxis="images")
    return gallery_items(pairs, size=128), fig, report_markdown(data, request=request)


def report_markdown(data, limit: int = 20, request=None) -> str:
    total = {split: sum(n.values()) for split, n in data.counts().items()}
    # The set's name for people; its folder (for_client: a visitor never reads the server's) only in the tooltip.
    where = html.escape(for_client(data.root, request), quote=True)
    lines = [f"<b title=\"{where}\">{html.escape(dataset_name(data.root))}</b> — layout `{data.layout}`, "
             f"{len(data.classes)} classes "
             f"({', '.join(data.classes)}), {total.get('train', 0)} train / {total.get('test', 0)} test images.",
             "", data.report.summary()]
    for title, items in (("Skipped", data.report.skipped), ("Converted", data.report.converted)):
        if items:
            lines.append(f"\n**{title}** ({len(items)}):")
            lines += [f"- `{path}`: {reason}" for path, reason in items[:limit]]
            if len(items) > limit:
                lines.append(f"- … and {len(items) - limit} more")
    lines.append(f"\n<small>{disk_line()}</small>")
    return "\n".join(lines)


def pack_markdown() -> str:
    """The offline pack (vision_demo.prefetch): what is cached in the work folder, its size, what is missing."""
    from vision_demo.prefetch import status

    rows = ["| | what | size |", "|---|---|---|"]
    for row in status():
        size = f"{row['bytes'] / 2**20:,.1f} MB" if row["cached"] else ""
        rows.append(f"| {'✓ cached' if row['cached'] else '– missing'} | **{row['name']}**: {row['what']} | {size} |")
    return "\n".join(rows)


def download_pack(registry=None):
    """Online: download the missing parts of the offline pack as a job of `registry` (default: the work folder's),
    showing its progress; then the table."""
    from vision_demo.jobs import default_registry
    from vision_demo.prefetch import prefetch

    if not settings.online():
        yield "**Offline:** " + PACK_OFFLINE + "\n\n" + pack_markdown()
        return
    registry = registry or default_registry()

    def job(ctx):
        def on_progress(name, done, total):
            ctx.progress(done / total if total else None,
                         f"{name}: {done / 2**20:,.1f} MB" + (f" of {total / 2**20:,.1f} MB" if total else ""))
        return {"rows": prefetch(None, on_progress)}

    job_id = registry.submit("prefetch", "offline pack", {}, job)
    while not (state := registry.wait(job_id, timeout=1.0)).done:
        yield f"Downloading … {state.message}\n\n" + pack_markdown()
    if state.status != "finished":
        yield f"**The download stopped:** {state.error or state.status}\n\n" + pack_markdown()
        return
    yield "**Done:** the app now runs offline with everything below.\n\n" + pack_markdown()


PACK_OFFLINE = ("the offline pack downloads, so it needs a network: on a machine online, run "
                "`python -m vision_demo --online prefetch` and copy the work folder here (or start with --online)")


def intel_button() -> tuple[gr.Button, str]:
    """The Intel download button: usable online; offline it is disabled and the text under it says why
    (a click would only end in an error)."""
    if settings.online():
        return gr.Button("Download Intel Image Classification", elem_id="intel-btn"), ""
    from vision_demo.datasets.intel import OFFLINE_HELP

    # One line that says how to get it: the offline pack (prefetch --what intel, made at home) or --online.
    button = gr.Button("Intel Image Classification: needs --online, or the offline pack (prefetch --what intel)",
                       interactive=False, elem_id="intel-btn")
    return button, f"**Offline:** {OFFLINE_HELP[0].upper()}{OFFLINE_HELP[1:]}."


def build(demo: gr.Blocks, registry=None):
    """Lay out the tab; returns (resolved data source State, the event that loads a data set). `registry`: where the
    offline pack's download job runs (the app's)."""
    intro("**Data.** A classifier is only as good as its data: look at samples of every class, count them, "
          "and see which files were skipped or converted. "
          "The default is a generated set of the six Intel scene classes (offline); "
          "use a folder, a zip, or the real Intel set.")
    with gr.Row():
        source = gr.Textbox(value="scenes", label="Data set",
                            info="'scenes' (generated), or a folder on the server (from the server's own browser; "
                                 "others upload a zip): train/ + test/ (or val/) with a sub-folder per class, "
                                 "or just class folders", scale=3, elem_id="data-source")
        zip_file = gr.File(label="…or upload a zip", file_types=[".zip"], type="filepath", scale=2,
                           height=170)   # "Drop File Here - or - Click to Upload" whole, presenter mode too
    if settings.persistence_note():
        gr.Markdown(f"**Note:** {settings.persistence_note()}", elem_id="persistence-note")
    with gr.Row():
        load_btn = gr.Button("Load data set", variant="primary", elem_id="load-data")
        intel_btn, intel_reason = intel_button()
    if intel_reason:
        with gr.Accordion("Why the Intel download is off, and how to use the real data set", open=False):
            gr.Markdown(intel_reason, elem_id="intel-reason")
    resolved = gr.State("scenes")
    gallery = gr.Gallery(label="Samples per class", columns=SAMPLES_PER_CLASS * 2, height="auto",
                         elem_id="data-gallery", object_fit="cover", elem_classes=["vd-captions"])
    with gr.Row():
        counts = gr.Plot(label="Class counts", elem_id="data-counts", show_label=False)  # titled figure
        report = gr.Markdown(elem_id="data-report")
    with gr.Accordion("Offline pack: ResNet-18, COCO detectors, coco8, Intel for a classroom without internet",
                      open=False):
        online = settings.online()
        pack_btn = gr.Button("Download the offline pack" if online else "Download the offline pack (needs --online)",
                             interactive=online, elem_id="pack-btn")
        pack = gr.Markdown(("" if online else f"**Offline:** {PACK_OFFLINE}.\n\n") + pack_markdown(),
                           elem_id="pack-status")

    def download_here():   # into the app's registry
        yield from download_pack(registry)
    pack_btn.click(download_here, None, pack, api_visibility="private")
    outputs = [gallery, counts, report, resolved]
    loaded = load_btn.click(load_data, [source, zip_file], outputs, api_visibility="undocumented")
    reveal(load_btn, "data-gallery")
    intel = intel_btn.click(download_intel, None, outputs, api_visibility="undocumented")
    on_load = demo.load(load_data, [source, zip_file], outputs, api_visibility="private")
    return resolved, [loaded, intel, on_load]  # each, when it succeeds, hands its data set to the Train tab
