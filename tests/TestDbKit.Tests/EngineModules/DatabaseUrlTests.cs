using TestDbKit.Engines;

namespace TestDbKit.Tests.EngineModules;

/// <summary>The one URL codec: what <c>serve --json</c> writes, <c>--connection</c> reads back to the same server,
/// user, password and database, for every engine and both of its schemes; and a malformed URL's message never holds
/// the password.</summary>
public sealed class DatabaseUrlTests
{
    public static TheoryData<string> Keys => [.. EngineRegistry.Keys];

    [Theory]
    [MemberData(nameof(Keys))]
    public void A_composed_url_parses_back_to_the_same_parts_with_awkward_characters_encoded(string key)
    {
        var engine = EngineRegistry.FromKey(key).Engine;
        foreach (var sqlAlchemy in new[] { false, true })
        {
            var url = DatabaseUrl.Compose(engine, sqlAlchemy, "::1", 6543, "a@b:c", "p@ss:w/rd%+ é", "tdk_x y");
            Assert.StartsWith((sqlAlchemy ? EngineClients.For(engine).SqlAlchemyScheme : EngineClients.For(engine).UrlScheme) + "://", url, StringComparison.Ordinal);
            Assert.DoesNotContain("p@ss", url, StringComparison.Ordinal); // encoded, or a parser would split there

            var parsed = DatabaseUrl.Parse(url);
            Assert.Equal((engine, "::1", 6543, "a@b:c", "p@ss:w/rd%+ é", "tdk_x y"), (parsed.Engine, parsed.Host, parsed.Port, parsed.User, parsed.Password, parsed.Database));
            var dialect = EngineDialect.For(engine);
            var cs = parsed.ConnectionString("testdbkit");
            Assert.Equal(new Endpoint("::1", 6543, "a@b:c", "tdk_x y"), dialect.Parse(cs));
            Assert.Equal("p@ss:w/rd%+ é", dialect.PasswordOf(cs));
        }
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void Every_scheme_of_an_engine_names_it_and_a_url_without_port_takes_its_default(string key)
    {
        var clients = EngineClients.For(EngineRegistry.FromKey(key).Engine);
        Assert.All(clients.Schemes, scheme =>
        {
            var parsed = DatabaseUrl.Parse($"{scheme.ToUpperInvariant()}+somedriver://u@localhost/db?a=1&b=x%20y");
            Assert.Equal((clients.Engine, clients.DefaultPort, (string?)null), (parsed.Engine, parsed.Port, parsed.Password));
            Assert.Equal([new("a", "1"), new("b", "x y")], parsed.Settings);
        });
        Assert.Same(clients, EngineClients.ForName(key.ToUpperInvariant()));
        Assert.All(clients.Schemes, scheme => Assert.Same(clients, EngineClients.ForName(scheme)));
    }

    [Theory]
    [InlineData("postgresql://u:sekrit-77@127.0.0.1:notaport/x", "malformed")]
    [InlineData("mysql://u:sekrit-77@/x", "malformed")]
    [InlineData("oracle://u:sekrit-77@127.0.0.1:1521/x", "none the kit knows")]
    [InlineData("postgresql://:sekrit-77@127.0.0.1/x", "no user")]
    [InlineData("postgresql://u:sekrit-77@127.0.0.1/x/y", "one database name")]
    [InlineData("postgresql://u:sekrit-77@127.0.0.1/x?password", "not name=value")]
    public void A_malformed_url_says_what_is_wrong_and_never_holds_the_password(string url, string says)
    {
        var e = Assert.Throws<FormatException>(() => DatabaseUrl.Parse(url));
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sekrit-77", e.Message, StringComparison.Ordinal);
    }
}
