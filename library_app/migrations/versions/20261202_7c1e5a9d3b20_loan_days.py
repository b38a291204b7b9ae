"""loan_days and loan_year_children: what the reports count of loans, kept by triggers on loans

The annual report counted a year's loans and visits (one child, one point, one day) from the
year's loans, a distinct count over ~90,000 index entries a year at a million loans (~30 ms
on SQLite, ~20 ms on PostgreSQL, twice: the year and last year). loan_days holds those two
figures per (day, point): a year is ~7,300 rows. Triggers keep it on every write to loans,
whatever wrote it; existing loans are summed into it here.

loan_year_children holds each (local year, child, point) with the child's counted loans
there: the annual report's children served, overall and per point, are then the year's rows
(~63,000 at a million loans, the year's loans read three times before), without a distinct
pass over the loans. ix_loans_year_served, which served that pass, goes.

A counted loan is one not undone. Its (lent_day, point_id) row gains a loan, and a visit
unless the child already has a counted loan there that day (a loan without a known child is
a visit of its own); taking a loan away (undone, deleted, or moved to another day, point or
child) reverses that, the visit going only with the child's last loan there that day, and
the row with the day's last loan: loan_days is exactly the sum of the loans.
On PostgreSQL the triggers run BEFORE each row (SQLite's AFTER triggers run as each row is
written): AFTER row triggers there run only once the whole statement is done, when a
multi-row insert's loans all see each other and none would open the visit. The trigger first takes the (day, point) row's lock (an upsert), then looks for
the child's other loans in a statement of its own, which in READ COMMITTED sees whatever a
writer that held the lock before it committed: two phones lending to one child at once make
one visit. (A batch that meets another in a circle of these locks is a deadlock victim,
retried whole by circulation.txn.write.) SQLite has one writer at a time.

Revision ID: 7c1e5a9d3b20
Revises: 3f6a9c2e8b71
Create Date: 2026-12-02 06:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '7c1e5a9d3b20'
down_revision = '3f6a9c2e8b71'
branch_labels = None
depends_on = None

# "the child has no other counted loan at this day and point": ix_loans_visits answers it
_ALONE = ("NOT EXISTS (SELECT 1 FROM loans o WHERE o.lent_day = {r}.lent_day AND o.point_id = {r}.point_id "
          "AND o.borrower_id = {r}.borrower_id AND o.undone_at IS NULL AND o.id <> {r}.id)")
_VISIT = "CASE WHEN {r}.borrower_id IS NULL OR " + _ALONE + " THEN 1 ELSE 0 END"
_CHANGED = ("OLD.lent_day IS NOT NEW.lent_day OR OLD.lent_year IS NOT NEW.lent_year "
            "OR OLD.point_id IS NOT NEW.point_id OR OLD.borrower_id IS NOT NEW.borrower_id "
            "OR OLD.undone_at IS NOT NEW.undone_at")
_COLUMNS = "lent_day, lent_year, point_id, borrower_id, undone_at"
# One counted loan added (NEW) to both tables, or taken away (OLD): each statement guards itself,
# so the update trigger is the one taking away, then the one adding. A day's or a child's row
# goes with its last loan.
_ADD = f"""INSERT INTO loan_days (day, point_id, loans, visits)
  SELECT NEW.lent_day, NEW.point_id, 1, {_VISIT.format(r="NEW")} WHERE NEW.undone_at IS NULL
  ON CONFLICT (day, point_id) DO UPDATE SET loans = loans + excluded.loans, visits = visits + excluded.visits;
  INSERT INTO loan_year_children (year, borrower_id, point_id, loans)
  SELECT NEW.lent_year, NEW.borrower_id, NEW.point_id, 1 WHERE NEW.borrower_id IS NOT NULL AND NEW.undone_at IS NULL
  ON CONFLICT (year, borrower_id, point_id) DO UPDATE SET loans = loans + 1;"""
_TAKE = f"""UPDATE loan_days SET loans = loans - 1, visits = visits - {_VISIT.format(r="OLD")}
  WHERE day = OLD.lent_day AND point_id = OLD.point_id AND OLD.undone_at IS NULL;
  DELETE FROM loan_days WHERE day = OLD.lent_day AND point_id = OLD.point_id AND loans = 0;
  UPDATE loan_year_children SET loans = loans - 1
  WHERE year = OLD.lent_year AND borrower_id = OLD.borrower_id AND point_id = OLD.point_id AND OLD.undone_at IS NULL;
  DELETE FROM loan_year_children
  WHERE year = OLD.lent_year AND borrower_id = OLD.borrower_id AND point_id = OLD.point_id AND loans = 0;"""

SQLITE = [
    f"""CREATE TRIGGER loans_loan_days_insert AFTER INSERT ON loans WHEN NEW.undone_at IS NULL
BEGIN
  {_ADD}
END""",
    f"""CREATE TRIGGER loans_loan_days_delete AFTER DELETE ON loans WHEN OLD.undone_at IS NULL
BEGIN
  {_TAKE}
END""",
    f"""CREATE TRIGGER loans_loan_days_update AFTER UPDATE OF {_COLUMNS} ON loans
