"""``python -m lstm_viz_app``: the same as the ``lstm-viz`` command."""

import sys

from .cli import main

sys.exit(main())
