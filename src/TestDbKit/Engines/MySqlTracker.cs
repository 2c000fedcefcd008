using System.Data.Common;
using System.Text;

namespace TestDbKit.Engines;

/// <summary>
/// MySQL has only row-level triggers: each table gets an AFTER INSERT trigger that adds its name to a
/// MEMORY table (not transactional, so marks never wait on row locks, and a rolled-back insert still
/// marks the table whose counter moved). <c>testdbkit_reset</c> kills busy sessions, then deletes from
/// the marked tables with foreign-key checks off and restarts their AUTO_INCREMENT. MEMORY tables are
/// empty after a server restart: the missing sentinel row ('') then marks every table.
/// </summary>
internal sealed class MySqlTracker : ChangeTracker
{
    public static readonly MySqlTracker Instance = new();

    private const string Tables = """
        CREATE TABLE testdbkit_dirty (tbl VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY) ENGINE=MEMORY;
        INSERT INTO testdbkit_dirty VALUES ('');
        CREATE TABLE testdbkit_autoinc (tbl VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY);
        INSERT INTO testdbkit_autoinc SELECT DISTINCT TABLE_NAME FROM information_schema.COLUMNS
          WHERE TABLE_SCHEMA = DATABASE() AND EXTRA LIKE '%auto_increment%';
        """;

    // A session still running or holding a transaction could commit rows after the reset: end those of
    // this database. Sessions inside a transaction (a running autocommit statement has one too), not the
    // COMMAND column: the server answers a statement before it shows the session as 'Sleep' again, so an
    // idle connection of the test could look busy for a moment. Driven from INNODB_TRX, which is almost
    // always empty, rather than from every session's row; the list of sessions is read only when some
    // transaction is open.
    private const string EndBusy = """
        CREATE PROCEDURE testdbkit_end_busy()
        BEGIN
          DECLARE victim BIGINT;
          DECLARE done INT DEFAULT 0;
          DECLARE busy CURSOR FOR SELECT p.ID FROM information_schema.INNODB_TRX t
            JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
            WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID() AND p.COMMAND <> 'Killed';
          DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
          IF EXISTS (SELECT 1 FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id <> CONNECTION_ID()) THEN
            OPEN busy;
            kill_loop: LOOP
              FETCH busy INTO victim;
              IF done THEN LEAVE kill_loop; END IF;
              BEGIN
                DECLARE CONTINUE HANDLER FOR 1094 BEGIN END; -- it ended on its own since the list was read
                SET @tdk_kill = CONCAT('KILL ', victim);
                PREPARE k FROM @tdk_kill; EXECUTE k; DEALLOCATE PREPARE k;
              END;
            END LOOP;
            CLOSE busy;
          END IF;
        END
        """;

    // InnoDB refreshes INNODB_TRX at most every 0.1 s, so a transaction begun just before the reset can be
    // missing from it. Its locks then make a statement here wait: after a second it is surely listed, so
    // end the busy sessions again and retry.
    private const string Run = """
        CREATE PROCEDURE testdbkit_run(IN statement_text TEXT)
        BEGIN
          DECLARE tries INT DEFAULT 0;
          DECLARE done BOOLEAN DEFAULT FALSE;
          SET @tdk_run = statement_text;
          PREPARE s FROM @tdk_run;
          WHILE NOT done DO
            BEGIN
              DECLARE EXIT HANDLER FOR 1205
              BEGIN
                SET tries = tries + 1;
                IF tries >= 5 THEN
                  DEALLOCATE PREPARE s;
                  RESIGNAL;
                END IF;
                CALL testdbkit_end_busy();
              END;
              EXECUTE s;
              SET done = TRUE;
            END;
          END WHILE;
          DEALLOCATE PREPARE s;
        END
        """;

