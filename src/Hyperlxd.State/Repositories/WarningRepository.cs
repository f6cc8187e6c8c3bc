using Hyperlxd.Core;
using Npgsql;
using NpgsqlTypes;

namespace Hyperlxd.State.Repositories;

/// <summary>A warning's row (LXD 5.0.2's shared/api/warning.go without the cluster location).</summary>
public sealed record WarningRecord(string Uuid, string Project, string EntityUrl, string Type, string Severity, string Status, int Count,
    DateTimeOffset FirstSeenAt, DateTimeOffset LastSeenAt, string LastMessage);

public sealed class WarningRepository(Database db)
{
    private const string Columns = "uuid, project, entity_url, type, severity, status, count, first_seen_at, last_seen_at, last_message";

    /// <summary>All warnings, or those of one project ("" = the server's own, as LXD lists them under no project).</summary>
    public Task<List<WarningRecord>> ListAsync(string? project, CancellationToken ct) =>
        db.RunAsync((conn, token) => ReadAllAsync(project is null
            ? conn.Command($"SELECT {Columns} FROM warnings ORDER BY first_seen_at, uuid", null)
            : conn.Command($"SELECT {Columns} FROM warnings WHERE project = $1 ORDER BY first_seen_at, uuid", null, project), token), ct);

    public async Task<WarningRecord> GetAsync(string uuid, CancellationToken ct) =>
        (await db.RunAsync((conn, token) => ReadAllAsync(conn.Command($"SELECT {Columns} FROM warnings WHERE uuid = $1", null, uuid), token), ct))
        .FirstOrDefault() ?? throw new NotFoundException("Warning not found");

    /// <summary>
    /// Raises a warning (LXD's UpsertWarning): a new row, or the existing one of the same type and entity
    /// with its count bumped, message replaced and a resolved status reopened as new.
    /// </summary>
    public Task<WarningRecord> UpsertAsync(string project, string entityUrl, string type, string severity, string message, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command(
                $"""
                INSERT INTO warnings (uuid, project, entity_url, type, severity, last_message) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (type, project, entity_url) DO UPDATE SET
                    count = warnings.count + 1, last_seen_at = now(), last_message = EXCLUDED.last_message, severity = EXCLUDED.severity,
                    status = CASE WHEN warnings.status = 'resolved' THEN 'new' ELSE warnings.status END
                RETURNING {Columns}
                """, null, Guid.NewGuid().ToString(), project, entityUrl, type, severity, message);
            return (await ReadAllAsync(cmd, token))[0];
        }, ct);

    public Task UpdateStatusAsync(string uuid, string status, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE warnings SET status = $2 WHERE uuid = $1", null, uuid, status);
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Warning not found");
        }, ct);

    public Task DeleteAsync(string uuid, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM warnings WHERE uuid = $1", null, uuid);
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Warning not found");
        }, ct);

    /// <summary>Marks warnings of <paramref name="type"/> not raised again since <paramref name="before"/> as resolved (their condition is gone).</summary>
    public Task ResolveOlderThanAsync(string type, DateTimeOffset before, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE warnings SET status = 'resolved' WHERE type = $1 AND last_seen_at < $2 AND status <> 'resolved'", null, type);
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = before.UtcDateTime });
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    private static async Task<List<WarningRecord>> ReadAllAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        await using (cmd)
        {
            await using var r = await cmd.ExecuteReaderAsync(ct);
            var list = new List<WarningRecord>();
            while (await r.ReadAsync(ct))
            {
                list.Add(new WarningRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetInt32(6),
                    r.GetFieldValue<DateTimeOffset>(7), r.GetFieldValue<DateTimeOffset>(8), r.GetString(9)));
            }
            return list;
        }
    }
}
