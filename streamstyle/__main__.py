"""``python -m streamstyle`` runs the command line."""

from streamstyle.cli import console

console()
