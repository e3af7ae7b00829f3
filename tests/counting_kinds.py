"""Job kinds for the executor tests, named "counting_kinds:..." so that a Ray worker imports them itself (the
test head runs with tests/ on its PYTHONPATH). Real loops, real sleeps: they only leave out the training."""
import os
import time
from pathlib import Path


def counting(config):
    """epochs x batches steps of `delay` s, a stop check before each; waits for config["gate"] (a file) first;
    appends its pid to OUT/starts.txt (a retried job would add a second line)."""
    def fn(ctx):
        with open(ctx.out_dir / "starts.txt", "a") as f:
            f.write(f"{os.getpid()}\n")
        gate = config.get("gate")
        while gate and not Path(gate).exists():
            ctx.check_stop()
            time.sleep(0.02)
        epochs, batches, delay = config.get("epochs", 1), config.get("batches", 5), config.get("delay", 0.01)
        for epoch in range(1, epochs + 1):
            for batch in range(batches):
                ctx.check_stop()
                time.sleep(delay)
                ctx.progress(((epoch - 1) * batches + batch + 1) / (epochs * batches), f"pid {os.getpid()} batch {batch}",
                             epoch=epoch, force=config.get("every_batch", True))
            ctx.emit("epoch_end", epoch=epoch, train_loss=1.0 / epoch)
        result = {"test_acc": 0.5 + epochs / 100, "pid": os.getpid()}
        if config.get("threads"):
            import torch

            result.update(torch_threads=torch.get_num_threads(), omp=os.environ.get("OMP_NUM_THREADS"))
        return result
    return fn


def reading(config):
    """Returns what ctx.get says of the job it depends on (config["of"])."""
    def fn(ctx):
        other = ctx.get(config["of"])
        return {"other_status": other.status, "other_acc": (other.result or {}).get("test_acc"), "pid": os.getpid()}
    return fn


def failing(config):
    def fn(ctx):
        from vision_demo.errors import VisionDemoError

        if config.get("bug"):
            return 1 / 0
        raise VisionDemoError("the data folder has no class sub-folders: put images in train/<class>/")
    return fn


KINDS = {"count": "counting_kinds:counting", "read": "counting_kinds:reading", "fail": "counting_kinds:failing"}
