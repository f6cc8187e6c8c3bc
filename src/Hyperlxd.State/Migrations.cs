using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.State;

/// <summary>
/// Numbered, append-only schema changes: <c>Schema/NNNN_name.sql</c>, embedded in this assembly.
/// Never edit a shipped step: add the next number. They run at start under an advisory lock, so
/// several daemons sharing one external server cannot race.
/// </summary>
public static class Migrations
{
    private const long LockKey = 0x4879_7065_726c_7864; // "Hyperlxd"

    private static readonly (int Version, string Sql)[] Steps = Load();

    public static int Latest => Steps[^1].Version;

    private static (int, string)[] Load()
    {
        var asm = typeof(Migrations).Assembly;
        var steps = asm.GetManifestResourceNames()
            .Where(n => n.StartsWith("Schema/", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n => (Version: int.Parse(n["Schema/".Length..].Split('_')[0]), Sql: Read(asm, n)))
            .OrderBy(s => s.Version)
            .ToArray();
        for (var i = 0; i < steps.Length; i++)
        {
            if (steps[i].Version != i + 1)
            {
                throw new InvalidOperationException($"Schema steps must be numbered 1..N without gaps; found {steps[i].Version} at position {i + 1}");
            }
        }
        return steps;
    }

    private static string Read(Assembly asm, string name)
    {
        using var reader = new StreamReader(asm.GetManifestResourceStream(name)!);
        return reader.ReadToEnd();
    }

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
