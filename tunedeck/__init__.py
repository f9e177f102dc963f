"""The `tunedeck` command: one entry point that hands each subcommand to the part that owns it."""
