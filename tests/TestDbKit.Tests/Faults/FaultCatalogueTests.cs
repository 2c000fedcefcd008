using System.Collections;
using System.Reflection;
using System.Runtime.Loader;
using TestDbKit.Diagnostics;
using TestDbKit.Faults;
using TestDbKit.Servers;

namespace TestDbKit.Tests.Faults;

/// <summary>The fault catalogue is the one place a fault kind is declared: every driver (the generic inject path of
/// <see cref="FaultInjector"/>, <see cref="ChaosSchedule"/>, <c>testdbkit chaos</c>'s <c>--faults</c>, the owner
/// socket) and the run report take their kinds and names from it.</summary>
public sealed class FaultCatalogueTests
{
    [Fact]
    public void Every_kind_has_one_unique_name_in_the_one_spelling_and_the_public_schedule_faults_are_all_in_it()
    {
        var kinds = FaultCatalogue.All;
        Assert.Equal(kinds.Count, kinds.Select(k => k.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(kinds, k => Assert.Matches("^[a-z]+(-[a-z]+)*$", k.Name));
        Assert.All(kinds, k => Assert.False(string.IsNullOrWhiteSpace(k.Summary), k.Name));
        foreach (var fault in Enum.GetValues<ChaosFault>())
        {
            var kind = FaultCatalogue.For(fault);
            Assert.True(kind.Targets.HasFlag(FaultTargets.Database), $"{fault} ({kind.Name}) cannot be scheduled on a test database");
        }

        // The CLI's words, which users type and scripts keep, are the catalogue's names.
        Assert.Subset(FaultCatalogue.DrivenBy(FaultTargets.Server).Select(k => k.Name).ToHashSet(), new HashSet<string> { "kill", "idle", "freeze", "crash", "restart" });
        Assert.All(FaultCatalogue.All.OfType<ServerFaultKind>(), k => Assert.Equal(FaultScope.Server, k.Scope));
    }

    [Theory]
    [InlineData(10, 10)] // the one minimum hold
    [InlineData(200, 10)]
    [InlineData(2000, 10)]
    [InlineData(4, 4)] // a maximum below the minimum is the hold
    public void The_one_planner_holds_lasting_faults_between_the_minimum_and_the_maximum(int maxMs, int minMs)
    {
        var kinds = new FaultKind[] { FaultCatalogue.Get<Freeze>(), FaultCatalogue.Get<KillAllSessions>() };
        var plan = ChaosPlanner.Plan(99, kinds, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(maxMs)).Take(400).ToList();
        Assert.Contains(plan, p => p.Kind is Freeze);
        Assert.Contains(plan, p => p.Kind is KillAllSessions);
        Assert.All(plan.Where(p => p.Kind is KillAllSessions), p => Assert.Equal(TimeSpan.Zero, p.Hold));
        Assert.All(plan.Where(p => p.Kind is Freeze), p => Assert.InRange(p.Hold.TotalMilliseconds, minMs, maxMs));
        Assert.Equal(TimeSpan.FromMilliseconds(10), ChaosPlanner.MinimumHold);
    }

    [Fact]
    public async Task A_kind_declared_only_in_a_test_reaches_the_injector_the_schedule_the_cli_and_the_report()
    {
        var poke = new Poke();

        // Premise: nothing knows the kind before it is registered.
        Assert.Null(FaultCatalogue.Find(poke.Name));
        var before = ChaosCli.Create();
        Assert.DoesNotContain(poke.Name, ChaosCli.FaultsHelp(before), StringComparison.Ordinal);
        Assert.NotEmpty(ChaosCli.ParseErrors(before, "--faults", poke.Name));
        Assert.Throws<ArgumentException>(() => ChaosSchedule.Plan(1, new ChaosOptions { Faults = [Poke.Value] }, 1));

        using (FaultCatalogue.Register(poke))
        {
            // The CLI: --faults lists it with its summary and accepts it.
            var chaos = ChaosCli.Create();
            Assert.Contains(poke.Name, ChaosCli.FaultsHelp(chaos), StringComparison.Ordinal);
            Assert.Contains($"{poke.Name,-10} {poke.Summary}", ChaosCli.Help(chaos), StringComparison.Ordinal);
            Assert.Empty(ChaosCli.ParseErrors(chaos, "--faults", "kill," + poke.Name));

            // The schedule plans it by its ChaosFault value and writes it by its name.
            var options = new ChaosOptions { Seed = 5, Faults = [Poke.Value], MeanInterval = TimeSpan.FromMilliseconds(10), MaxDuration = TimeSpan.FromMilliseconds(20) };
            var planned = ChaosSchedule.Plan(5, options, 20);
            Assert.All(planned, e => Assert.Equal(Poke.Value, e.Fault));
            Assert.All(planned, e => Assert.InRange(e.Duration.TotalMilliseconds, 10, 20));
            Assert.All(planned, e => Assert.Contains(" test-poke for ", e.ToString(), StringComparison.Ordinal));

            await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(DbEngine.PostgreSql), new DatabasePoolOptions { MaxDatabases = 1 });
            using var scope = RunScope.Begin();
            int injected;
            await using (var db = await pool.LeaseAsync())
            {
                // The injector's generic path injects it into this database and undoes it when asked...
                var outcome = await db.Faults.InjectAsync(poke, new FaultArgs(TimeSpan.Zero), CancellationToken.None);
                Assert.Equal(1, poke.Injected);
                Assert.Equal([db.Name], poke.Places);
                await outcome.Undo!.DisposeAsync();
                Assert.Equal(1, poke.Undone);

                // ...and a schedule injects it again and again, undoing each.
                ChaosSchedule schedule;
                await using (schedule = ChaosSchedule.Start(db.Faults, options))
                {
                    await TestSupport.EventuallyAsync(() => schedule.Events.Count >= 3, TimeSpan.FromSeconds(30), "three scheduled pokes");
                }

                Assert.All(schedule.Events, e => Assert.Null(e.Error));
                Assert.All(schedule.Events, e => Assert.Equal("test-poke", e.Kind));
                // Each event was injected; one more may have been cut short by the stop (not an event, but undone too).
                Assert.InRange(poke.Injected, 1 + schedule.Events.Count, 2 + schedule.Events.Count);
                Assert.Equal(poke.Injected, poke.Undone);

                // One left active goes with the lease.
                await db.Faults.InjectAsync(poke, new FaultArgs(TimeSpan.Zero), CancellationToken.None);
                injected = poke.Injected;
                Assert.Equal(injected - 1, poke.Undone);
            }

            Assert.Equal(injected, poke.Undone);

            // The report counts it under its name, and draws a row for it.
            var report = scope.Capture();
            Assert.Equal(injected, report.FaultsByKind["test-poke"]);
            Assert.Contains(">fault: test-poke<", RunReportHtml.Render(report), StringComparison.Ordinal);
        }

        Assert.Null(FaultCatalogue.Find(poke.Name));
    }

    [Fact]
    public async Task The_owner_socket_runs_a_server_kind_it_knows_only_from_the_catalogue_and_holds_then_undoes_it()
    {
        var poke = new ServerPoke();
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var control = ServerControl.Register(server);

        // Premise: the owner does not know the word before the kind is in the catalogue.
        var unknown = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerControl.RequestAsync(control.Served, poke, TimeSpan.FromMilliseconds(50), CancellationToken.None));
        Assert.Contains("Unknown request 'server-poke 50'", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("crash, exhaust MS, freeze MS, restart", unknown.Message, StringComparison.Ordinal); // the words come from the catalogue
        Assert.Equal(0, poke.Injected);

        using (FaultCatalogue.Register(poke))
        {
            await ServerControl.RequestAsync(control.Served, poke, TimeSpan.FromMilliseconds(300), CancellationToken.None);
        }

        // The owner injected it into the server it started, held it for the hold, and undid it before answering.
        Assert.Equal(1, poke.Injected);
        Assert.Equal(1, poke.Undone);
        Assert.Same(server, poke.Server);
        Assert.InRange(poke.Held.TotalMilliseconds, 290, 60_000);
    }

    /// <summary>A throwaway server-scope kind: records what it was injected into and how long it was held.</summary>
    private sealed class ServerPoke : ServerFaultKind
    {
        public override string Name => "server-poke";

        public override string Summary => "a throwaway server fault that counts";

        public override bool Lasting => true;

        public override string Doing => "poke the server";

        public int Injected { get; private set; }

        public int Undone { get; private set; }

        public DbServer? Server { get; private set; }

        public TimeSpan Held { get; private set; }

        public override Task<IAsyncDisposable?> InjectOnAsync(DbServer server, CancellationToken ct)
        {
            Server = server;
            Injected++;
            var since = System.Diagnostics.Stopwatch.StartNew();
            return Task.FromResult<IAsyncDisposable?>(new FaultInjector.Undo(() =>
            {
                Held = since.Elapsed;
                Undone++;
                return Task.CompletedTask;
            }));
        }
    }

    /// <summary>A throwaway fault kind, declared here and nowhere else: it counts its injections and undos.</summary>
    private sealed class Poke : FaultKind
    {
        public const ChaosFault Value = (ChaosFault)4242;

        private int _injected;
        private int _undone;

        public override string Name => "test-poke";

        public override string Summary => "a throwaway fault that counts";

        public override FaultScope Scope => FaultScope.Database;

        public override bool Lasting => true;

        public override FaultTargets Targets => FaultTargets.Database | FaultTargets.Server;

        public override ChaosFault? Chaos => Value;

        public int Injected => _injected;

        public int Undone => _undone;

        public List<string> Places { get; } = [];

        public override Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
        {
            Record(target);
            lock (Places)
            {
                Places.Add(target.Where(Scope));
            }

            Interlocked.Increment(ref _injected);
            return Task.FromResult(new FaultOutcome(new FaultInjector.Undo(() =>
            {
                Interlocked.Increment(ref _undone);
                return Task.CompletedTask;
            })));
        }
    }
}

/// <summary>The CLI's <c>chaos</c> command, built in this process from the tool's own assembly, so that it reads
/// the same fault catalogue as the test (System.CommandLine is resolved from the tool's folder).</summary>
internal static class ChaosCli
{
    private static readonly Lazy<Assembly> Cli = new(() =>
    {
        var path = TestDbKit.Tests.Common.ChildProcess.BuiltBeside("../../src/TestDbKit.Cli", "TestDbKit.Cli.dll");
        var folder = Path.GetDirectoryName(path)!;
        AssemblyLoadContext.Default.Resolving += (context, name) =>
            File.Exists(Path.Combine(folder, name.Name + ".dll")) && name.Name != "TestDbKit"
                ? context.LoadFromAssemblyPath(Path.Combine(folder, name.Name + ".dll"))
                : null;
        return AssemblyLoadContext.Default.LoadFromAssemblyPath(path);
    });

