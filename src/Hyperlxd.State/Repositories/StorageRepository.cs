using Hyperlxd.Core;
using Npgsql;

namespace Hyperlxd.State.Repositories;

public sealed record PoolRecord(string Name, string Driver, string Description, Dictionary<string, string> Config);

public sealed record VolumeRecord(long Id, string Pool, string Name, string Type, string Description,
    Dictionary<string, string> Config, string ContentType, DateTimeOffset CreatedAt);

public sealed record VolumeSnapshotRecord(long Id, long VolumeId, string Name, string Description,
    Dictionary<string, string> Config, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt);

/// <summary>Storage pools, volumes and volume snapshots. Host-side work is the storage tier's; this only records it.</summary>
public sealed class StorageRepository(Database db)
{
    private const string PoolColumns = "name, driver, description, config::text";
    private const string VolumeColumns = "id, pool, name, type, description, config::text, content_type, created_at";
    private const string SnapshotColumns = "id, volume_id, name, description, config::text, created_at, expires_at";

    public Task<List<PoolRecord>> ListPoolsAsync(CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {PoolColumns} FROM storage_pools ORDER BY name", null);
            return await ReadAll(cmd, ReadPool, token);
        }, ct);

    public Task<PoolRecord> GetPoolAsync(string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {PoolColumns} FROM storage_pools WHERE name = $1", null, name);
            return (await ReadAll(cmd, ReadPool, token)).FirstOrDefault() ?? throw new NotFoundException("Storage pool not found");
        }, ct);

    public Task CreatePoolAsync(PoolRecord p, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("INSERT INTO storage_pools (name, driver, description, config) VALUES ($1, $2, $3, $4)", null, p.Name, p.Driver, p.Description);
            cmd.Parameters.Add(Json.Param(p.Config));
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Storage pool \"{p.Name}\" already exists");
            }
        }, ct);

    public Task UpdatePoolAsync(string name, string description, Dictionary<string, string> config, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE storage_pools SET description = $2, config = $3 WHERE name = $1", null, name, description);
            cmd.Parameters.Add(Json.Param(config));
            return await cmd.ExecuteNonQueryAsync(token) == 1 ? 1 : throw new NotFoundException("Storage pool not found");
        }, ct);

    /// <summary>Removes the pool and its remaining (image) volume rows.</summary>
    public Task DeletePoolAsync(string name, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using (var vols = conn.Command("DELETE FROM storage_volumes WHERE pool = $1", tx, name))
            {
                await vols.ExecuteNonQueryAsync(token);
            }
            await using var cmd = conn.Command("DELETE FROM storage_pools WHERE name = $1", tx, name);
            if (await cmd.ExecuteNonQueryAsync(token) != 1)
            {
                throw new NotFoundException("Storage pool not found");
            }
        }, ct);

    public Task<List<VolumeRecord>> ListVolumesAsync(string? pool, string? type, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command(
                $"SELECT {VolumeColumns} FROM storage_volumes WHERE ($1::text IS NULL OR pool = $1) AND ($2::text IS NULL OR type = $2) ORDER BY pool, type, name",
                null, (object?)pool ?? DBNull.Value, (object?)type ?? DBNull.Value);
            return await ReadAll(cmd, ReadVolume, token);
        }, ct);

    public Task<VolumeRecord?> FindVolumeAsync(string pool, string type, string name, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {VolumeColumns} FROM storage_volumes WHERE pool = $1 AND type = $2 AND name = $3", null, pool, type, name);
            return (await ReadAll(cmd, ReadVolume, token)).FirstOrDefault();
        }, ct);

    public async Task<VolumeRecord> GetVolumeAsync(string pool, string type, string name, CancellationToken ct) =>
        await FindVolumeAsync(pool, type, name, ct) ?? throw new NotFoundException("Storage volume not found");

    public Task<VolumeRecord> CreateVolumeAsync(string pool, string name, string type, string description, Dictionary<string, string> config, string contentType, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command(
                $"INSERT INTO storage_volumes (pool, name, type, description, config, content_type) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {VolumeColumns}",
                null, pool, name, type, description);
            cmd.Parameters.Add(Json.Param(config));
            cmd.Parameters.Add(new NpgsqlParameter { Value = contentType });
            try
            {
                return (await ReadAll(cmd, ReadVolume, token))[0];
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Volume by that name already exists");
            }
        }, ct);

    public Task UpdateVolumeAsync(long id, string description, Dictionary<string, string> config, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE storage_volumes SET description = $2, config = $3 WHERE id = $1", null, id, description);
            cmd.Parameters.Add(Json.Param(config));
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    public Task RenameVolumeAsync(long id, string newName, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE storage_volumes SET name = $2 WHERE id = $1", null, id, newName);
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Volume by that name already exists");
            }
        }, ct);

    public Task DeleteVolumeAsync(long id, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM storage_volumes WHERE id = $1", null, id);
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    public Task<List<VolumeSnapshotRecord>> ListSnapshotsAsync(long volumeId, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {SnapshotColumns} FROM storage_volume_snapshots WHERE volume_id = $1 ORDER BY created_at, id", null, volumeId);
            return await ReadAll(cmd, ReadSnapshot, token);
        }, ct);

    public async Task<VolumeSnapshotRecord> GetSnapshotAsync(long volumeId, string name, CancellationToken ct) =>
        (await ListSnapshotsAsync(volumeId, ct)).FirstOrDefault(s => s.Name == name) ?? throw new NotFoundException("Storage volume snapshot not found");

    public Task CreateSnapshotAsync(long volumeId, string name, string description, Dictionary<string, string> config, DateTimeOffset? expiresAt, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("INSERT INTO storage_volume_snapshots (volume_id, name, description, config, expires_at) VALUES ($1, $2, $3, $4, $5)",
                null, volumeId, name, description);
            cmd.Parameters.Add(Json.Param(config));
            cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)expiresAt ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Snapshot \"{name}\" already exists");
            }
        }, ct);

    public Task UpdateSnapshotAsync(long id, string description, DateTimeOffset? expiresAt, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE storage_volume_snapshots SET description = $2, expires_at = $3 WHERE id = $1", null, id, description,
                (object?)expiresAt ?? DBNull.Value);
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    public Task RenameSnapshotAsync(long id, string newName, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("UPDATE storage_volume_snapshots SET name = $2 WHERE id = $1", null, id, newName);
            try
            {
                return await cmd.ExecuteNonQueryAsync(token);
            }
            catch (PostgresException e) when (e.IsUniqueViolation())
            {
                throw new ConflictException($"Snapshot \"{newName}\" already exists");
            }
        }, ct);

    public Task DeleteSnapshotAsync(long id, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command("DELETE FROM storage_volume_snapshots WHERE id = $1", null, id);
            return await cmd.ExecuteNonQueryAsync(token);
        }, ct);

    /// <summary>Volume snapshots whose expiry is at or before <paramref name="now"/>, of every volume.</summary>
    public Task<List<VolumeSnapshotRecord>> ListExpiredSnapshotsAsync(DateTimeOffset now, CancellationToken ct) =>
        db.RunAsync(async (conn, token) =>
        {
            await using var cmd = conn.Command($"SELECT {SnapshotColumns} FROM storage_volume_snapshots WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at, id", null);
            cmd.Parameters.Add(new NpgsqlParameter { Value = now.UtcDateTime, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
            return await ReadAll(cmd, ReadSnapshot, token);
        }, ct);

    private static async Task<List<T>> ReadAll<T>(NpgsqlCommand cmd, Func<NpgsqlDataReader, T> read, CancellationToken ct)
    {
        var list = new List<T>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(read(r));
        }
        return list;
    }

    private static PoolRecord ReadPool(NpgsqlDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), Json.Map(r.GetString(3)));

    private static VolumeRecord ReadVolume(NpgsqlDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), Json.Map(r.GetString(5)), r.GetString(6), r.GetFieldValue<DateTimeOffset>(7));

    private static VolumeSnapshotRecord ReadSnapshot(NpgsqlDataReader r) =>
        new(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetString(3), Json.Map(r.GetString(4)), r.GetFieldValue<DateTimeOffset>(5),
            r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6));
}
