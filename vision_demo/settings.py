"""Every knob that is not a training hyper-parameter: the work folder, offline switches, limits.

The work folder holds everything the app writes: jobs and their weights, extracted uploads,
generated data sets, Ultralytics' settings and runs. Nothing is written outside it.

    VISION_DEMO_HOME=/tmp/vd python -m vision_demo ...   # choose the work folder
    VISION_DEMO_ONLINE=1 python app.py                   # allow downloads (ResNet-18 weights, yolov8n.pt, Kaggle)
    VISION_DEMO_EXECUTOR=ray:10.0.0.5:6379 python app.py # training jobs on a Ray cluster (README: Department cluster)

On a Hugging Face Space (SPACE_ID set) downloads are on unless VISION_DEMO_ONLINE=0, and the work folder is
the Space's persistent storage (/data/vision_demo_work) when it has one.
"""
import os
import sys
from pathlib import Path

# Limits on what a user can hand us, sized for teaching data sets: the largest we use, Kaggle's Intel Image
# Classification (25k JPEGs), is ~350 MB zipped and ~360 MB unzipped, and fits inside every one of them.
MAX_UPLOAD_MB = 500                  # gradio refuses larger uploads before they reach us
MAX_ZIP_FILES = 40_000               # a zip with more members is refused
MAX_UNZIPPED_BYTES = 768 * 1024**2   # a zip that inflates past 768 MiB is refused, before anything is written
MAX_ZIP_RATIO = 50                   # ... and one that inflates past 50x its own size (photos: ~1x; a bomb: 1000x)
MAX_ZIP_RATIO_FREE = 64 * 1024**2    # the ratio applies past 64 MiB inflated (small sets of text labels compress well)
MAX_UPLOADS_BYTES = 3 * 1024**3      # all extracted uploads together; the least recently used go first
UPLOAD_KEEP_SECONDS = 600            # an upload used in the last 10 minutes is never removed to make room
MAX_IMAGE_PIXELS = 40_000_000        # larger images are refused (decompression bomb); a 12 MP photo is fine
MAX_DATA_YAML_BYTES = 64 * 1024      # a data.yaml is a few hundred bytes; 80 COCO names are 1 KB
MAX_CLASSES = 1000                   # class names a data set may declare (ImageNet has 1000)
MAX_ACTIVE_JOBS_PER_CLIENT = 4       # queued + running training jobs one visitor may have ("Compare all four")
# Train & compare, before a big set starts: the time "Compare all four" would take here is measured (a few real
# batches, classify/compare_time.py) when a set has this many training images, and shown, with the images per
# class that fit the budget, when it takes longer. The built-in scenes (240 training images) are never measured.
COMPARE_BUDGET_SECONDS = 120         # what a compare may take in a lesson: ~2 minutes of a class period
COMPARE_MEASURE_FROM_IMAGES = 1000   # smaller sets are not measured (a few seconds saved on every change)
# "Your classes" (pictures captured from a webcam or uploaded, one set per browser): Teachable Machine's
# classroom use is 2-4 classes of ~30 pictures; the limits leave room for that several times over.
CAPTURED_MAX_CLASSES = 6             # classes one set may have
CAPTURED_MAX_PER_CLASS = 150         # pictures per class
CAPTURED_MAX_BYTES = 40 * 1024**2    # one set on disk (a 256 px JPEG is ~10-20 KB: 900 pictures fit)
CAPTURED_SIDE = 256                  # pictures are stored downscaled to this longest side (training uses 128 px)
CAPTURED_TOTAL_BYTES = 1024**3       # all sets together; the least recently used go first beyond it
CAPTURED_KEEP_DAYS = 14              # a set nobody opened for two weeks is removed (Your objects' sets too)
# "Your objects" (webcam pictures with boxes, one set per browser): 2-3 objects x 20-40 pictures in class.
OBJECTS_MAX_CLASSES = 6              # object classes one set may have
OBJECTS_MAX_PICTURES = 300           # pictures per set
OBJECTS_MAX_BOXES = 50               # boxes on one picture
OBJECTS_MAX_BYTES = 60 * 1024**2     # one set on disk (a 640x480 JPEG is ~40-60 KB: 300 pictures fit)
OBJECTS_SIDE = 640                   # pictures are stored downscaled to this longest side (training uses 320 px)
OBJECTS_TOTAL_BYTES = 2 * 1024**3    # all object sets together; the least recently used go first beyond it


# A Hugging Face Space: it sets SPACE_ID (and SPACE_AUTHOR_NAME, SPACE_REPO_NAME, SYSTEM=spaces). Its disk is
# wiped at every restart except the paid persistent storage, mounted at /data.
SPACE_PERSISTENT_DIR = Path("/data")


def on_space() -> bool:
    """True inside a Hugging Face Space."""
    return bool(os.environ.get("SPACE_ID"))


def _persistent_space_dir() -> Path | None:
    folder = SPACE_PERSISTENT_DIR
    if on_space() and folder.is_dir() and os.access(folder, os.W_OK | os.X_OK):
        return folder / "vision_demo_work"
    return None


def work_path() -> Path:
    """Where the work folder is (not created: importing the package writes nothing): $VISION_DEMO_HOME, else
    a Space's persistent storage (/data) when it has one, else ./vision_demo_work."""
    chosen = os.environ.get("VISION_DEMO_HOME") or _persistent_space_dir() or Path.cwd() / "vision_demo_work"
    return Path(chosen).expanduser().resolve()


def persistence_note() -> str:
    """'' when results survive a restart; else a sentence for the Data tab (a Space without persistent storage)."""
    if on_space() and not os.environ.get("VISION_DEMO_HOME") and _persistent_space_dir() is None:
        return ("This Space has no persistent storage: trained jobs, uploads and downloads are lost when it "
                "restarts. Add persistent storage (mounted at /data) in the Space's settings to keep them.")
    return ""


