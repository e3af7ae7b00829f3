"""What makes the page work on a 1280×720 class projector: the theme, the CSS, presenter mode, and
`reveal`, which scrolls a button's result into view.

    demo.launch(css=CSS, theme=theme(), js=PAGE_JS)
    presenter, dark = presenter_switches()      # in the header; `?presenter=1` in the URL turns it on
    reveal(button, "job-progress")              # after a click, #job-progress is on screen

Presenter mode only changes CSS variables on <body> (class `vd-presenter`): larger text, helper text
and labels in the body colour (no pale grey), stronger borders. Dark/light is Gradio's own `dark`
class on <body> (what `?__theme=dark` sets). Neither reaches the server.
"""
from __future__ import annotations

import gradio as gr


def theme() -> gr.themes.Base:
    """Gradio's default theme one size up, with helper text and labels dark enough to read from the back."""
    return gr.themes.Default(text_size="lg").set(
        block_info_text_color="*neutral_700", block_info_text_color_dark="*neutral_300",
        block_label_text_color="*neutral_700", block_label_text_color_dark="*neutral_200",
        body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_300",
    )


CSS = """
.gradio-container { max-width: 100% !important; padding-top: 2px !important; }
#vd-header { align-items: center; gap: 8px; flex-wrap: nowrap; }
#vd-header h3 { margin: 0 !important; font-size: 22px !important; line-height: 1.2; }
:root body.vd-presenter #vd-header h3 { font-size: 26px !important; }
#vd-header .block { padding: 4px 8px !important; }
#presenter-mode, #dark-mode { flex: 0 0 auto !important; width: auto !important; min-width: 0 !important; }
.vd-intro { border-left: 4px solid #1f77b4; padding-left: 10px; }
.vd-intro p { margin: 0 !important; }
table.vd-jobs { width: 100%; font-size: var(--text-md); border-collapse: collapse; }
table.vd-jobs td, table.vd-jobs th { padding: 3px 6px; vertical-align: middle; white-space: nowrap; text-align: left; }
/* the table fits its column: job names wrap between words, the message too, never inside a word ("finish/ed") */
table.vd-jobs td.vd-name { white-space: normal; }
table.vd-jobs td.vd-message { white-space: normal; overflow-wrap: break-word; word-break: normal; font-size: var(--text-sm); }
:root body.vd-presenter table.vd-jobs .vd-epoch { display: none; }
p.vd-summary, p.vd-empty { margin: 2px 0 6px 0 !important; font-size: var(--text-md); }
/* gallery captions: the whole "✖ glacier → mountain (0.61)", wrapped, at a readable size */
.vd-captions .caption-label { white-space: normal !important; text-overflow: clip !important; overflow: visible !important;
  max-width: calc(100% - 8px) !important; font-size: var(--text-md) !important; line-height: 1.2; }
/* table headers break between words, never inside one ("devic e") */
.vd-table th, .vd-table th * { word-break: normal !important; overflow-wrap: normal !important; hyphens: none; }
.vd-note { font-size: var(--text-md); }
.vd-question { font-style: italic; }
.vd-tab-ref { white-space: nowrap; color: var(--body-text-color-subdued); }
#lesson-question { border-left: 4px solid #ff7f0e; padding: 2px 10px !important; }
#lesson-question p { margin: 0 !important; }
.vd-lesson-row { align-items: center !important; border-bottom: 1px solid var(--border-color-primary); padding: 0; gap: 8px !important; }
.vd-lesson-row .prose p { margin: 0 !important; }
.vd-lesson-row > div { min-width: 0; }
/* ten tabs fit one row at 1280 px (Gradio hides what does not fit behind a "..." menu; a second row pushed every tab 32 px down) */
.gradio-container button[role="tab"] { padding-left: 5px !important; padding-right: 5px !important; }

/* presenter mode: big, high contrast (works in light and dark) */
:root body.vd-presenter {
  --text-xxs: 14px; --text-xs: 16px; --text-sm: 18px; --text-md: 21px; --text-lg: 24px; --text-xl: 30px; --text-xxl: 34px;
  --body-text-color-subdued: var(--body-text-color); --block-info-text-color: var(--body-text-color);
  --block-label-text-color: var(--body-text-color); --block-title-text-color: var(--body-text-color);
  --input-placeholder-color: var(--body-text-color-subdued);
  --border-color-primary: var(--neutral-500); --block-border-width: 2px; --input-border-width: 2px;
  /* the theme's sizes that are made of the ones above: declared again here, or they keep the values they
     were given on :root (labels and buttons stayed 16 / 20 px in presenter mode) */
  --block-info-text-size: var(--text-sm); --block-label-text-size: var(--text-sm);
  --block-title-text-size: var(--text-md); --checkbox-label-text-size: var(--text-md);
  --button-large-text-size: var(--text-lg); --button-medium-text-size: var(--text-md);
  --button-small-text-size: var(--text-sm);
  /* not --input-text-size nor --table-text-size: long job names in the pickers and the per-class tables of
     two detectors side by side would no longer fit (the projector test found them cut); our own tables grow */
}
:root body.vd-presenter.dark { --border-color-primary: var(--neutral-400); --body-background-fill: #000; }
/* ...and the plots' text: Plotly writes its sizes in px on each SVG text (FONT_SIZE 14, titles 16); these win
   over them. Axis ticks and titles only: the line-end names keep the size their backing was drawn for. (A CSS
   zoom of the whole plot was tried: Plotly does not lay it out again, and the zoomed plot ran past its box.) */
:root body.vd-presenter .js-plotly-plot .xtick text, :root body.vd-presenter .js-plotly-plot .ytick text,
:root body.vd-presenter .js-plotly-plot .g-xtitle text, :root body.vd-presenter .js-plotly-plot .g-ytitle text,
:root body.vd-presenter .js-plotly-plot .legendtext { font-size: 17.5px !important; }
:root body.vd-presenter .js-plotly-plot .gtitle { font-size: 19px !important; }
/* Plotly laid the plot out for the normal 1 px block border: the thicker presenter border would cut 2 px off it */
:root body.vd-presenter .block:has(.js-plotly-plot) { --block-border-width: 1px; }
/* every dataframe's cells grow 1.25x (16 -> 20 px): not to --text-md (21 px), where the per-class tables of two
   detectors side by side would not fit their half of the screen */
:root body.vd-presenter .vd-table td, :root body.vd-presenter .vd-table td * { font-size: 20px !important; }
/* a small table of short cells (the Inside tab's parameter counts) grows with the rest of the text */
:root body.vd-presenter .vd-grow { --table-text-size: var(--text-md); }
:root body.vd-presenter .vd-grow td, :root body.vd-presenter .vd-grow td * { font-size: var(--text-md) !important; }
/* dataframe cells wrap between words instead of hiding the end of a long job name */
.vd-table td, .vd-table td * { white-space: normal !important; overflow-wrap: break-word; text-overflow: clip !important; }
"""

