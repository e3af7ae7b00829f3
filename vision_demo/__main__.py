from vision_demo.cli import main

raise SystemExit(main())
