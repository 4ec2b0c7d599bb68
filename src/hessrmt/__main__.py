"""``python -m hessrmt`` does what the ``hessrmt`` command does."""

from hessrmt.cli.main import main

raise SystemExit(main())