    private const string Reset = """
        CREATE PROCEDURE testdbkit_reset(IN reset_ids BOOLEAN)
        BEGIN
          DECLARE t VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
          DECLARE n INT DEFAULT 0;
          DECLARE EXIT HANDLER FOR SQLEXCEPTION
          BEGIN
            SET SESSION FOREIGN_KEY_CHECKS = @tdk_fk, SESSION innodb_lock_wait_timeout = @tdk_row_wait, SESSION lock_wait_timeout = @tdk_table_wait;
            RESIGNAL;
          END;

          SET @tdk_fk = @@SESSION.FOREIGN_KEY_CHECKS, @tdk_row_wait = @@SESSION.innodb_lock_wait_timeout, @tdk_table_wait = @@SESSION.lock_wait_timeout;
          SET SESSION innodb_lock_wait_timeout = 1, SESSION lock_wait_timeout = 1;
          CALL testdbkit_end_busy();
          SET SESSION FOREIGN_KEY_CHECKS = 0;
          IF NOT EXISTS (SELECT 1 FROM testdbkit_dirty WHERE tbl = '') THEN
            INSERT IGNORE INTO testdbkit_dirty SELECT TABLE_NAME FROM information_schema.TABLES
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND TABLE_NAME NOT LIKE 'testdbkit\_%';
          END IF;
          dirty_loop: LOOP
            SET t = NULL;
            SELECT tbl INTO t FROM testdbkit_dirty WHERE tbl <> '' LIMIT 1;
            IF t IS NULL THEN LEAVE dirty_loop; END IF;
            CALL testdbkit_run(CONCAT('DELETE FROM `', REPLACE(t, '`', '``'), '`'));
            IF reset_ids AND EXISTS (SELECT 1 FROM testdbkit_autoinc a WHERE a.tbl = t) THEN
              CALL testdbkit_run(CONCAT('ALTER TABLE `', REPLACE(t, '`', '``'), '` AUTO_INCREMENT = 1'));
            END IF;
            DELETE FROM testdbkit_dirty WHERE tbl = t;
            SET n = n + 1;
          END LOOP;
          INSERT IGNORE INTO testdbkit_dirty VALUES ('');
          SET SESSION FOREIGN_KEY_CHECKS = @tdk_fk, SESSION innodb_lock_wait_timeout = @tdk_row_wait, SESSION lock_wait_timeout = @tdk_table_wait;
          SELECT n;
        END
        """;

    public override async Task InstallAsync(DbConnection connection, CancellationToken ct)
    {
        await connection.ExecuteAsync(Tables, ct).ConfigureAwait(false);
        var tables = await connection.ReadColumnAsync(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() " +
            "AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND TABLE_NAME NOT LIKE 'testdbkit\\_%' ORDER BY TABLE_NAME",
            r => r.GetString(0), ct).ConfigureAwait(false);

        // One batch of single-statement triggers (no BEGIN .. END, so no delimiter games).
        var sql = new StringBuilder();
        for (var i = 0; i < tables.Count; i++)
        {
            var quoted = "`" + tables[i].Replace("`", "``", StringComparison.Ordinal) + "`";
            var literal = "'" + tables[i].Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";
            sql.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"CREATE TRIGGER testdbkit_dirty_{i} AFTER INSERT ON {quoted} FOR EACH ROW INSERT IGNORE INTO testdbkit_dirty VALUES ({literal});\n");
        }

        if (sql.Length > 0)
        {
            await connection.ExecuteAsync(sql.ToString(), ct).ConfigureAwait(false);
        }

        foreach (var routine in new[] { EndBusy, Run, Reset })
        {
            await connection.ExecuteAsync(routine, ct).ConfigureAwait(false);
        }
    }

    public override async Task<int> ResetAsync(DbConnection connection, string database, bool resetIds, CancellationToken ct)
    {
        // The control session has no default database; the procedure runs in its own.
        await using var command = connection.CreateCommand();
        command.CommandText = $"CALL {MySqlDialect.Instance.QuoteIdentifier(database)}.testdbkit_reset({(resetIds ? "TRUE" : "FALSE")})";
        return await ScalarIntAsync(command, ct).ConfigureAwait(false);
    }
}
