"""No parallel workers for a query of this database.

Every query the product runs reads a page, a row or a trade's rows; none scans enough to gain
from parallel workers, and starting them costs each query more than it reads (10 to 15 ms on
the benchmark's machine). The planner still chose them where it expected to walk many index
entries for a page: `?status=in_transit&commodity=water` at a million trades took 18 ms with
two workers instead of a few (bench/list_scaling.py). Set on the database, like
random_page_cost (0002), so that every session has it, PgBouncer's included; an operator may
choose otherwise with ALTER DATABASE ... SET, or SET in a session for a report.
"""

from django.db import migrations

SET = """
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET max_parallel_workers_per_gather = 0', current_database());
END $$;
"""

RESET = """
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I RESET max_parallel_workers_per_gather', current_database());
END $$;
"""


class Migration(migrations.Migration):
    # Written when this app was the project package `tradenet`: a database migrated then has
    # these as ("tradenet", ...), and Django counts them as this one (0004 moves the rest).
    replaces = [("tradenet", "0003_no_parallel_queries")]

    dependencies = [("core", "0002_planner_costs")]

    operations = [migrations.RunSQL(SET, RESET)]
