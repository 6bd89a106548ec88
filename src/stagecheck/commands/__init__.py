"""One module per `stagecheck` subcommand; each exposes a click command named `command`."""
