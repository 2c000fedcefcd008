namespace TestDbKit;

/// <summary>How a test's database is kept apart from the tests before and beside it.</summary>
public enum IsolationMode
{
    /// <summary>The test may commit on any number of connections; afterwards the kit empties just the
    /// tables it wrote to (and restarts their sequences). The default.</summary>
    Reset,

    /// <summary>Each connection from <see cref="TestDatabase.OpenConnectionAsync"/> runs inside a transaction
    /// that is rolled back at the end. Fastest; one connection sees only its own writes, and the test must
    /// not commit. A reset still runs afterwards in case something was committed anyway.</summary>
    Transaction,

    /// <summary>A fresh database per test, copied from the template (PostgreSQL) or rebuilt from the
    /// schema (MySQL), and dropped afterwards: for tests that change the schema.</summary>
    Clone,
}
