"""`python -m minewatch` = the `minewatch` command."""

from minewatch.cli import main

main()
