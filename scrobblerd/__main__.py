"""`python -m scrobblerd`."""

from scrobblerd.cli import main

raise SystemExit(main())