WHEN {_CHANGED}
BEGIN
  {_TAKE}
  {_ADD}
END""",
]

POSTGRESQL = [
    """CREATE FUNCTION loan_days_add(d date, y integer, p integer, b integer, loan integer, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- the row's lock first: a concurrent writer of this day and point commits before we look
  INSERT INTO loan_days (day, point_id, loans, visits) VALUES (d, p, 0, 0)
  ON CONFLICT (day, point_id) DO UPDATE SET loans = loan_days.loans;
  UPDATE loan_days SET loans = loans + sign,
    visits = visits + CASE WHEN b IS NULL OR NOT EXISTS (
      SELECT 1 FROM loans o WHERE o.lent_day = d AND o.point_id = p AND o.borrower_id = b
        AND o.undone_at IS NULL AND o.id <> loan) THEN sign ELSE 0 END
  WHERE day = d AND point_id = p;
  IF sign < 0 THEN
    DELETE FROM loan_days WHERE day = d AND point_id = p AND loans = 0;
  END IF;
  IF b IS NOT NULL AND sign > 0 THEN
    INSERT INTO loan_year_children (year, borrower_id, point_id, loans) VALUES (y, b, p, 1)
    ON CONFLICT (year, borrower_id, point_id) DO UPDATE SET loans = loan_year_children.loans + 1;
  ELSIF b IS NOT NULL THEN
    UPDATE loan_year_children SET loans = loans - 1 WHERE year = y AND borrower_id = b AND point_id = p;
    DELETE FROM loan_year_children WHERE year = y AND borrower_id = b AND point_id = p AND loans = 0;
  END IF;
END $$""",
    """CREATE FUNCTION loans_loan_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.undone_at IS NULL THEN
    PERFORM loan_days_add(OLD.lent_day, OLD.lent_year, OLD.point_id, OLD.borrower_id, OLD.id, -1);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.undone_at IS NULL THEN
    PERFORM loan_days_add(NEW.lent_day, NEW.lent_year, NEW.point_id, NEW.borrower_id, NEW.id, 1);
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$""",
    "CREATE TRIGGER loans_loan_days_insert BEFORE INSERT ON loans FOR EACH ROW "
    "WHEN (NEW.undone_at IS NULL) EXECUTE FUNCTION loans_loan_days()",
    "CREATE TRIGGER loans_loan_days_delete BEFORE DELETE ON loans FOR EACH ROW "
    "WHEN (OLD.undone_at IS NULL) EXECUTE FUNCTION loans_loan_days()",
    f"CREATE TRIGGER loans_loan_days_update BEFORE UPDATE OF {_COLUMNS} ON loans "
    f"FOR EACH ROW WHEN ({_CHANGED.replace(' IS NOT ', ' IS DISTINCT FROM ')}) EXECUTE FUNCTION loans_loan_days()",
]

TRIGGERS = ("loans_loan_days_insert", "loans_loan_days_delete", "loans_loan_days_update")


def upgrade() -> None:
    op.create_table('loan_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('point_id', sa.Integer(), nullable=False),
    sa.Column('loans', sa.Integer(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['point_id'], ['points.id'], name=op.f('fk_loan_days_point_id_points')),
    sa.PrimaryKeyConstraint('day', 'point_id', name=op.f('pk_loan_days'))
    )
    op.execute("INSERT INTO loan_days (day, point_id, loans, visits) "
               "SELECT lent_day, point_id, count(*), "
               "count(DISTINCT borrower_id) + sum(CASE WHEN borrower_id IS NULL THEN 1 ELSE 0 END) "
               "FROM loans WHERE undone_at IS NULL GROUP BY lent_day, point_id")
    op.create_table('loan_year_children',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('borrower_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('point_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('loans', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['borrower_id'], ['borrowers.id'], name=op.f('fk_loan_year_children_borrower_id_borrowers')),
    sa.ForeignKeyConstraint(['point_id'], ['points.id'], name=op.f('fk_loan_year_children_point_id_points')),
    sa.PrimaryKeyConstraint('year', 'borrower_id', 'point_id', name=op.f('pk_loan_year_children'))
    )
    op.execute("INSERT INTO loan_year_children (year, borrower_id, point_id, loans) "
               "SELECT lent_year, borrower_id, point_id, count(*) FROM loans "
               "WHERE undone_at IS NULL AND borrower_id IS NOT NULL GROUP BY lent_year, borrower_id, point_id")
    # the children served were read from this index; loan_year_children answers them now
    op.drop_index('ix_loans_year_served', table_name='loans')
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON loans" if postgresql else f"DROP TRIGGER {name}")
    if postgresql:
        op.execute("DROP FUNCTION loans_loan_days()")
        op.execute("DROP FUNCTION loan_days_add(date, integer, integer, integer, integer, integer)")
    op.drop_table('loan_year_children')
    op.drop_table('loan_days')
    op.create_index('ix_loans_year_served', 'loans', ['lent_year', 'borrower_id', 'point_id', 'undone_at'],
                    unique=False, sqlite_where=sa.text('undone_at IS NULL'),
                    postgresql_where=sa.text('undone_at IS NULL'))
