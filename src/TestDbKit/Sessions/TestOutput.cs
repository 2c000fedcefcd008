namespace TestDbKit.Sessions;

/// <summary>
/// Where the kit's messages about one test go: the test framework's own output for that test (xunit's
/// <c>ITestOutputHelper</c>, NUnit's <c>TestContext.Out</c>), handed over by the adapter. The session makes it
/// <see cref="Current"/> while the kit works for the test (starting the session, ending it, resetting its
/// database), so that whatever the kit says meanwhile, also through its loggers (<see cref="Diagnostics.KitLogger"/>),
/// reaches that test's output. With no output (an xunit class that takes no <c>ITestOutputHelper</c>), or once
/// the framework no longer accepts writes for the test, messages go to standard error, as before.
/// </summary>
internal sealed class TestOutput
{
    private static readonly AsyncLocal<TestOutput?> Scope = new();
    private readonly Action<string> _writeLine;

    /// <param name="writeLine">Writes one line to the test's output.</param>
    public TestOutput(Action<string> writeLine)
    {
        _writeLine = writeLine;
    }

    /// <summary>The output of the test the kit is working for in this async flow, if any.</summary>
    public static TestOutput? Current => Scope.Value;

    /// <summary>Writes <paramref name="message"/> (prefixed with <c>[TestDbKit]</c>) to the current test's
    /// output, or to standard error when there is none.</summary>
    public static void Say(string message) => Write(Current, message);

    /// <summary>Writes <paramref name="message"/> to <paramref name="output"/>, or to standard error when it is null
    /// or refuses the write (xunit's helper throws once its test has ended).</summary>
    public static void Write(TestOutput? output, string message)
    {
        var line = "[TestDbKit] " + message;
        if (output is not null)
        {
            try
            {
                output._writeLine(line);
                return;
            }
            catch (InvalidOperationException)
            {
                // The test has ended: its output is closed (a disposed writer says so too: ObjectDisposedException).
            }
        }

        Console.Error.WriteLine(line);
    }

    /// <summary>Makes <paramref name="output"/> current in this async flow. Call it at the top of an async
    /// method: the flow's previous value comes back when the method returns, whatever happens.</summary>
    public static void Enter(TestOutput? output) => Scope.Value = output;
}
