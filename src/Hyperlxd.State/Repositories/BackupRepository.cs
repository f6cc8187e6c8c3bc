using Hyperlxd.Core;
using Npgsql;
using NpgsqlTypes;

namespace Hyperlxd.State.Repositories;

/// <summary>A backup's row (of an instance, or of a custom volume); its tarball is a file the layer above owns.</summary>
public sealed class BackupRecord
{
    /// <summary>What was backed up: the instance's name, or the custom volume's id (as text).</summary>
    public string Instance { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    /// <summary><c>instance_only</c>, or a volume backup's <c>volume_only</c>: no snapshots in it.</summary>
    public bool InstanceOnly { get; set; }
    public bool OptimizedStorage { get; set; }
    public string Compression { get; set; } = "";
}

/// <summary>Where one kind of backup is kept: its table, the column naming its owner and that column's SQL type.</summary>
public sealed record BackupTable(string Table, string Owner, string OwnerType, string OnlyColumn)
{
    public static readonly BackupTable Instances = new("instance_backups", "instance", "text", "instance_only");
    public static readonly BackupTable Volumes = new("storage_volume_backups", "volume_id", "bigint", "volume_only");
}

public sealed class BackupRepository(Database db, BackupTable table)
{
    private readonly string _columns = $"{table.Owner}::text, name, created_at, expires_at, {table.OnlyColumn}, optimized_storage, compression";
    private readonly string _table = table.Table;
    private readonly string _owner = $"{table.Owner} = $1::{table.OwnerType}";

    public Task<List<BackupRecord>> ListAsync(string instance, CancellationToken ct) =>
        db.RunAsync((conn, token) => ReadAllAsync(conn.Command($"SELECT {_columns} FROM {_table} WHERE {_owner} ORDER BY created_at, name", null, instance), token), ct);

    /// <summary>Backups whose expiry has passed, of every instance.</summary>
    public Task<List<BackupRecord>> ListExpiredAsync(DateTimeOffset now, CancellationToken ct) =>
        db.RunAsync((conn, token) =>
        {
            var cmd = conn.Command($"SELECT {_columns} FROM {_table} WHERE expires_at IS NOT NULL AND expires_at <= $1", null);
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = now.UtcDateTime });
            return ReadAllAsync(cmd, token);
        }, ct);

    public async Task<BackupRecord> GetAsync(string instance, string name, CancellationToken ct) =>
        (await db.RunAsync((conn, token) => ReadAllAsync(conn.Command($"SELECT {_columns} FROM {_table} WHERE {_owner} AND name = $2", null, instance, name), token), ct))
        .FirstOrDefault() ?? throw new NotFoundException("Backup not found");

    public Task CreateAsync(BackupRecord b, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command(
                $"INSERT INTO {_table} ({table.Owner}, name, expires_at, {table.OnlyColumn}, optimized_storage, compression) VALUES ($1::{table.OwnerType}, $2, $3, $4, $5, $6)", null, b.Instance, b.Name);
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = (object?)b.ExpiresAt?.UtcDateTime ?? DBNull.Value });
            cmd.Parameters.Add(new NpgsqlParameter { Value = b.InstanceOnly });
            cmd.Parameters.Add(new NpgsqlParameter { Value = b.OptimizedStorage });
            cmd.Parameters.Add(new NpgsqlParameter { Value = b.Compression });
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Backup \"{b.Name}\" already exists");
            }
        }, ct);

    public Task RenameAsync(string instance, string name, string newName, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"UPDATE {_table} SET name = $3 WHERE {_owner} AND name = $2", null, instance, name, newName);
            try
            {
                return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Backup not found");
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Backup \"{newName}\" already exists");
            }
        }, ct);

    public Task DeleteAsync(string instance, string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"DELETE FROM {_table} WHERE {_owner} AND name = $2", null, instance, name);
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    private static async Task<List<BackupRecord>> ReadAllAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        await using (cmd)
        {
            var list = new List<BackupRecord>();
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                list.Add(new BackupRecord
                {
                    Instance = r.GetString(0),
                    Name = r.GetString(1),
                    CreatedAt = r.GetFieldValue<DateTimeOffset>(2),
                    ExpiresAt = r.IsDBNull(3) ? null : r.GetFieldValue<DateTimeOffset>(3),
                    InstanceOnly = r.GetBoolean(4),
                    OptimizedStorage = r.GetBoolean(5),
                    Compression = r.GetString(6),
                });
            }
            return list;
        }
    }
}
