"""The Inside-the-model tab's two plots, from job results: test accuracy by stage (the linear probe) and
test accuracy / trainable weights / wall time by number of unfrozen blocks (the unfreeze sweep)."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vision_demo.ui.job_view import FONT_SIZE, _color


def probe_figure(result: dict) -> go.Figure:
    """Test accuracy (%) per stage, stem to last: the ImageNet backbone frozen, the scratch side, chance."""
    rows = result.get("pretrained") or []
    labels = [f"{r['stage']}<br>{r['channels']} ch {r['size'][0]}×{r['size'][1]}" for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=labels, y=[100 * r["test_acc"] for r in rows], mode="lines+markers+text",
                             name=result.get("pretrained_label", "ImageNet"), line=dict(color=_color(0), width=3),
                             text=[f"{100 * r['test_acc']:.0f}" for r in rows], textposition="top center",
                             hovertemplate="%{x}: %{y:.1f} %<extra>%{fullData.name}</extra>"))
    scratch = {r["stage"]: r for r in result.get("scratch") or []}
    if scratch and all(r["stage"] in scratch for r in rows):   # the same network: same stages, same x
        fig.add_trace(go.Scatter(x=labels, y=[100 * scratch[r["stage"]]["test_acc"] for r in rows],
                                 mode="lines+markers", name=result.get("scratch_label", "scratch"),
                                 line=dict(color=_color(1), dash="dash"),
                                 hovertemplate="%{x}: %{y:.1f} %<extra>%{fullData.name}</extra>"))
    elif scratch:   # another network (a trained scratch job): its own stages, on the same axis by position
        srows = result["scratch"]
        fig.add_trace(go.Scatter(x=labels[:len(srows)], y=[100 * r["test_acc"] for r in srows], mode="lines+markers",
                                 name=result.get("scratch_label", "scratch"), line=dict(color=_color(1), dash="dash"),
                                 text=[r["stage"] for r in srows],
                                 hovertemplate="%{text}: %{y:.1f} %<extra>%{fullData.name}</extra>"))
    chance = 100 * float(result.get("chance", 0))
    fig.add_hline(y=chance, line=dict(color="#888", dash="dot"), annotation_text=f"chance {chance:.0f} %",
                  annotation_position="bottom right")
    fig.update_layout(title="Linear probe: test accuracy of a logistic regression on each stage's features",
                      yaxis=dict(title="test accuracy (%)", range=[0, 105]), height=380, template="plotly_white",
                      margin=dict(l=60, r=20, t=50, b=60), font=dict(size=FONT_SIZE - 1),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1, font=dict(size=12)),
                      uirevision="probe")
    fig.update_xaxes(tickfont=dict(size=11))
    return fig


def unfreeze_figure(rows: list[dict], frozen: dict | None = None) -> go.Figure:
    """Per k: test accuracy (line, left axis), trainable weights (bars, right axis, log), wall time as text."""
    names = ["head only" if r["k"] == 0 else ("all " + str(r["k"]) if r["all"] else f"last {r['k']}") for r in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=names, y=[r["trainable_params"] for r in rows], name="trainable weights",
                         marker_color="#c6dbef", text=[f"{r['wall_seconds']:.0f} s" for r in rows],
                         textposition="inside", insidetextanchor="start",
                         hovertemplate="%{x}: %{y:,} weights, %{text}<extra></extra>"), secondary_y=True)
    fig.add_trace(go.Scatter(x=names, y=[100 * r["test_acc"] for r in rows], mode="lines+markers+text",
                             name="test accuracy", line=dict(color=_color(0), width=3),
                             text=[f"{100 * r['test_acc']:.1f}" for r in rows], textposition="top center",
                             hovertemplate="%{x}: %{y:.1f} %<extra></extra>"), secondary_y=False)
    if frozen:
        fig.add_hline(y=100 * frozen["test_acc"], line=dict(color="#888", dash="dot"),
                      annotation_text=f"frozen {100 * frozen['test_acc']:.1f} %", annotation_position="bottom right")
    fig.update_layout(title="Fine-tuning with the last k blocks unfrozen (lr 1e-4; bar text: wall time)",
                      height=380, template="plotly_white", margin=dict(l=60, r=70, t=50, b=50),
                      font=dict(size=FONT_SIZE - 1), uirevision="unfreeze",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1, font=dict(size=12)))
    fig.update_yaxes(title_text="test accuracy (%)", range=[0, 105], secondary_y=False)
    fig.update_yaxes(title_text="trainable weights", type="log", dtick=1, tickformat="~s", secondary_y=True,
                     showgrid=False)
    fig.update_xaxes(title_text="blocks unfrozen (from the end) + the head")
    return fig
