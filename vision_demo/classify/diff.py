"""What fine-tuning fixed: the test images one finished run got wrong and another got right, and the reverse.

    from vision_demo.classify.diff import error_diff, load_result
    diff = error_diff(load_result("<frozen job id>"), load_result("runs/finetune"))
    diff["counts"]        # {"fixed": 7, "broke": 2, "both_wrong": 11, "both_right": 160}
    diff["fixed"][0]      # {"path", "true", "a_pred", "a_confidence", "b_pred", "b_confidence"}

    python -m vision_demo diff JOB_A JOB_B        # a job id, or the --out folder of a `train` run

The two runs must have been tested on the same images with the same classes (two strategies on one data
set): images are matched by path. Runs saved before every test prediction was kept (`test_predictions`)
have only a sample, and are refused with a sentence.
"""
from __future__ import annotations


from vision_demo.errors import VisionDemoError


def load_result(job_or_folder: str, registry=None) -> dict:
    """A finished classification run's result: a job id of the registry (default: the work folder's), or a folder
    holding result.json (a job's folder, or the --out folder of `train`)."""
    from vision_demo.jobs import finished_result

    result, name, _ = finished_result(job_or_folder, ("classify",), registry, what="finished classification job")
    return dict(result, name=name)


def error_diff(a: dict, b: dict) -> dict:
    """{"a", "b" (names), "counts", "fixed", "broke", "both_wrong"}: per test image, what each run predicted."""
    for name, result in (("first", a), ("second", b)):
        if not result.get("test_predictions"):
            raise VisionDemoError(f"the {name} run ({result.get('name', '?')}) has no saved test predictions "
                                  "(runs before this version kept only a sample): train it again")
    if list(a.get("classes") or []) != list(b.get("classes") or []):
        raise VisionDemoError(f"the two runs know different classes ({a.get('classes')} vs {b.get('classes')}): "
                              "compare two runs on the same data")
    b_by_path = {p["path"]: p for p in b["test_predictions"]}
    if set(b_by_path) != {p["path"] for p in a["test_predictions"]}:
        raise VisionDemoError("the two runs were tested on different images: compare two runs on the same data")
    out = {"a": a.get("name", "A"), "b": b.get("name", "B"), "fixed": [], "broke": [], "both_wrong": []}
    both_right = 0
    for pa in a["test_predictions"]:
        pb = b_by_path[pa["path"]]
        a_ok, b_ok = pa["pred"] == pa["true"], pb["pred"] == pb["true"]
        if a_ok and b_ok:
            both_right += 1
            continue
        row = {"path": pa["path"], "true": pa["true"], "a_pred": pa["pred"], "a_confidence": pa["confidence"],
               "b_pred": pb["pred"], "b_confidence": pb["confidence"]}
        out["fixed" if b_ok else "broke" if a_ok else "both_wrong"].append(row)
    out["counts"] = {"fixed": len(out["fixed"]), "broke": len(out["broke"]), "both_wrong": len(out["both_wrong"]),
                     "both_right": both_right}
    return out
