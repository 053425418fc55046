"""What every command module shares: the exit code for bad input and the `--home` help.

Kept apart from the command modules so that each of them (and the parser, which imports them
all) stays free of heavy imports: `runs list` must start without torch.
"""

from __future__ import annotations

# bad input (a data error, an unknown run, a missing flag): 2, like argparse's own errors
EXIT_DATA = 2

HOME_HELP = "store folder (default: $DISTILLERY_HOME or ./data)"
