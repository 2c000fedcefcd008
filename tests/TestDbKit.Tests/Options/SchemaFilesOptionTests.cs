using TestDbKit.Options;

namespace TestDbKit.Tests.Options;

/// <summary><c>SchemaFiles</c> set on the base classes' options reaches their pool, and keeps two classes that name
/// different files in pools of their own (each pool's template is hashed with its own files).</summary>
public sealed class SchemaFilesOptionTests
{
    [Fact]
    public void The_base_classes_SchemaFiles_reach_the_pool_and_its_key()
    {
        var named = new TestDbOptions(DbEngine.PostgreSql) { SchemaFiles = ["sql/b.sql", "sql/a.sql"] };
        var reordered = new TestDbOptions(DbEngine.PostgreSql) { SchemaFiles = ["sql/a.sql", "sql/b.sql"] };
        var none = new TestDbOptions(DbEngine.PostgreSql);

        Assert.Equal(named.SchemaFiles, named.ToPoolOptions().SchemaFiles);
        Assert.Equal(PoolKey.Of(named.ToPoolOptions(), IsolationMode.Reset), PoolKey.Of(reordered.ToPoolOptions(), IsolationMode.Reset));
        Assert.NotEqual(PoolKey.Of(named.ToPoolOptions(), IsolationMode.Reset), PoolKey.Of(none.ToPoolOptions(), IsolationMode.Reset));
    }
}
