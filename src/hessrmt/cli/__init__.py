"""The ``hessrmt`` command line. See :mod:`hessrmt.cli.main`."""
