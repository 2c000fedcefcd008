using System.Data.Common;

namespace TestDbKit.Engines;

/// <summary>
/// Statement-level BEFORE INSERT triggers record each written table (by oid) in an unlogged set; a session
/// skips the lookup for a table it already marked since the last reset. <c>testdbkit.reset</c> deletes
/// from just those tables with foreign-key triggers off (<c>session_replication_role = replica</c>, kept
/// for the control session's life; TRUNCATE .. CASCADE without superuser) and restarts their owned
/// sequences, both read from tables filled at install. Marks roll back with their transaction but
/// sequences do not: a counter of marks written tells when that happened, and the reset then restarts
/// every sequence that moved. A sentinel row (oid 0) tells a set that a crash emptied from a clean one.
/// Rows the schema inserted are copied at install and put back into the tables a reset empties.
/// Event triggers (ddl_command_end, sql_drop; installed by <see cref="WatchSchemaAsync"/> where the kit is a
/// superuser) move the sequence <c>testdbkit.ddl</c> on any DDL but that on temporary objects; the reset then
/// returns -1 without touching anything and the pool replaces the database.
/// </summary>
internal sealed class PostgreSqlTracker : ChangeTracker
{
    public static readonly PostgreSqlTracker Instance = new();

    private const string Install = """
        CREATE SCHEMA testdbkit;
        -- No unique key: a unique check would make a writer wait for another transaction that marked the
        -- same table first, which the test's own code would never have to do. At most one mark per table
        -- per concurrent transaction gets in twice.
        CREATE UNLOGGED TABLE testdbkit.dirty (tbl oid NOT NULL);
        CREATE INDEX ON testdbkit.dirty (tbl);
        INSERT INTO testdbkit.dirty VALUES (0);
        -- Moves on at every reset. A session remembers, per table, the generation in which it last marked it
        -- (a session setting, undone with the transaction like the mark itself), so later writes in the same
        -- generation skip the lookup.
        CREATE SEQUENCE testdbkit.generation;
        SELECT pg_catalog.nextval('testdbkit.generation');
        -- Counts the marks written since the last reset. A sequence is not rolled back, so more marks
        -- counted than found means some rolled back with their transaction, leaving sequences moved unmarked.
        CREATE SEQUENCE testdbkit.marks;
        -- Moved by the event triggers (WatchSchemaAsync) when a test creates, drops or alters an object: the reset
        -- then leaves the database alone and the pool replaces it with a fresh copy.
        CREATE SEQUENCE testdbkit.ddl;
        -- Other roles may write to the tables too.
        GRANT USAGE ON SCHEMA testdbkit TO PUBLIC;
        GRANT SELECT, INSERT ON testdbkit.dirty TO PUBLIC;
        GRANT SELECT ON testdbkit.generation TO PUBLIC;
        GRANT USAGE ON testdbkit.marks TO PUBLIC;
        GRANT USAGE ON testdbkit.ddl TO PUBLIC;

        CREATE FUNCTION testdbkit.mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $f$
        DECLARE
          generation text := pg_catalog.pg_sequence_last_value('testdbkit.generation'::regclass)::text;
        BEGIN
          IF pg_catalog.current_setting('testdbkit.t' || TG_RELID, true) IS DISTINCT FROM generation THEN
            IF NOT EXISTS (SELECT 1 FROM testdbkit.dirty WHERE tbl = TG_RELID) THEN
              INSERT INTO testdbkit.dirty VALUES (TG_RELID);
              PERFORM pg_catalog.nextval('testdbkit.marks');
            END IF;
            PERFORM pg_catalog.set_config('testdbkit.t' || TG_RELID, generation, false);
          END IF;
          RETURN NULL;
        END $f$;

        -- The tables a reset may empty, and the sequences they own, read once from the catalogs.
        CREATE TABLE testdbkit.tracked (tbl oid PRIMARY KEY);
        INSERT INTO testdbkit.tracked
          SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'testdbkit') AND n.nspname NOT LIKE 'pg\_%';
        -- Each sequence's state as the schema left it (seed rows may have moved it): resets put it back there.
        CREATE TABLE testdbkit.sequences (tbl oid NOT NULL, seq oid NOT NULL, value bigint NOT NULL, called boolean NOT NULL);
        INSERT INTO testdbkit.sequences
          SELECT d.refobjid, s.seqrelid, coalesce(pg_catalog.pg_sequence_last_value(s.seqrelid), s.seqstart),
                 pg_catalog.pg_sequence_last_value(s.seqrelid) IS NOT NULL
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_sequence s ON s.seqrelid = d.objid
          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
            AND d.deptype IN ('a', 'i') AND d.refobjid IN (SELECT tbl FROM testdbkit.tracked);
        CREATE INDEX ON testdbkit.sequences (tbl);
        ANALYZE testdbkit.tracked, testdbkit.sequences;

        -- Rows the schema itself inserted (seed data), copied aside: a reset that empties their table puts them
        -- back. Leaf tables only (ONLY: a parent's rows are its partitions'); generated columns are computed again.
        CREATE TABLE testdbkit.seeds (tbl oid PRIMARY KEY, copy oid NOT NULL, columns text NOT NULL, position int NOT NULL DEFAULT 0);
        DO $d$
        DECLARE t regclass; seeded boolean; cols text; copy text;
        BEGIN
          FOR t IN SELECT x.tbl FROM testdbkit.tracked x JOIN pg_catalog.pg_class c ON c.oid = x.tbl WHERE c.relkind = 'r' LOOP
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s)', t) INTO seeded;
            IF seeded THEN
              SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
              copy := 'testdbkit.' || pg_catalog.quote_ident('seed_' || t::oid);
              EXECUTE format('CREATE TABLE %s AS SELECT %s FROM ONLY %s', copy, cols, t);
              INSERT INTO testdbkit.seeds VALUES (t, copy::regclass, cols);
            END IF;
          END LOOP;
          -- Refill order, referenced tables first: the TRUNCATE path (no superuser) checks foreign keys.
          FOR i IN 1..50 LOOP
            UPDATE testdbkit.seeds s SET position = p.position + 1
              FROM pg_catalog.pg_constraint c JOIN testdbkit.seeds p ON p.tbl = c.confrelid
              WHERE c.contype = 'f' AND c.conrelid = s.tbl AND c.confrelid <> s.tbl AND s.position < p.position + 1;
            EXIT WHEN NOT FOUND;
          END LOOP;
        END $d$;

        DO $d$
        DECLARE t regclass;
        BEGIN
          FOR t IN SELECT tbl FROM testdbkit.tracked LOOP
            -- BEFORE or AFTER mark the same statements; BEFORE skips the queue of after-trigger events, and
            -- cost no more in the bench (reset: triggers that do nothing, +8% and +10% per single-row INSERT).
            -- WHEN: a statement into a table this session already marked in this generation does not call
            -- the function at all (bench reset: calling one that does nothing costs +6% per single-row INSERT).
            -- A table that holds seed rows (itself or a partition) is marked by any change: the seeds must come back.
            EXECUTE format('CREATE TRIGGER testdbkit_dirty BEFORE %s ON %s FOR EACH STATEMENT '
              'WHEN (pg_catalog.current_setting(%L, true) IS DISTINCT FROM '
              'pg_catalog.pg_sequence_last_value(''testdbkit.generation''::regclass)::text) '
              'EXECUTE FUNCTION testdbkit.mark_dirty()',
              -- (pg_partition_tree and pg_partition_ancestors list nothing for a table outside any partitioning.)
              CASE WHEN EXISTS (SELECT 1 FROM testdbkit.seeds s WHERE s.tbl = t OR s.tbl IN (SELECT relid FROM pg_catalog.pg_partition_tree(t)))
                THEN 'INSERT OR UPDATE OR DELETE OR TRUNCATE' ELSE 'INSERT' END,
              t, 'testdbkit.t' || t::oid);
            -- ALWAYS: fixture loaders that set session_replication_role = replica still get tracked.
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER testdbkit_dirty', t);
          END LOOP;
        END $d$;

        CREATE FUNCTION testdbkit.reset(reset_ids boolean) RETURNS integer LANGUAGE plpgsql AS $f$
        DECLARE
          n integer;
          clear text;
          seed record;
          refill boolean;
          -- Marks rolled back (Transaction mode, or a test's own rollback): restart every sequence that moved.
          superuser boolean := pg_catalog.current_setting('is_superuser') = 'on';
          lost_marks boolean := coalesce(pg_catalog.pg_sequence_last_value('testdbkit.marks'::regclass), 0)
            > (SELECT count(*) FROM testdbkit.dirty WHERE tbl <> 0);
        BEGIN
          -- The test changed the schema: deleting rows would not undo that; the pool replaces the database.
          IF pg_catalog.pg_sequence_last_value('testdbkit.ddl'::regclass) IS NOT NULL THEN
            RETURN -1;
          END IF;
          -- A session still running or holding a transaction could commit rows after the reset.
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
            INSERT INTO testdbkit.dirty SELECT tbl FROM testdbkit.tracked;
          END IF;

          -- The joins with pg_class skip tables and sequences a test dropped.
          IF superuser THEN
            -- Replica role: no foreign-key checks or user triggers while emptying. Set for the whole control
            -- session, once: each change of this setting throws away every cached plan of the session, and
            -- re-planning this function's queries on every reset cost more than the deletes.
            IF pg_catalog.current_setting('session_replication_role') <> 'replica' THEN
              PERFORM pg_catalog.set_config('session_replication_role', 'replica', false);
            END IF;
            SELECT count(*), string_agg(format('DELETE FROM %s', d.tbl::regclass), ';') INTO n, clear
              FROM (SELECT DISTINCT tbl FROM testdbkit.dirty WHERE tbl <> 0) d
              WHERE (SELECT true FROM pg_catalog.pg_class c WHERE c.oid = d.tbl);
          ELSE
            SELECT count(*), format('TRUNCATE %s CASCADE', string_agg(format('%s', d.tbl::regclass), ', ')) INTO n, clear
              FROM (SELECT DISTINCT tbl FROM testdbkit.dirty WHERE tbl <> 0) d
              WHERE (SELECT true FROM pg_catalog.pg_class c WHERE c.oid = d.tbl);
          END IF;
          IF n > 0 THEN
            EXECUTE clear;
          END IF;
          -- Seed rows back where their table, or a parent of it, was emptied; without the replica role,
          -- TRUNCATE .. CASCADE may have emptied others too: every seeded table found empty.
          FOR seed IN SELECT x.tbl, x.copy, x.columns FROM testdbkit.seeds x
              WHERE (SELECT true FROM pg_catalog.pg_class c WHERE c.oid = x.tbl) AND (SELECT true FROM pg_catalog.pg_class c WHERE c.oid = x.copy)
              ORDER BY x.position LOOP
            refill := EXISTS (SELECT 1 FROM testdbkit.dirty d WHERE d.tbl = seed.tbl)
              OR EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(seed.tbl) a JOIN testdbkit.dirty d ON d.tbl = a.relid);
            IF NOT refill AND NOT superuser THEN
              EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM ONLY %s)', seed.tbl::regclass) INTO refill;
            END IF;
            IF refill THEN
              EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s',
                seed.tbl::regclass, seed.columns, seed.columns, seed.copy::regclass);
            END IF;
          END LOOP;
          IF reset_ids AND lost_marks THEN
            PERFORM pg_catalog.setval(s.seq::regclass, s.value, s.called) FROM testdbkit.sequences s
              WHERE CASE WHEN (SELECT true FROM pg_catalog.pg_class c WHERE c.oid = s.seq) -- CASE: in this order
                THEN pg_catalog.pg_sequence_last_value(s.seq::regclass) IS DISTINCT FROM CASE WHEN s.called THEN s.value END END;
          ELSIF reset_ids THEN
            -- Driven from the few dirty tables, through the index on sequences (OFFSET 0 keeps it so).
            PERFORM pg_catalog.setval(s.seq::regclass, s.value, s.called)
              FROM (SELECT DISTINCT tbl FROM testdbkit.dirty WHERE tbl <> 0) d,
                LATERAL (SELECT * FROM testdbkit.sequences x WHERE x.tbl = d.tbl OFFSET 0) s
              WHERE (SELECT true FROM pg_catalog.pg_class c WHERE c.oid = s.seq);
          END IF;
          DELETE FROM testdbkit.dirty WHERE tbl <> 0;
          PERFORM pg_catalog.setval('testdbkit.marks', 1, false);
          -- Sessions' memory of what they marked is stale from here on. Last, so a session that writes during
          -- the reset (its mark about to be deleted) marks again on its next write.
          PERFORM pg_catalog.nextval('testdbkit.generation');
          IF NOT EXISTS (SELECT 1 FROM testdbkit.dirty WHERE tbl = 0) THEN
            INSERT INTO testdbkit.dirty VALUES (0);
          END IF;
          RETURN n;
        END $f$;
        """;