    public static object Create() =>
        Cli.Value.GetType("TestDbKit.Cli.ChaosCommand", throwOnError: true)!
            .GetMethod("Create", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)!.Invoke(null, null)!;

    /// <summary>The description of <c>--faults</c>.</summary>
    public static string FaultsHelp(object command) =>
        (string)Property(((IEnumerable)Property(command, "Options")).Cast<object>().Single(o => (string)Property(o, "Name") == "--faults"), "Description");

    /// <summary>The command's own description.</summary>
    public static string Help(object command) => (string)Property(command, "Description");

    /// <summary>The parse errors of <c>chaos --engine postgres --connection Host=x ARGS</c>.</summary>
    public static IReadOnlyList<string> ParseErrors(object command, params string[] args)
    {
        var parse = command.GetType().GetMethods().Single(m => m.Name == "Parse" && m.GetParameters()[0].ParameterType == typeof(IReadOnlyList<string>));
        var result = parse.Invoke(command, [new List<string> { "--engine", "postgres", "--connection", "Host=x" }.Concat(args).ToList(), null])!;
        return [.. ((IEnumerable)Property(result, "Errors")).Cast<object>().Select(e => (string)Property(e, "Message"))];
    }

    private static object Property(object target, string name) => target.GetType().GetProperty(name)!.GetValue(target)!;
}
