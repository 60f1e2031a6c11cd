"""``python -m pykarabo`` runs the ``pykarabo`` command line."""

from pykarabo.cli import main

raise SystemExit(main())
