"""Start the vision_demo web app (Gradio): python app.py [--host 0.0.0.0] [--port 7860] [--online] ...

Offline by default. A class on the LAN needs HTTPS for the webcam: make a self-signed pair once with
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=vision-demo" -keyout key.pem -out cert.pem
and start with --host 0.0.0.0 --ssl-certfile cert.pem --ssl-keyfile key.pem (students accept the warning).
On Hugging Face Spaces this file is run as is; the host and port come from GRADIO_SERVER_NAME/PORT.
"""
import argparse

from vision_demo import settings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="vision_demo: transfer learning and one-pass detection in a browser")
    parser.add_argument("--host", default=None,
                        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 = the LAN)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--work-dir", default=None,
                        help="folder for everything the app writes (default: $VISION_DEMO_HOME or ./vision_demo_work)")
    parser.add_argument("--online", action="store_true",
                        help="allow downloads (ResNet-18 ImageNet weights, yolov8n.pt, the Intel data set)")
    parser.add_argument("--share", action="store_true",
                        help="also open a public *.gradio.live link (needs the internet)")
    parser.add_argument("--ssl-certfile", default=None, help="HTTPS certificate (webcam on the LAN needs HTTPS)")
    parser.add_argument("--ssl-keyfile", default=None, help="HTTPS private key for --ssl-certfile")
    parser.add_argument("--no-isolation", action="store_true",
                        help="leave out the COOP/COEP headers (also VISION_DEMO_ISOLATION=0): in-browser models then "
                             "run on one thread, but the app can be embedded in another site's page")
    from vision_demo.cli import add_executor_options   # --executor, --job-cpus, --job-gpus, as the CLI has them

    add_executor_options(parser)
    args = parser.parse_args(argv)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        parser.error("--ssl-certfile and --ssl-keyfile go together")
    return args


if __name__ == "__main__":
    args = parse_args()
    settings.configure(work=args.work_dir, online_mode=True if args.online else None, executor_spec=args.executor,
                       cpus_per_job=args.job_cpus, gpus_per_job=args.job_gpus)
    from vision_demo.errors import VisionDemoError
    from vision_demo.jobs import make_executor

    try:
        make_executor()   # a bad --executor / --job-cpus is one line now, not a failed first job (Ray is reached later)
    except VisionDemoError as err:
        raise SystemExit(f"error: {err}")
    from vision_demo.ui.app import build_demo, launch_options, start_warmup  # after configure(): gradio reads the environment

    demo = build_demo(warm_up=False)
    demo.launch(**launch_options(args.host, args.port, args.share, args.ssl_certfile, args.ssl_keyfile,
                                 isolation=False if args.no_isolation else None),
                prevent_thread_lock=True)
    start_warmup()        # once the server answers: torch's import would slow its start (the GIL, 2 cores)
    demo.block_thread()
