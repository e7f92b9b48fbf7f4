"""The catalog's schema migrations (Alembic scripts under ``versions/``).

Opening a catalog compares its recorded revision with :data:`HEAD_REVISION`
instead of loading these scripts, which keeps opening cheap. A test checks
that the constant names the newest script, so adding a migration means
updating it too.
"""

#: The newest schema revision: the ``revision`` of the last script in ``versions/``.
HEAD_REVISION = "0013"
