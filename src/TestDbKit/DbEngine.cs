namespace TestDbKit;

/// <summary>The database engines the kit can serve.</summary>
public enum DbEngine
{
    /// <summary>PostgreSQL (tested with 15).</summary>
    PostgreSql,

    /// <summary>MySQL 8.x or MariaDB 10.x/11.x, both spoken to through MySqlConnector.</summary>
    MySql,
}
