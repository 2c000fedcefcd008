using System.Data.Common;
using TestDbKit.Xunit;

namespace TestDbKit.Cli.Tests;

/// <summary>
/// Ordinary chaos tests on the xunit base class. They pass on their own, and <see cref="ReportTests"/> runs
/// them in a child test process with TESTDBKIT_REPORT_DIR set to check the report that process writes at exit.
/// </summary>
public sealed class ReportWorkload : ResilientDbTestBase
{
    public const int Seed = 4242;

    protected override async Task CreateSchemaAsync(DbConnection connection)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "CREATE TABLE notes (id int PRIMARY KEY)";
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_killed_session_is_recovered_from_by_a_retrying_writer()
    {
        await Faults.KillSessionAsync(Connection);
        await Resilience.AssertRecoversAsync(
            async ct =>
            {
                try
                {
                    await using var command = Connection.CreateCommand();
                    command.CommandText = "INSERT INTO notes (id) VALUES (1)";
                    await command.ExecuteNonQueryAsync(ct);
                    Assert.Fail("The killed session accepted a write.");
                }
                catch (DbException e) when (DbErrors.IsConnectionLost(e))
                {
                    await InsertWithRetryAsync(1, ct);
                }
            },
            TimeSpan.FromSeconds(30));
        Assert.Equal(1L, await CountAsync());
    }

    [Fact]
    public async Task A_chaos_schedule_of_killed_sessions_loses_no_acknowledged_write()
    {
        var acknowledged = 0;
        await using (var chaos = ChaosSchedule.Start(Faults, new ChaosOptions
        {
            Seed = Seed,
            Faults = [ChaosFault.KillSessions],
            MeanInterval = TimeSpan.FromMilliseconds(30),
        }))
        {
            // Write until the schedule has killed sessions a few times.
            for (var id = 100; chaos.Events.Count < 3; id++)
            {
                await Resilience.AssertRecoversAsync(ct => InsertWithRetryAsync(id, ct), TimeSpan.FromSeconds(30));
                acknowledged++;
            }
        }

        Assert.Equal(acknowledged, await CountAsync());
    }

    private Task InsertWithRetryAsync(int id, CancellationToken ct) =>
        WithRetryAsync($"INSERT INTO notes (id) VALUES ({id}) ON CONFLICT DO NOTHING", ct);

    /// <summary>Counts the rows; retried too, since the schedule may have killed the idle pooled session last.</summary>
    private async Task<long> CountAsync() =>
        Convert.ToInt64(await WithRetryAsync("SELECT count(*) FROM notes", CancellationToken.None), System.Globalization.CultureInfo.InvariantCulture);

    private async Task<object?> WithRetryAsync(string sql, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await Database.OpenConnectionAsync(ct);
                await using var command = connection.CreateCommand();
                command.CommandText = sql;
                return await command.ExecuteScalarAsync(ct);
            }
            catch (Exception e) when (DbErrors.IsTransient(e) && attempt < 50)
            {
                await Task.Delay(5 * attempt, ct);
            }
        }
    }
}