# Run once when the page loads: `?presenter=1` (and `?__theme=dark`) set the header switches, whose
# change events then apply the classes; nothing reaches the server.
READ_URL_JS = """() => {
  const q = new URLSearchParams(window.location.search);
  return [q.get('presenter') === '1', document.body.classList.contains('dark') || q.get('__theme') === 'dark'];
}"""

APPLY_JS = """(presenter, dark) => {
  document.body.classList.toggle('vd-presenter', !!presenter);
  document.body.classList.toggle('dark', !!dark);
  window.dispatchEvent(new Event('resize'));  // plots re-measure their boxes at the new font size
}"""


def presenter_switches(demo: gr.Blocks):
    """The header's two checkboxes (presenter mode, dark), wired in the browser only."""
    presenter = gr.Checkbox(False, label="Presenter mode (?presenter=1)", elem_id="presenter-mode", scale=0,
                            min_width=250, container=False)
    dark = gr.Checkbox(False, label="Dark", elem_id="dark-mode", scale=0, min_width=90, container=False)
    for box in (presenter, dark):
        box.change(None, [presenter, dark], None, js=APPLY_JS, api_visibility="private", queue=False)
    demo.load(None, None, [presenter, dark], js=READ_URL_JS, api_visibility="private", queue=False)
    return presenter, dark


def reveal(button: gr.Button, elem_id: str, whole: bool = False, when_shown: bool = False) -> None:
    """On click, scroll the element that will show the button's result into view when it is off screen.

    whole: the element's whole box must be on screen, not just its top (a result of several parts, such as
    two images with their captions): its bottom is scrolled up to the window's.
    when_shown: the element is on another tab that the click opens (the lesson plan's buttons): wait, up to 3 s,
    until it is displayed, then scroll.
    Runs in the browser only, at the moment of the click, next to the button's own event.
    """
    if whole:
        js = ("() => { const e = document.getElementById(%r); if (!e) return;"
              " const r = e.getBoundingClientRect();"
              " if (r.top < 0 || r.bottom > window.innerHeight)"
              " e.scrollIntoView({block: 'end', behavior: 'instant'}); }") % elem_id
    else:
        js = ("() => { const e = document.getElementById(%r); if (!e) return;"
              " const r = e.getBoundingClientRect();"
              " if (r.top < 0 || r.top + Math.min(r.height, 160) > window.innerHeight)"
              " e.scrollIntoView({block: 'start', behavior: 'instant'}); }") % elem_id
    if when_shown:   # poll every 50 ms until the tab that holds it is open (a hidden element has no box)
        js = ("() => { const go = (n) => { const e = document.getElementById(%r);"
              " if (e && e.getClientRects().length) (%s)(); else if (n > 0) setTimeout(() => go(n - 1), 50); };"
              " go(60); }") % (elem_id, js)
    button.click(None, None, None, js=js, api_visibility="private", queue=False)
