using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hyperlxd.State;

/// <summary>
/// Numbered, append-only schema changes. Never edit a shipped step: add the next number. They run
/// at start under an advisory lock, so several daemons sharing one external server cannot race.
/// </summary>
public static class Migrations
{
    private const long LockKey = 0x4879_7065_726c_7864; // "Hyperlxd"

    private static readonly (int Version, string Sql)[] Steps =
    {
        (1, """
            CREATE TABLE config (
                key   text PRIMARY KEY,
                value text NOT NULL
            );
            CREATE TABLE profiles (
                name        text PRIMARY KEY,
                description text  NOT NULL DEFAULT '',
                config      jsonb NOT NULL DEFAULT '{}',
                devices     jsonb NOT NULL DEFAULT '{}'
            );
            INSERT INTO profiles (name, description) VALUES ('default', 'Default LXD profile');
            CREATE TABLE certificates (
                fingerprint text PRIMARY KEY,
                name        text    NOT NULL,
                type        text    NOT NULL,
                restricted  boolean NOT NULL DEFAULT false,
                projects    jsonb   NOT NULL DEFAULT '[]',
                certificate text    NOT NULL
            );
            """),
    };

    public static int Latest => Steps[^1].Version;

    public static Task ApplyAsync(Database db, ILogger logger, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using (var lk = conn.Command("SELECT pg_advisory_xact_lock($1)", tx, LockKey))
            {
                await lk.ExecuteNonQueryAsync(token);
            }
            await using (var create = conn.Command(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", tx))
            {
                await create.ExecuteNonQueryAsync(token);
            }
            int current;
            await using (var q = conn.Command("SELECT coalesce(max(version), 0) FROM schema_migrations", tx))
            {
                current = (int)(await q.ExecuteScalarAsync(token))!;
            }
            if (current > Latest)
            {
                throw new InvalidOperationException($"The database schema (version {current}) is newer than this daemon knows ({Latest})");
            }
            foreach (var (version, sql) in Steps.Where(s => s.Version > current))
            {
                logger.LogInformation("Applying schema migration {Version}", version);
                await using (var step = conn.Command(sql, tx))
                {
                    await step.ExecuteNonQueryAsync(token);
                }
                await using var mark = conn.Command("INSERT INTO schema_migrations (version) VALUES ($1)", tx, version);
                await mark.ExecuteNonQueryAsync(token);
            }
        }, ct);
}