def work_dir() -> Path:
    """The folder everything is written under (created on first use)."""
    path = work_path()
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(*parts: str) -> Path:
    """A folder inside the work folder, e.g. subdir("jobs") or subdir("datasets", "scenes")."""
    path = work_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def online() -> bool:
    """True when downloads (weights, data sets) are allowed: asked for with --online / VISION_DEMO_ONLINE=1, or
    inside a Hugging Face Space (it has a network) unless VISION_DEMO_ONLINE=0. Offline is the default."""
    value = os.environ.get("VISION_DEMO_ONLINE", "").strip().lower()
    if not value:
        return on_space()
    return value in ("1", "true", "yes")


def executor() -> str:
    """Where training jobs run: "local" (this process, the default), "ray:HOST:PORT" or "ray:auto" (a Ray
    cluster; see jobs.make_executor). From --executor / VISION_DEMO_EXECUTOR."""
    return os.environ.get("VISION_DEMO_EXECUTOR", "").strip() or "local"


def _resource(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        from vision_demo.errors import VisionDemoError
        raise VisionDemoError(f"{name}={value!r}: give a number of {'CPUs' if 'CPU' in name else 'GPUs'} per job, e.g. 2")
    return number


def job_cpus() -> float:
    """CPUs one training job asks a cluster for (--job-cpus / VISION_DEMO_JOB_CPUS): torch trains on that many
    threads in the worker (2: what a laptop core pair gives; more on a big node)."""
    return _resource("VISION_DEMO_JOB_CPUS", 2.0) or 1.0


def job_gpus() -> float:
    """GPUs one training job asks a cluster for (--job-gpus / VISION_DEMO_JOB_GPUS): 0 trains on CPUs, 1 on a
    GPU of its own (Ray sets CUDA_VISIBLE_DEVICES for the job), 0.5 shares one between two jobs."""
    return _resource("VISION_DEMO_JOB_GPUS", 0.0)


_OURS = "_VISION_DEMO_SET"  # names of the variables we set ourselves, so configure() may change them again


def configure(work: str | os.PathLike | None = None, online_mode: bool | None = None, executor_spec: str | None = None,
              cpus_per_job: float | None = None, gpus_per_job: float | None = None) -> None:
    """Set the environment that keeps libraries inside the work folder and off the network.

    Must run before ultralytics is imported (it reads YOLO_CONFIG_DIR and YOLO_OFFLINE at import).
    Variables a user exported themselves are left alone.
    """
    if work is not None:
        os.environ["VISION_DEMO_HOME"] = str(Path(work).expanduser().resolve())
    if online_mode is not None:
        os.environ["VISION_DEMO_ONLINE"] = "1" if online_mode else "0"
    for name, value in (("VISION_DEMO_EXECUTOR", executor_spec), ("VISION_DEMO_JOB_CPUS", cpus_per_job),
                        ("VISION_DEMO_JOB_GPUS", gpus_per_job)):
        if value is not None:
            os.environ[name] = str(value)
    ours = set(filter(None, os.environ.get(_OURS, "").split(",")))

    def put(name: str, value: str | None) -> None:
        if name in os.environ and name not in ours:
            return  # the user's own choice wins
        if value is None:
            os.environ.pop(name, None)
            ours.discard(name)
        else:
            os.environ[name] = value
            ours.add(name)

    offline = not online()
    put("YOLO_CONFIG_DIR", str(work_path() / "ultralytics"))   # settings.json, fonts: not ~/.config
    put("YOLO_OFFLINE", "1" if offline else None)              # no settings sync, no asset downloads
    put("HF_HUB_OFFLINE", "1" if offline else None)            # gradio_client / timm never call the hub
    put("GRADIO_ANALYTICS_ENABLED", "False")                   # no telemetry, ever (exactly "False")
    put("ULTRALYTICS_SAFE_LOAD", "1")                          # .pt files load with weights_only=True
    put("YOLO_AUTOINSTALL", "False")                           # never pip-install a "missing" package at run time
    put("MPLBACKEND", "Agg")                                   # plots from worker threads, no display
    # torch's OpenMP threads spin-wait after every parallel region (Ultralytics runs pre- and post-processing
    # in torch even for an OpenVINO model) and take the cores OpenVINO's own threads need: measured here,
    # OpenVINO at 320 px 40-50 ms with spinning threads, 26-27 ms with PASSIVE; torch inference unchanged.
    # Read once when torch loads, so it is set here, before anything imports torch.
    put("OMP_WAIT_POLICY", "PASSIVE")
    # `import ultralytics` sets OMP_NUM_THREADS=1 when it is unset ("reduced CPU utilization"): on a 2-core
    # laptop that would train on one core. Say how many there are first (devices.use_all_cores keeps to it).
    from vision_demo.devices import usable_cores
    put("OMP_NUM_THREADS", str(usable_cores()))
    os.environ[_OURS] = ",".join(sorted(ours))
    _no_openvino_telemetry()


def _no_openvino_telemetry() -> None:
    """OpenVINO's model converter (what Ultralytics' OpenVINO export calls) reports usage to Google Analytics
    and writes a client id to ~/intel/ unless a consent file there says no. It has no environment switch
    (only CI=true, which changes other libraries too), but it falls back to a do-nothing stub when the
    `openvino_telemetry` package cannot be imported (openvino/tools/ovc/telemetry_utils.py): make it so.
    A None entry in sys.modules makes `import openvino_telemetry` raise ImportError."""
    if "openvino.tools.ovc.telemetry_utils" not in sys.modules:   # not yet bound to the real package
        sys.modules["openvino_telemetry"] = None
