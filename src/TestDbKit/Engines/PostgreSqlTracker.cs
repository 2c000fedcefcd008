using System.Data.Common;

namespace TestDbKit.Engines;

/// <summary>
/// Statement-level AFTER INSERT triggers record each written table (by oid) in an unlogged set;
/// <c>testdbkit.reset</c> deletes from just those tables with foreign-key triggers off
/// (<c>session_replication_role = replica</c>, or TRUNCATE .. CASCADE without superuser) and restarts
/// their owned sequences. A sentinel row (oid 0) tells a set that a crash emptied from a clean one.
/// </summary>
internal sealed class PostgreSqlTracker : ChangeTracker
{
    public static readonly PostgreSqlTracker Instance = new();

    private const string Install = """
        CREATE SCHEMA testdbkit;
        -- No unique key: a unique check would make a writer wait for another transaction that marked the
        -- same table first, which the test's own code would never have to do. At most one mark per table
        -- per concurrent transaction gets in twice; the reset reads them DISTINCT.
        CREATE UNLOGGED TABLE testdbkit.dirty (tbl oid NOT NULL);
        CREATE INDEX ON testdbkit.dirty (tbl);
        INSERT INTO testdbkit.dirty VALUES (0);

        CREATE FUNCTION testdbkit.mark_dirty() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog AS $f$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM testdbkit.dirty WHERE tbl = TG_RELID) THEN
            INSERT INTO testdbkit.dirty VALUES (TG_RELID);
          END IF;
          RETURN NULL;
        END $f$;

        CREATE FUNCTION testdbkit.user_tables() RETURNS SETOF regclass LANGUAGE sql STABLE AS $f$
          SELECT c.oid::regclass FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'testdbkit') AND n.nspname NOT LIKE 'pg\_%'
        $f$;

        DO $d$
        DECLARE t regclass;
        BEGIN
          FOR t IN SELECT * FROM testdbkit.user_tables() LOOP
            EXECUTE format('CREATE TRIGGER testdbkit_dirty AFTER INSERT ON %s FOR EACH STATEMENT EXECUTE FUNCTION testdbkit.mark_dirty()', t);
            -- ALWAYS: fixture loaders that set session_replication_role = replica still get tracked.
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER testdbkit_dirty', t);
          END LOOP;
        END $d$;

        CREATE FUNCTION testdbkit.reset(reset_ids boolean) RETURNS integer LANGUAGE plpgsql AS $f$
        DECLARE
          t regclass;
          s regclass;
          n integer := 0;
          superuser boolean := (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
          targets regclass[];
        BEGIN
          -- A session still running or holding a transaction could commit rows after the reset.
          -- pg_stat_get_activity rather than the pg_stat_activity view: the view is costly to plan, and
          -- setting session_replication_role below throws every cached plan away on each call.
          -- PostgreSQL 14 and later wait (up to 5 s) for the session to be gone; 13 only asks it to go.
          IF current_setting('server_version_num')::int >= 140000 THEN
            PERFORM pg_catalog.pg_terminate_backend(a.pid, 5000) FROM pg_catalog.pg_stat_get_activity(NULL) a
              WHERE a.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                AND a.pid <> pg_catalog.pg_backend_pid() AND a.backend_type = 'client backend' AND a.state <> 'idle';
          ELSE
            PERFORM pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_get_activity(NULL) a
              WHERE a.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                AND a.pid <> pg_catalog.pg_backend_pid() AND a.backend_type = 'client backend' AND a.state <> 'idle';
          END IF;

          IF NOT EXISTS (SELECT 1 FROM testdbkit.dirty WHERE tbl = 0) THEN
            -- The sentinel is gone: a crash truncated the unlogged set, so any table may hold rows.
            INSERT INTO testdbkit.dirty SELECT t2::oid FROM testdbkit.user_tables() t2;
          END IF;

          SELECT array_agg(DISTINCT d.tbl::regclass) INTO targets FROM testdbkit.dirty d
            JOIN pg_catalog.pg_class c ON c.oid = d.tbl WHERE d.tbl <> 0;
          IF targets IS NOT NULL THEN
            n := array_length(targets, 1);
            IF superuser THEN
              PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
              FOREACH t IN ARRAY targets LOOP
                EXECUTE format('DELETE FROM %s', t);
              END LOOP;
              IF reset_ids THEN
                FOR s IN SELECT d.objid::regclass FROM pg_catalog.pg_depend d
                         JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relkind = 'S'
                         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
                           AND d.refobjid = ANY (targets::oid[]) AND d.deptype IN ('a', 'i') LOOP
                  PERFORM pg_catalog.setval(s, (SELECT seqstart FROM pg_catalog.pg_sequence WHERE seqrelid = s), false);
                END LOOP;
              END IF;
            ELSE
              EXECUTE format('TRUNCATE %s%s CASCADE',
                (SELECT string_agg(format('%s', x), ', ') FROM unnest(targets) x),
                CASE WHEN reset_ids THEN ' RESTART IDENTITY' ELSE '' END);
            END IF;
          END IF;
          DELETE FROM testdbkit.dirty WHERE tbl <> 0;
          IF NOT EXISTS (SELECT 1 FROM testdbkit.dirty WHERE tbl = 0) THEN
            INSERT INTO testdbkit.dirty VALUES (0);
          END IF;
          RETURN n;
        END $f$;
        """;

    public override Task InstallAsync(DbConnection connection, CancellationToken ct) => connection.ExecuteAsync(Install, ct);

    public override async Task<int> ResetAsync(DbConnection connection, string database, bool resetIds, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = resetIds ? "SELECT testdbkit.reset(true)" : "SELECT testdbkit.reset(false)";
        return await ScalarIntAsync(command, ct).ConfigureAwait(false);
    }
}
