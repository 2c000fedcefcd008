using TestDbKit.Benchmarks;

// dotnet run -c Release --project bench/TestDbKit.Benchmarks -- <benchmark> [--runs N] [--engine postgresql|mysql]
// soak: --engine postgresql|mysql --minutes N --seed S [--provider local|docker] [--writers N] [--kinds a,b] [--blind-retry] (see SoakRun.cs)
// suite and loop: [--rounds N] [--tests N] [--seed N]; suite: [--variants local,serial,docker,respawn,reseed,rollback] (see WholeSuite.cs, Loop.cs)
var name = args.FirstOrDefault() ?? "coldstart";
var runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).FirstOrDefault(5);
var engines = args.SkipWhile(a => a != "--engine").Skip(1).Take(1).Select(e => Enum.Parse<TestDbKit.DbEngine>(e, ignoreCase: true)).ToArray() is { Length: > 0 } one
    ? one
    : [TestDbKit.DbEngine.PostgreSql, TestDbKit.DbEngine.MySql];
switch (name)
{
    case "coldstart":
        await ColdStart.RunAsync(runs);
        return 0;
    case "reset":
        await Reset.RunAsync(runs == 5 ? 200 : runs, engines);
        return 0;
    case "lifecycle":
        await Lifecycle.RunAsync(runs == 5 ? 300 : runs);
        return 0;
    case "faults":
        await Faults.RunAsync(runs == 5 ? 2000 : runs);
        return 0;
    case "suite":
        return await WholeSuite.RunAsync(args, engines);
    case "loop":
        return await Loop.RunAsync(args, engines);
    case "soak":
        return await Soak.RunAsync(args);
    default:
        Console.Error.WriteLine($"Unknown benchmark '{name}'. Known: coldstart, reset, lifecycle, faults, suite, loop, soak.");
        return 2;
}