    // Event triggers fire for the DDL of every role in this database; temporary objects (schema pg_temp) do not count.
    // SECURITY DEFINER: the test's role may lack rights on testdbkit (the sequence is granted to PUBLIC as well).
    private const string Watch = """
        CREATE FUNCTION testdbkit.mark_ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$
        BEGIN
          IF TG_EVENT = 'sql_drop' THEN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() WHERE NOT is_temporary) THEN
              PERFORM pg_catalog.nextval('testdbkit.ddl');
            END IF;
          ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() WHERE schema_name IS DISTINCT FROM 'pg_temp') THEN
            PERFORM pg_catalog.nextval('testdbkit.ddl');
          END IF;
        END $f$;
        CREATE EVENT TRIGGER testdbkit_ddl ON ddl_command_end EXECUTE FUNCTION testdbkit.mark_ddl();
        CREATE EVENT TRIGGER testdbkit_drop ON sql_drop EXECUTE FUNCTION testdbkit.mark_ddl();
        -- ALWAYS: DDL from a session with session_replication_role = replica (fixture loaders) is seen too.
        ALTER EVENT TRIGGER testdbkit_ddl ENABLE ALWAYS;
        ALTER EVENT TRIGGER testdbkit_drop ENABLE ALWAYS;
        """;

    // User objects have oids from 16384 (FirstNormalObjectId) on: index range scans over a few catalogs. Temporary
    // objects (pg_temp_N schemas, relpersistence 't') are left out; they end with their session.
    private const string Fingerprint = """
        WITH temp AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname LIKE 'pg\_temp\_%' OR nspname LIKE 'pg\_toast\_temp\_%'),
        rel AS (SELECT oid, relnatts FROM pg_catalog.pg_class WHERE oid >= 16384 AND relpersistence <> 't')
        SELECT pg_catalog.concat_ws(',',
          (SELECT count(*) || ':' || coalesce(sum(oid::int8 + relnatts), 0) FROM rel),
          (SELECT count(*) || ':' || coalesce(sum(atttypid::int8 + atttypmod + attnotnull::int), 0) FROM pg_catalog.pg_attribute
            WHERE attrelid >= 16384 AND attnum > 0 AND NOT attisdropped AND attrelid IN (SELECT oid FROM rel)),
          (SELECT count(*) || ':' || coalesce(sum(oid::int8), 0) FROM pg_catalog.pg_type WHERE oid >= 16384 AND typnamespace NOT IN (SELECT oid FROM temp)),
          (SELECT count(*) || ':' || coalesce(sum(oid::int8), 0) FROM pg_catalog.pg_proc WHERE oid >= 16384 AND pronamespace NOT IN (SELECT oid FROM temp)),
          (SELECT count(*) FROM pg_catalog.pg_namespace WHERE oid >= 16384 AND oid NOT IN (SELECT oid FROM temp)),
          (SELECT count(*) || ':' || coalesce(sum(oid::int8), 0) FROM pg_catalog.pg_constraint WHERE oid >= 16384 AND connamespace NOT IN (SELECT oid FROM temp)),
          (SELECT count(*) || ':' || coalesce(sum(oid::int8), 0) FROM pg_catalog.pg_trigger WHERE oid >= 16384 AND tgrelid IN (SELECT oid FROM rel)),
          (SELECT count(*) FROM pg_catalog.pg_enum WHERE oid >= 16384),
          (SELECT count(*) FROM pg_catalog.pg_extension WHERE oid >= 16384))
        """;

