"""Tell PostgreSQL's planner that a random read costs little more than a sequential one.

The default random_page_cost (4) describes spinning disks. On SSDs, or with the working set in
memory, it makes the planner walk a whole index in order and filter (every row of a million
shipments) rather than fetch the few hundred rows two indexes point at and sort them: at a
million trades, a station's shipments in transit took 22 ms that way instead of 5. 1.1 is the
usual setting for SSD storage. Set on the database, so that every session has it (PgBouncer
included); an operator may still choose otherwise with ALTER DATABASE ... SET.
"""

from django.db import migrations

SET = """
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET random_page_cost = 1.1', current_database());
END $$;
"""

RESET = """
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I RESET random_page_cost', current_database());
END $$;
"""


class Migration(migrations.Migration):
    # Written when this app was the project package `tradenet`: a database migrated then has
    # these as ("tradenet", ...), and Django counts them as this one (0004 moves the rest).
    replaces = [("tradenet", "0002_planner_costs")]

    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunSQL(SET, RESET)]
