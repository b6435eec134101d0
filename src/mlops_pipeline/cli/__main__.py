"""`python -m mlops_pipeline.cli`: what the launcher uses to start its own subcommands."""

from mlops_pipeline.cli.main import main

raise SystemExit(main())
