"""What the database itself guarantees about credits, and the accounts of existing stations.

- Entries are append-only: UPDATE and DELETE are refused (a correction is a new entry).
- The balances of all accounts, the treasury's included, sum to zero when any transaction that
  changed a balance commits (a deferred constraint trigger: it runs once the transaction's
  every leg is written, as django-hordak's does for its legs, but here behind row locks).
- The treasury, and an account for every station that exists.
"""

from django.db import migrations

INVARIANTS = """
CREATE FUNCTION credits_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credits entries are append-only: % refused (write a correcting entry)',
        TG_OP USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER credits_entry_append_only BEFORE UPDATE OR DELETE ON credits_entry
    FOR EACH ROW EXECUTE FUNCTION credits_entry_append_only();

CREATE FUNCTION credits_sum_is_zero() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
BEGIN
    SELECT coalesce(sum(balance), 0) INTO total FROM credits_account;
    IF total <> 0 THEN
        RAISE EXCEPTION 'credits would sum to % instead of zero: this transaction creates or '
            'destroys credits', total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER credits_sum_is_zero_on_update AFTER UPDATE OF balance ON credits_account
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.balance IS DISTINCT FROM NEW.balance)
    EXECUTE FUNCTION credits_sum_is_zero();
CREATE CONSTRAINT TRIGGER credits_sum_is_zero_on_insert AFTER INSERT OR DELETE ON credits_account
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION credits_sum_is_zero();
"""

DROP_INVARIANTS = """
DROP TRIGGER credits_sum_is_zero_on_insert ON credits_account;
DROP TRIGGER credits_sum_is_zero_on_update ON credits_account;
DROP FUNCTION credits_sum_is_zero();
DROP TRIGGER credits_entry_append_only ON credits_entry;
DROP FUNCTION credits_entry_append_only();
"""

ACCOUNTS = """
INSERT INTO credits_account
    (station_id, is_treasury, balance, held, incoming, credit_limit, updated_at)
VALUES (NULL, true, 0, 0, 0, 0, now());
INSERT INTO credits_account
    (station_id, is_treasury, balance, held, incoming, credit_limit, updated_at)
SELECT id, false, 0, 0, 0, 0, now() FROM inventory_station ORDER BY id;
"""


class Migration(migrations.Migration):
    dependencies = [("credits", "0001_initial")]

    operations = [
        migrations.RunSQL(INVARIANTS, DROP_INVARIANTS),
        migrations.RunSQL(ACCOUNTS, migrations.RunSQL.noop),
    ]