    public override string FingerprintSql(string database) => Fingerprint;

    // A new database has no object with a user oid (template1 as initdb left it): each probe stops at the first row.
    public override string IsEmptySql(string database) => """
        WITH temp AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname LIKE 'pg\_temp\_%' OR nspname LIKE 'pg\_toast\_temp\_%')
        SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid >= 16384 AND relpersistence <> 't')
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE oid >= 16384 AND typnamespace NOT IN (SELECT oid FROM temp))
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE oid >= 16384 AND pronamespace NOT IN (SELECT oid FROM temp))
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE oid >= 16384 AND oid NOT IN (SELECT oid FROM temp))
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE oid >= 16384)
        """;

    public override async Task<bool> WatchSchemaAsync(DbConnection connection, CancellationToken ct)
    {
        try
        {
            await connection.ExecuteAsync(Watch, ct).ConfigureAwait(false);
            return true;
        }
        catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.InsufficientPrivilege)
        {
            return false; // not a superuser: the pool compares fingerprints instead
        }
    }

    // The database is gone (3D000), or the kit's schema, function or tables in it are (3F000, 42883, 42P01).
    public override bool IsSchemaGone(DbException error) =>
        error is Npgsql.PostgresException { SqlState: "3D000" or "3F000" or "42883" or "42P01" };

    public override async Task<ChangeMarks> InstallAsync(DbConnection connection, bool triggersOnly, CancellationToken ct)
    {
        await connection.ExecuteAsync(Install, ct).ConfigureAwait(false);
        return ChangeMarks.Triggers;
    }

    public override async Task<int> ResetAsync(DbConnection connection, string database, bool resetIds, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = resetIds ? "SELECT testdbkit.reset(true)" : "SELECT testdbkit.reset(false)";
        return await ScalarIntAsync(command, ct).ConfigureAwait(false);
    }
}
